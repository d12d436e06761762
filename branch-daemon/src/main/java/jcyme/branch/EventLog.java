package jcyme.branch;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import jcyme.tasks.Json;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The branch's event log: {@link #record} keeps an event and streams it to subscribers;
 * {@link #stream} only streams (task events, which the task history keeps).
 *
 * <p>Kept events live in {@code <data-dir>/events.db}, a SQLite file of their own (not a table of
 * {@code branch.db}): the log is written far more often than desired state, its pruning must not
 * hold the store's lock that every request and reconciler pass takes, and a damaged log is moved
 * aside and started afresh instead of stopping the branch. A writer thread stores events in
 * batches, so {@link #record} never waits for the disk; it keeps at most {@link Bounds#maxEvents}
 * events, none older than {@link Bounds#maxAge}. Sequence numbers continue across restarts, also
 * after every event was pruned.
 *
 * <p>Every subscriber has a queue of its own of {@value #SUBSCRIBER_BACKLOG} events: a slow one
 * never slows the recorder; one that falls that far behind is dropped, with a log line.
 */
public final class EventLog implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(EventLog.class);
    /** How many events a subscriber may fall behind by before it is dropped. */
    public static final int SUBSCRIBER_BACKLOG = 10_000;
    /** The most events one {@link #since} call returns. */
    public static final int MAX_PAGE = 10_000;
    /** Without new events, the age bound is still applied this often. */
    private static final long IDLE_PRUNE_MILLIS = Duration.ofMinutes(1).toMillis();
    private static final TypeReference<Map<String, Object>> FIELDS = new TypeReference<>() {};
    /** Reads fields back as they were recorded: small integers as Integer, not BigInteger as {@link Json#MAPPER} reads them. */
    private static final ObjectMapper READER = new ObjectMapper();
    /** Put in a dropped subscriber's queue to wake a waiting {@link Subscription#next}. */
    private static final BranchEvent DROPPED = new BranchEvent(-1, Instant.EPOCH, "dropped", "", Map.of());

    /**
     * How much the log keeps: the oldest events beyond either bound are deleted.
     *
     * @param maxEvents  the most events kept (branch option {@code --events-max}, default {@value #DEFAULT_MAX_EVENTS})
     * @param maxAge     the oldest event kept (branch option {@code --events-max-age}, default 7 days)
     */
    public record Bounds(long maxEvents, Duration maxAge) {
        public static final long DEFAULT_MAX_EVENTS = 100_000;
        public static final Duration DEFAULT_MAX_AGE = Duration.ofDays(7);
        /** System properties that override the defaults (what {@code bin/branch --events-max} and {@code --events-max-age} set). */
        public static final String MAX_EVENTS_PROPERTY = "jcyme.events.max";
        public static final String MAX_AGE_PROPERTY = "jcyme.events.maxAge";

        public Bounds {
            if (maxEvents < 1) {
                throw new IllegalArgumentException("--events-max must be 1 or more, got " + maxEvents);
            }
            if (maxAge.isNegative() || maxAge.isZero()) {
                throw new IllegalArgumentException("--events-max-age must be more than 0, got " + maxAge);
            }
        }

        /** The bounds the system properties set, else the defaults. */
        public static Bounds fromProperties() {
            String events = System.getProperty(MAX_EVENTS_PROPERTY);
            String age = System.getProperty(MAX_AGE_PROPERTY);
            return new Bounds(events == null ? DEFAULT_MAX_EVENTS : Long.parseLong(events),
                    age == null ? DEFAULT_MAX_AGE : parseAge(age));
        }

        /** {@code 7d}, {@code 12h}, {@code 30m}, {@code 90s} or a number of seconds. */
        public static Duration parseAge(String text) {
            String value = text.trim();
            char unit = value.isEmpty() ? ' ' : value.charAt(value.length() - 1);
            long factor = switch (unit) {
                case 'd' -> 86_400;
                case 'h' -> 3_600;
                case 'm' -> 60;
                case 's' -> 1;
                default -> 0;
            };
            String number = factor == 0 ? value : value.substring(0, value.length() - 1);
            try {
                return Duration.ofMillis(Math.round(Double.parseDouble(number) * 1000 * (factor == 0 ? 1 : factor)));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--events-max-age must be like 7d, 12h, 30m, 90s or seconds, got '" + text + "'");
            }
        }
    }

    private final String branch;
    private final Bounds bounds;
    /** The open events.db; every use holds its monitor, so batches are written in order. */
    private final Connection db;
    private final Object lock = new Object();
    /** The last sequence number handed out; guarded by {@link #lock}. */
    private long seq;
    /** Recorded, not yet written; guarded by {@link #lock}. */
    private ArrayDeque<BranchEvent> pending = new ArrayDeque<>();
    private boolean closed;
    /** The highest sequence number written; guarded by {@link #db}. */
    private long written;
    private final List<Subscription> subscribers = new CopyOnWriteArrayList<>();
    private final ExecutorService delivery = Executors.newCachedThreadPool(DaemonThreads.named("event-delivery"));
    private final Thread writer;

    private EventLog(Connection db, String branch, Bounds bounds, long last) {
        this.db = db;
        this.branch = branch;
        this.bounds = bounds;
        this.seq = last;
        this.written = last;
        this.writer = new Thread(this::writeLoop, "event-log-writer");
        writer.setDaemon(true);
        writer.start();
    }

    /**
     * Opens (or creates) the log in {@code file}. A file SQLite cannot use is moved aside (one log
     * line naming where) and a fresh log started: the event log is history, not intent.
     */
    public static EventLog open(Path file, String branch, Bounds bounds) throws IOException {
        try {
            return openOrFail(file, branch, bounds);
        } catch (SQLException e) {
            Path aside = file.resolveSibling(file.getFileName() + ".broken-" + System.currentTimeMillis());
            log.warn("{} cannot be read ({}); moved it to {} and started a new event log", file, Checks.firstLine(e.getMessage()), aside);
            Files.move(file, aside, StandardCopyOption.REPLACE_EXISTING);
            for (String suffix : List.of("-wal", "-shm")) {
                Files.deleteIfExists(file.resolveSibling(file.getFileName() + suffix));
            }
            try {
                return openOrFail(file, branch, bounds);
            } catch (SQLException again) {
                throw new IOException("cannot create the event log " + file + ": " + Checks.firstLine(again.getMessage()), again);
            }
        }
    }

    private static EventLog openOrFail(Path file, String branch, Bounds bounds) throws SQLException {
        Connection db = SqliteFile.open(file);
        try (Statement s = db.createStatement()) {
            s.execute("PRAGMA synchronous=NORMAL");
            // AUTOINCREMENT keeps the highest seq ever used in sqlite_sequence, so numbering continues after a full prune
            s.execute("CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL,"
                    + " kind TEXT NOT NULL, fields TEXT NOT NULL)");
            long last = 0;
            try (ResultSet rs = s.executeQuery("SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0),"
                    + " COALESCE((SELECT MAX(seq) FROM events), 0))")) {
                if (rs.next()) {
                    last = rs.getLong(1);
                }
            }
            return new EventLog(db, branch, bounds, last);
        } catch (SQLException | RuntimeException e) {
            db.close();
            throw e;
        }
    }

    /** Keeps and streams one event; never waits for the disk or a subscriber. */
    public BranchEvent record(String kind, Map<String, Object> fields) {
        synchronized (lock) {
            BranchEvent event = new BranchEvent(++seq, now(), kind, branch, fields);
            if (!closed) {
                pending.addLast(event);
                if (pending.size() > bounds.maxEvents()) {
                    pending.removeFirst();
                }
                lock.notifyAll();
            }
            publish(event); // under the lock: subscribers see kept events in seq order
            return event;
        }
    }

    /** Streams an event without keeping it. */
    public void stream(String kind, Map<String, Object> fields) {
        publish(new BranchEvent(0, now(), kind, branch, fields));
    }

    /** Kept events after {@code since}, oldest first, at most {@code limit} (1 to {@value #MAX_PAGE}). */
    public List<BranchEvent> since(long since, int limit) {
        if (since < 0) {
            throw BranchException.invalid("since must be 0 or more, got " + since);
        }
        if (limit < 1 || limit > MAX_PAGE) {
            throw BranchException.invalid("limit must be between 1 and " + MAX_PAGE + ", got " + limit);
        }
        synchronized (db) {
            writePending();
            List<BranchEvent> events = new ArrayList<>();
            try (PreparedStatement s = db.prepareStatement("SELECT seq, time, kind, fields FROM events WHERE seq > ? ORDER BY seq LIMIT ?")) {
                s.setLong(1, since);
                s.setInt(2, limit);
                try (ResultSet rs = s.executeQuery()) {
                    while (rs.next()) {
                        events.add(new BranchEvent(rs.getLong(1), Instant.ofEpochMilli(rs.getLong(2)), rs.getString(3), branch,
                                READER.readValue(rs.getString(4), FIELDS)));
                    }
                }
            } catch (SQLException | JsonProcessingException e) {
                throw new BranchException(500, "events.db cannot be read: " + Checks.firstLine(e.getMessage()));
            }
            return events;
        }
    }

    /** The sequence number of the newest kept event (0 before the first). */
    public long latest() {
        synchronized (lock) {
            return seq;
        }
    }

    /** Every event from now on goes to {@code subscriber}, on a thread of the log's, until the returned handle is closed. */
    /** Waits up to {@code max} until every pushed-to subscriber has been handed every event so far; false if not. */
    boolean awaitDelivered(Duration max) throws InterruptedException {
        long deadline = System.nanoTime() + max.toNanos();
        while (subscribers.stream().anyMatch(Subscription::busy)) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            Thread.sleep(2);
        }
        return true;
    }

    public AutoCloseable subscribe(Consumer<BranchEvent> subscriber) {
        return subscribe("subscriber " + subscriber, subscriber);
    }

    /** Every event from now on is queued for {@link Subscription#next}; {@code who} names it in the log line if it is dropped. */
    public Subscription subscribe(String who) {
        return subscribe(who, null);
    }

    private Subscription subscribe(String who, Consumer<BranchEvent> consumer) {
        Subscription subscription = new Subscription(who, consumer);
        subscribers.add(subscription);
        return subscription;
    }

    /** How many subscribers are attached now. */
    public int subscribers() {
        return subscribers.size();
    }

    private void publish(BranchEvent event) {
        for (Subscription subscriber : subscribers) {
            subscriber.offer(event);
        }
    }

    private static Instant now() {
        return Instant.now().truncatedTo(ChronoUnit.MILLIS);
    }

    /** One subscriber's queue: pulled with {@link #next}, or pushed to its consumer by the log's delivery threads. */
    public final class Subscription implements AutoCloseable {
        private final String who;
        private final Consumer<BranchEvent> consumer;
        private final BlockingQueue<BranchEvent> queue = new ArrayBlockingQueue<>(SUBSCRIBER_BACKLOG + 1);
        private final AtomicBoolean draining = new AtomicBoolean();
        private final AtomicBoolean dropped = new AtomicBoolean();

        private Subscription(String who, Consumer<BranchEvent> consumer) {
            this.who = who;
            this.consumer = consumer;
        }

        /** The next event, waiting at most {@code timeout}; null when none came, or once dropped. */
        public BranchEvent next(Duration timeout) throws InterruptedException {
            if (dropped.get()) {
                return null;
            }
            BranchEvent event = queue.poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
            return event == DROPPED ? null : event;
        }

        /** A pushed-to subscriber with events not yet handed over. */
        private boolean busy() {
            return consumer != null && !dropped.get() && (draining.get() || !queue.isEmpty());
        }

        /** True once it fell {@value #SUBSCRIBER_BACKLOG} events behind and was dropped. */
        public boolean dropped() {
            return dropped.get();
        }

        private void offer(BranchEvent event) {
            if (queue.size() >= SUBSCRIBER_BACKLOG || !queue.offer(event)) {
                drop();
                return;
            }
            if (consumer != null && draining.compareAndSet(false, true)) {
                delivery.execute(this::drain);
            }
        }

        private void drop() {
            if (!dropped.compareAndSet(false, true)) {
                return;
            }
            subscribers.remove(this);
            queue.clear();
            queue.offer(DROPPED);
            log.warn("{} dropped from the event stream: it fell {} events behind", who, SUBSCRIBER_BACKLOG);
        }

        private void drain() {
            while (true) {
                BranchEvent event;
                while (!dropped.get() && (event = queue.poll()) != null) {
                    try {
                        consumer.accept(event);
                    } catch (RuntimeException e) {
                        log.warn("{} failed on event {} and was unsubscribed: {}", who, event.seq(), e.toString());
                        dropped.set(true);
                        close();
                        return;
                    }
                }
                draining.set(false);
                if (dropped.get() || queue.isEmpty() || !draining.compareAndSet(false, true)) {
                    return;
                }
            }
        }

        @Override
        public void close() {
            subscribers.remove(this);
        }
    }

    // ---- the writer ---------------------------------------------------------------------------

    private void writeLoop() {
        while (true) {
            synchronized (lock) {
                if (pending.isEmpty() && !closed) {
                    try {
                        lock.wait(IDLE_PRUNE_MILLIS);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
                if (closed) {
                    return;
                }
            }
            synchronized (db) {
                if (!writePending()) {
                    prune(); // nothing new for a while: the age bound still applies
                }
            }
        }
    }

    /** Writes what was recorded so far, then prunes; false if there was nothing to write. The caller holds {@link #db}. */
    private boolean writePending() {
        if (!flush()) {
            return false;
        }
        prune();
        return true;
    }

    /** Writes what was recorded so far, in one transaction; false if there was nothing to write. */
    private boolean flush() {
        ArrayDeque<BranchEvent> batch;
        synchronized (lock) {
            if (pending.isEmpty()) {
                return false;
            }
            batch = pending;
            pending = new ArrayDeque<>();
        }
        try (PreparedStatement insert = db.prepareStatement("INSERT INTO events (seq, time, kind, fields) VALUES (?, ?, ?, ?)")) {
            db.setAutoCommit(false);
            for (BranchEvent event : batch) {
                insert.setLong(1, event.seq());
                insert.setLong(2, event.time().toEpochMilli());
                insert.setString(3, event.kind());
                insert.setString(4, Json.MAPPER.writeValueAsString(event.fields()));
                insert.addBatch();
            }
            insert.executeBatch();
            db.commit();
            written = batch.getLast().seq();
        } catch (SQLException | JsonProcessingException e) {
            rollback();
            log.warn("events.db: {} event(s) not kept: {}", batch.size(), Checks.firstLine(e.getMessage()));
        } finally {
            autoCommit();
        }
        return true;
    }

    /** Deletes the events beyond the bounds: all but the newest {@code maxEvents}, and those older than {@code maxAge}. */
    private void prune() {
        try (PreparedStatement byCount = db.prepareStatement("DELETE FROM events WHERE seq <= ?");
             PreparedStatement byAge = db.prepareStatement("DELETE FROM events WHERE seq < COALESCE("
                     + "(SELECT seq FROM events WHERE time >= ? ORDER BY seq LIMIT 1), ?)")) {
            byCount.setLong(1, written - bounds.maxEvents());
            byCount.executeUpdate();
            byAge.setLong(1, now().minus(bounds.maxAge()).toEpochMilli());
            byAge.setLong(2, written + 1);
            byAge.executeUpdate();
        } catch (SQLException e) {
            log.warn("events.db: pruning failed: {}", Checks.firstLine(e.getMessage()));
        }
    }

    private void rollback() {
        try {
            db.rollback();
        } catch (SQLException e) {
            // the connection is gone; the next batch reports it
        }
    }

    private void autoCommit() {
        try {
            db.setAutoCommit(true);
        } catch (SQLException e) {
            // as above
        }
    }

    /** Writes what is pending and closes the file; recording afterwards only streams. */
    @Override
    public void close() {
        synchronized (lock) {
            closed = true;
            lock.notifyAll();
        }
        try {
            writer.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        synchronized (db) {
            writePending();
            try {
                db.close();
            } catch (SQLException e) {
                log.warn("closing events.db: {}", e.getMessage());
            }
        }
        delivery.shutdownNow();
    }
}
