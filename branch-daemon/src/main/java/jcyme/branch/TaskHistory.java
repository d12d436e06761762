package jcyme.branch;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import jcyme.api.TaskDetail;
import jcyme.api.TaskInfo;
import jcyme.api.TaskPage;
import jcyme.tasks.Json;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code <data-dir>/tasks.db}: one row per task id, updated as the Celery events of its apps'
 * workers arrive (so it survives a branch restart), kept apart from {@code branch.db} so that a
 * stream of events never contends with desired state. Events are written by one thread in
 * batches; the history is bounded by count and age, pruned in the background.
 */
public final class TaskHistory implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(TaskHistory.class);
    /** How many tasks the history keeps by default, newest first; older ones are pruned. */
    public static final int DEFAULT_MAX_TASKS = 100_000;
    /** How long the history keeps a task by default, from its first event. */
    public static final Duration DEFAULT_MAX_AGE = Duration.ofDays(7);
    /** System properties that override them ({@code bin/branch --task-history-max N}, {@code --task-history-age DAYS}). */
    public static final String MAX_TASKS_PROPERTY = "jcyme.taskHistory.max";
    public static final String MAX_AGE_PROPERTY = "jcyme.taskHistory.ageSeconds";
    /** The most tasks one listing returns; {@code limit} defaults to {@link #DEFAULT_LIMIT}. */
    public static final int MAX_LIMIT = 1000;
    public static final int DEFAULT_LIMIT = 100;
    /** The most Celery events kept per task (a task retried without end keeps its latest). */
    static final int MAX_EVENTS_PER_TASK = 50;
    static final Duration PRUNE_EVERY = Duration.ofMinutes(1);
    private static final int QUEUE_CAPACITY = 10_000;
    private static final int BATCH = 1000;
    private static final String COLUMNS = "id, app, name, state, worker, instance, args, kwargs, result, exception, traceback,"
            + " received, started, finished, runtime, retries, seen, events";
    /**
     * A task's row, updated in place: its rowid stays the order in which tasks were first seen, which
     * breaks ties of {@code seen} (a millisecond holds many tasks) so that newest first is exact.
     */
    private static final String UPSERT = "INSERT INTO tasks (" + COLUMNS + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            + " ON CONFLICT(id) DO UPDATE SET " + java.util.Arrays.stream(COLUMNS.split(",\\s*")).filter(c -> !c.equals("id"))
                    .map(c -> c + " = excluded." + c).collect(java.util.stream.Collectors.joining(", "));

    /** How much the history keeps. */
    public record Settings(int maxTasks, Duration maxAge) {
        /** The defaults, or what {@value #MAX_TASKS_PROPERTY} and {@value #MAX_AGE_PROPERTY} say. */
        public static Settings fromSystemProperties() {
            Integer max = Integer.getInteger(MAX_TASKS_PROPERTY);
            Long age = Long.getLong(MAX_AGE_PROPERTY);
            return new Settings(max == null || max < 0 ? DEFAULT_MAX_TASKS : max,
                    age == null || age < 0 ? DEFAULT_MAX_AGE : Duration.ofSeconds(age));
        }
    }

    /** A Celery task event, attributed to the app and instance whose worker sent it (either may be null). */
    record Event(String app, String instance, ObjectNode fields) {}

    private final Settings settings;
    private final Connection writer;
    private final Connection reader;
    private final BlockingQueue<Event> pending = new ArrayBlockingQueue<>(QUEUE_CAPACITY);
    private final Thread writerThread;
    private final ScheduledExecutorService pruner = Executors.newSingleThreadScheduledExecutor(DaemonThreads.named("task-history-prune"));
    private volatile boolean closed;

    private TaskHistory(Settings settings, Connection writer, Connection reader) {
        this.settings = settings;
        this.writer = writer;
        this.reader = reader;
        this.writerThread = new Thread(this::writeLoop, "task-history");
        this.writerThread.setDaemon(true);
    }

    /** Opens (or creates) the history, prunes it once, and starts writing and pruning in the background. */
    public static TaskHistory open(Path file, Settings settings) throws SQLException {
        TaskHistory history = openQuiet(file, settings);
        history.writerThread.start();
        long every = PRUNE_EVERY.toMillis();
        history.pruner.scheduleWithFixedDelay(history::pruneLogged, 0, every, TimeUnit.MILLISECONDS);
        return history;
    }

    /** Opens the history without background threads: events go in through {@link #record}, pruning through {@link #prune}. */
    static TaskHistory openQuiet(Path file, Settings settings) throws SQLException {
        Connection writer = SqliteFile.open(file);
        try (Statement s = writer.createStatement()) {
            s.execute("PRAGMA synchronous=NORMAL");
            s.execute("CREATE TABLE IF NOT EXISTS tasks (id TEXT PRIMARY KEY, app TEXT, name TEXT, state TEXT NOT NULL,"
                    + " worker TEXT, instance TEXT, args TEXT, kwargs TEXT, result TEXT, exception TEXT, traceback TEXT,"
                    + " received REAL, started REAL, finished REAL, runtime REAL, retries INTEGER NOT NULL DEFAULT 0,"
                    + " seen REAL NOT NULL, events TEXT NOT NULL)");
            s.execute("CREATE INDEX IF NOT EXISTS tasks_app_seen ON tasks (app, seen)");
            s.execute("CREATE INDEX IF NOT EXISTS tasks_seen ON tasks (seen)");
        } catch (SQLException e) {
            writer.close();
            throw e;
        }
        Connection reader;
        try {
            reader = SqliteFile.open(file);
        } catch (SQLException e) {
            writer.close();
            throw e;
        }
        return new TaskHistory(settings, writer, reader);
    }

    public Settings settings() {
        return settings;
    }

    // ---- writing ------------------------------------------------------------------------------

    /** Queues an event for the writer; waits while the writer is a full queue behind (the broker holds the rest). */
    void offer(Event event) throws InterruptedException {
        if (!closed) {
            pending.put(event);
        }
    }

    private void writeLoop() {
        List<Event> batch = new ArrayList<>(BATCH);
        while (!closed) {
            try {
                batch.add(pending.take());
                pending.drainTo(batch, BATCH - 1);
                record(batch);
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException e) {
                log.warn("task history: {} event(s) not written: {}", batch.size(), Checks.firstLine(String.valueOf(e.getMessage())));
            }
            batch.clear();
        }
    }

    /** Applies events to their tasks' rows, in one transaction. */
    synchronized void record(List<Event> events) {
        Map<String, Row> rows = new LinkedHashMap<>();
        try {
            for (Event event : events) {
                String id = event.fields().path("uuid").asText("");
                if (id.isEmpty() || !event.fields().path("type").asText("").startsWith("task-")) {
                    continue;
                }
                Row row = rows.computeIfAbsent(id, this::load);
                row.apply(event);
            }
            writer.setAutoCommit(false);
            try (PreparedStatement put = writer.prepareStatement(UPSERT)) {
                for (Row row : rows.values()) {
                    row.bind(put);
                    put.addBatch();
                }
                put.executeBatch();
            }
            writer.commit();
        } catch (SQLException e) {
            try {
                writer.rollback();
            } catch (SQLException ignored) {
                // the connection is gone; the next batch reports it
            }
            throw new IllegalStateException("tasks.db: " + e.getMessage(), e);
        } finally {
            try {
                writer.setAutoCommit(true);
            } catch (SQLException ignored) {
                // as above
            }
        }
    }

    private Row load(String id) {
        try (PreparedStatement s = writer.prepareStatement("SELECT " + COLUMNS + " FROM tasks WHERE id = ?")) {
            s.setString(1, id);
            try (ResultSet rs = s.executeQuery()) {
                return rs.next() ? Row.read(rs) : new Row(id);
            }
        } catch (SQLException e) {
            throw new IllegalStateException("tasks.db: " + e.getMessage(), e);
        }
    }

    /**
     * Drops tasks first seen before {@code now} minus the age bound, then all but the newest
     * {@code maxTasks}; returns how many went.
     */
    synchronized int prune(Instant now) {
        double oldest = now.minus(settings.maxAge()).toEpochMilli() / 1000.0;
        try (PreparedStatement old = writer.prepareStatement("DELETE FROM tasks WHERE seen < ?");
             PreparedStatement many = writer.prepareStatement("DELETE FROM tasks WHERE id IN"
                     + " (SELECT id FROM tasks ORDER BY seen DESC, rowid DESC LIMIT -1 OFFSET ?)")) {
            old.setDouble(1, oldest);
            int gone = old.executeUpdate();
            many.setInt(1, settings.maxTasks());
            return gone + many.executeUpdate();
        } catch (SQLException e) {
            throw new IllegalStateException("tasks.db: " + e.getMessage(), e);
        }
    }

    private void pruneLogged() {
        try {
            int gone = prune(Instant.now());
            if (gone > 0) {
                log.info("task history: pruned {} task(s) (keeping at most {} tasks, {} days)", gone, settings.maxTasks(),
                        settings.maxAge().toHours() / 24.0);
            }
        } catch (RuntimeException e) {
            log.warn("task history: pruning failed: {}", Checks.firstLine(String.valueOf(e.getMessage())));
        }
    }

    // ---- reading ------------------------------------------------------------------------------

    /**
     * The app's tasks matching every given filter, newest first. {@code state} and {@code name} are
     * exact, {@code worker} a node name or an instance name; {@code query} a {@link TaskQuery}.
     */
    public TaskPage list(String app, String state, String name, String worker, TaskQuery query, int limit) {
        StringBuilder where = new StringBuilder("app = ?");
        List<Object> params = new ArrayList<>(List.of(app));
        if (state != null) {
            where.append(" AND state = ?");
            params.add(state);
        }
        if (name != null) {
            where.append(" AND name = ?");
            params.add(name);
        }
        if (worker != null) {
            where.append(" AND (worker = ? OR instance = ?)");
            params.add(worker);
            params.add(worker);
        }
        query.appendTo(where, params);
        synchronized (reader) {
            try {
                long total;
                try (PreparedStatement s = prepare("SELECT count(*) FROM tasks WHERE " + where, params);
                     ResultSet rs = s.executeQuery()) {
                    total = rs.next() ? rs.getLong(1) : 0;
                }
                List<Object> paged = new ArrayList<>(params);
                paged.add(limit);
                List<TaskInfo> tasks = new ArrayList<>();
                try (PreparedStatement s = prepare("SELECT " + COLUMNS + " FROM tasks WHERE " + where
                        + " ORDER BY seen DESC, rowid DESC LIMIT ?", paged); ResultSet rs = s.executeQuery()) {
                    while (rs.next()) {
                        tasks.add(Row.read(rs).info());
                    }
                }
                return new TaskPage(tasks, total);
            } catch (SQLException e) {
                throw new IllegalStateException("tasks.db: " + e.getMessage(), e);
            }
        }
    }

    /** One of the app's tasks, with its traceback and events. */
    public Optional<TaskDetail> get(String app, String id) {
        synchronized (reader) {
            try (PreparedStatement s = prepare("SELECT " + COLUMNS + " FROM tasks WHERE app = ? AND id = ?", List.of(app, id));
                 ResultSet rs = s.executeQuery()) {
                return rs.next() ? Optional.of(Row.read(rs).detail()) : Optional.empty();
            } catch (SQLException e) {
                throw new IllegalStateException("tasks.db: " + e.getMessage(), e);
            }
        }
    }

    private PreparedStatement prepare(String sql, List<Object> params) throws SQLException {
        PreparedStatement s = reader.prepareStatement(sql);
        for (int i = 0; i < params.size(); i++) {
            s.setObject(i + 1, params.get(i));
        }
        return s;
    }

    @Override
    public void close() {
        closed = true;
        pruner.shutdownNow();
        writerThread.interrupt();
        try {
            writerThread.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        synchronized (this) {
            synchronized (reader) {
                try {
                    reader.close();
                    writer.close();
                } catch (SQLException e) {
                    log.warn("closing tasks.db: {}", e.getMessage());
                }
            }
        }
    }

    // ---- one task -----------------------------------------------------------------------------

    /** A task's row while events are applied to it. */
    private static final class Row {
        final String id;
        String app;
        String name;
        String state = "PENDING";
        String worker;
        String instance;
        String args;
        String kwargs;
        String result;
        String exception;
        String traceback;
        Double received;
        Double started;
        Double finished;
        Double runtime;
        int retries;
        double seen;
        ArrayNode events = JsonNodeFactory.instance.arrayNode();

        Row(String id) {
            this.id = id;
        }

        static Row read(ResultSet rs) throws SQLException {
            Row row = new Row(rs.getString("id"));
            row.app = rs.getString("app");
            row.name = rs.getString("name");
            row.state = rs.getString("state");
            row.worker = rs.getString("worker");
            row.instance = rs.getString("instance");
            row.args = rs.getString("args");
            row.kwargs = rs.getString("kwargs");
            row.result = rs.getString("result");
            row.exception = rs.getString("exception");
            row.traceback = rs.getString("traceback");
            row.received = real(rs, "received");
            row.started = real(rs, "started");
            row.finished = real(rs, "finished");
            row.runtime = real(rs, "runtime");
            row.retries = rs.getInt("retries");
            row.seen = rs.getDouble("seen");
            try {
                row.events = (ArrayNode) Json.MAPPER.readTree(rs.getString("events"));
            } catch (IOException | ClassCastException e) {
                row.events = JsonNodeFactory.instance.arrayNode();
            }
            return row;
        }

        /**
         * Merges one event. An event of a state that comes before the task's current one (a late
         * task-received after task-succeeded) only fills in what is missing; otherwise its state
         * and fields win. A retry is a new beginning: anything may follow it, and it may follow anything.
         */
        void apply(Event event) {
            ObjectNode f = event.fields();
            String type = f.path("type").asText();
            double ts = f.path("timestamp").asDouble(System.currentTimeMillis() / 1000.0);
            String next = stateOf(type);
            boolean late = next == null
                    || (!next.equals("RETRY") && !state.equals("RETRY") && rank(next) < rank(state));
            if (events.isEmpty()) {
                seen = ts;
            }
            seen = Math.min(seen, ts);
            if (app == null) app = event.app();
            if (name == null) name = text(f, "name");
            if (type.equals("task-received")) {
                if (args == null || !late) args = text(f, "args");
                if (kwargs == null || !late) kwargs = text(f, "kwargs");
                if (received == null) received = ts;
                retries = Math.max(retries, f.path("retries").asInt(0));
            }
            if (!late || worker == null) {
                worker = text(f, "hostname");
                instance = event.instance();
                if (event.app() != null) app = event.app();
            }
            if (!late) {
                state = next;
                switch (type) {
                    case "task-started" -> started = ts;
                    case "task-succeeded" -> {
                        result = text(f, "result");
                        runtime = f.hasNonNull("runtime") ? f.path("runtime").asDouble() : null;
                        exception = null;
                        traceback = null;
                        finished = ts;
                    }
                    case "task-failed", "task-retried" -> {
                        exception = text(f, "exception");
                        traceback = text(f, "traceback");
                        if (type.equals("task-failed")) {
                            finished = ts;
                            // Celery's task-failed carries no runtime: the time from its start will do
                            runtime = started == null ? null : Math.max(0, ts - started);
                        }
                    }
                    case "task-revoked", "task-rejected" -> finished = ts;
                    default -> { }
                }
            }
            if (!contains(events, f)) {
                events.add(f);
                while (events.size() > MAX_EVENTS_PER_TASK) {
                    events.remove(0);
                }
            }
        }

        private static boolean contains(ArrayNode list, JsonNode item) {
            for (JsonNode each : list) {
                if (each.equals(item)) return true;
            }
            return false;
        }

        void bind(PreparedStatement s) throws SQLException {
            Object[] values = {id, app, name, state, worker, instance, args, kwargs, result, exception, traceback,
                    received, started, finished, runtime, retries, seen, events.toString()};
            for (int i = 0; i < values.length; i++) {
                if (values[i] == null) {
                    s.setNull(i + 1, Types.NULL);
                } else {
                    s.setObject(i + 1, values[i]);
                }
            }
        }

        TaskInfo info() {
            return new TaskInfo(id, name, state, worker, instance, iso(received), iso(started), iso(finished), runtime,
                    retries, args, kwargs, result, exception);
        }

        TaskDetail detail() {
            List<Map<String, Object>> list = Json.MAPPER.convertValue(events, new TypeReference<>() {});
            return new TaskDetail(id, name, state, worker, instance, iso(received), iso(started), iso(finished), runtime,
                    retries, args, kwargs, result, exception, traceback, list);
        }

        private static String stateOf(String type) {
            return switch (type) {
                case "task-sent" -> "PENDING";
                case "task-received" -> "RECEIVED";
                case "task-started" -> "STARTED";
                case "task-succeeded" -> "SUCCESS";
                case "task-failed" -> "FAILURE";
                case "task-retried" -> "RETRY";
                case "task-revoked" -> "REVOKED";
                case "task-rejected" -> "REJECTED";
                default -> null;
            };
        }

        private static int rank(String state) {
            return switch (state) {
                case "PENDING" -> 0;
                case "RECEIVED" -> 1;
                case "STARTED", "RETRY" -> 2;
                default -> 3;
            };
        }

        private static String text(JsonNode fields, String name) {
            JsonNode value = fields.get(name);
            return value == null || value.isNull() ? null : value.isTextual() ? value.textValue() : value.toString();
        }

        private static Double real(ResultSet rs, String column) throws SQLException {
            double value = rs.getDouble(column);
            return rs.wasNull() ? null : value;
        }

        private static String iso(Double epochSeconds) {
            return epochSeconds == null ? null : Instant.ofEpochMilli(Math.round(epochSeconds * 1000)).toString();
        }
    }
}
