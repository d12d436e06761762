package jcyme.branch;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.function.UnaryOperator;
import jcyme.api.App;
import jcyme.api.Autoscale;
import jcyme.api.Instance;
import jcyme.api.QueueSpec;
import jcyme.supervisor.ControlClient;
import jcyme.supervisor.InstanceState;
import jcyme.supervisor.InstanceStatus;
import jcyme.supervisor.Supervisor;
import jcyme.supervisor.WorkerLauncher;
import jcyme.tasks.BrokerUrl;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * This branch's instances. Every change is a change of the instance's record in the store,
 * followed by a pass of its reconciler, which makes the worker match; a call returns once that
 * pass is done. Reads combine the record with the supervisor's view of the process.
 */
public final class Instances {
    private static final Logger log = LoggerFactory.getLogger(Instances.class);
    private static final Duration CONTROL_TIMEOUT = Duration.ofSeconds(5);
    /** Entries of the data directory that are the branch's own, never instances. */
    static final Set<String> OWN_ENTRIES = Set.of("broker", "branch.db", "branch.db-wal", "branch.db-shm", "branch.lock",
            "tasks.db", "tasks.db-wal", "tasks.db-shm",
            "events.db", "events.db-wal", "events.db-shm", "stop.request", Instances.SPARES_LOG,
            WorkerLauncher.SPARES_DIR);
    /** Where spare workers write until they are claimed. */
    static final String SPARES_LOG = "spares.log";
    /** The longest path of a Unix socket (sun_path less its terminating NUL). */
    static final int MAX_SOCKET_PATH = 107;
    /** The longest control socket an instance uses: slot 1's, which a recycle starts beside slot 0's {@code worker.sock}. */
    private static final String LONGEST_SOCKET = "worker-1.sock";

    private final Store store;
    private final Apps apps;
    private final Brokers brokers;
    private final Supervisor supervisor;
    private final Reconciler reconciler;
    private final ClusterMember member;
    private final EventLog events;
    private final String branchId;
    private final Path dataDir;
    private final java.util.function.Consumer<String> eventsFollowed;

    /** @param eventsFollowed  waits (briefly) until the branch follows the Celery events of a broker, before a worker on it starts */
    Instances(Store store, Apps apps, Brokers brokers, Supervisor supervisor, Reconciler reconciler, ClusterMember member,
              EventLog events, String branchId, Path dataDir, java.util.function.Consumer<String> eventsFollowed) {
        this.eventsFollowed = eventsFollowed;
        this.store = store;
        this.apps = apps;
        this.brokers = brokers;
        this.supervisor = supervisor;
        this.reconciler = reconciler;
        this.member = member;
        this.events = events;
        this.branchId = branchId;
        this.dataDir = dataDir;
    }

    public List<String> names(String app) {
        apps.get(app);
        return store.instances(app).stream().map(InstanceRecord::name).toList();
    }

    public Instance get(String app, String name) {
        return view(record(app, name));
    }

    /** True if every control socket of an instance of that name under the data directory has a path short enough. */
    static boolean socketFits(Path dataDir, String name) {
        return dataDir.resolve(name).resolve(LONGEST_SOCKET).toString().length() <= MAX_SOCKET_PATH;
    }

    /** Creates an instance (named, or a UUID) and starts it. */
    public Instance create(String appName, String name, InstanceRequest request) {
        App app = apps.stored(appName);
        String instanceName = name == null || name.isEmpty() ? UUID.randomUUID().toString() : name;
        Checks.name("instance", instanceName);
        if (OWN_ENTRIES.contains(instanceName)) {
            throw BranchException.invalid("instance name '" + instanceName + "' is reserved");
        }
        if (!socketFits(dataDir, instanceName)) {
            throw BranchException.invalid("instance name '" + instanceName + "' is too long for a control socket under "
                    + dataDir + " (use a shorter name or data directory)");
        }
        List<String> queues = request.queues() != null ? request.queues()
                : app.defaultQueues().isEmpty() ? List.of("celery") : app.defaultQueues();
        queues.forEach(q -> Checks.name("queue", q));
        int min = request.min() != null ? request.min() : app.minConcurrency();
        int max = request.max() != null ? request.max() : app.maxConcurrency();
        Checks.bounds(min, max);
        Checks.recycle(request.recycleAfterTasks(), request.recycleAboveRssKib());
        if (request.broker() != null) {
            Checks.broker(request.broker());
        }
        apps.checkArguments(request.arguments());
        InstanceRecord record = new InstanceRecord(instanceName, appName, queues, min, max, true, request.broker(),
                request.arguments(), request.extraConfig(), 1, false, request.recycleAfterTasks(), request.recycleAboveRssKib());
        member.requireNameFree(instanceName);
        int limit = Limits.maxInstances();
        store.insertInstance(record, limit).ifPresent(refusal -> {
            throw switch (refusal) {
                case LIMIT_REACHED -> BranchException.invalid("this branch already runs its limit of " + limit + " instance(s)"
                        + " (--max-instances); delete one or place the instance on another branch");
                case NAME_BEING_DELETED -> BranchException.conflict("instance name '" + instanceName + "' is being deleted; try again");
                case NAME_TAKEN -> BranchException.conflict("instance name '" + instanceName + "' is taken");
            };
        });
        log.info("instance {} of app {} created (queues {}, autoscale {},{})", instanceName, appName, queues, max, min);
        events.record("instance.created", BranchEvent.fields("app", appName, "instance", instanceName));
        member.announceInstances();
        eventsFollowed.accept(brokers.brokerOf(app, request.broker()));
        reconciler.settle(instanceName);
        return view(record);
    }

    /** Deletes the instance: a tombstone at once, then its worker is stopped and its directory and record removed. */
    public void delete(String app, String name) {
        change(app, name, InstanceRecord::tombstone);
        log.info("instance {} deleting", name);
        member.announceInstances();
        reconciler.settle(name);
    }

    /** Replaces the worker (a new generation), after a warm shutdown; also leaves FATAL. */
    public Instance restart(String app, String name) {
        return view(settled(change(app, name, InstanceRecord::restarted)));
    }

    /** Enables the instance; a stopped or FATAL one starts afresh. */
    public Instance enable(String app, String name) {
        return view(settled(change(app, name, r -> r.enabled() && !isFatal(name) ? r : r.restarted())));
    }

    public Instance disable(String app, String name) {
        return view(settled(change(app, name, r -> r.withEnabled(false))));
    }

    public JsonNode stats(String app, String name) {
        record(app, name);
        return control(name, "stats", Map.of());
    }

    public Autoscale autoscale(String app, String name) {
        InstanceRecord record = record(app, name);
        return new Autoscale(record.max(), record.min(), null);
    }

    /** Stores new bounds and applies them to the running worker before answering. */
    public Autoscale setAutoscale(String app, String name, Integer max, Integer min) {
        InstanceRecord before = record(app, name);
        InstanceRecord updated = settled(change(app, name, r -> {
            int newMax = max == null ? r.max() : max;
            int newMin = min == null ? Math.min(r.min(), newMax) : min;
            Checks.bounds(newMin, newMax);
            return r.withAutoscale(newMax, newMin);
        }));
        Integer current = isRunning(name) ? control(name, "stats", Map.of()).at("/autoscaler/current").asInt() : null;
        log.info("instance {}: autoscale set to max {} min {}", name, updated.max(), updated.min());
        if (updated.max() != before.max() || updated.min() != before.min()) {
            events.record("instance.autoscale",
                    BranchEvent.fields("app", app, "instance", name, "min", updated.min(), "max", updated.max()));
        }
        return new Autoscale(updated.max(), updated.min(), current);
    }

    /** The queues the worker consumes now (its private direct queue included). */
    public Map<String, QueueSpec> queues(String app, String name) {
        record(app, name);
        Map<String, QueueSpec> queues = new LinkedHashMap<>();
        for (JsonNode q : control(name, "active_queues", Map.of())) {
            queues.put(q.path("name").asText(), new QueueSpec(q.path("name").asText(), q.at("/exchange/name").asText(),
                    q.at("/exchange/type").asText(), q.path("routing_key").asText(), null));
        }
        return queues;
    }

    /** Binds a queue to the instance: stored, and consumed before this returns when it runs. */
    public void bind(String app, String name, String queue) {
        Checks.name("queue", queue);
        boolean[] added = new boolean[1];
        settled(change(app, name, r -> {
            if (r.queues().contains(queue)) {
                return r;
            }
            added[0] = true;
            List<String> queues = new ArrayList<>(r.queues());
            queues.add(queue);
            return r.withQueues(queues);
        }));
        log.info("instance {}: bound queue {}", name, queue);
        if (added[0]) {
            events.record("instance.bind", BranchEvent.fields("app", app, "instance", name, "queue", queue));
        }
    }

    public void unbind(String app, String name, String queue) {
        settled(change(app, name, r -> {
            if (!r.queues().contains(queue)) {
                throw BranchException.notFound("instance '" + name + "' does not consume queue '" + queue + "'");
            }
            return r.withQueues(r.queues().stream().filter(q -> !q.equals(queue)).toList());
        }));
        log.info("instance {}: unbound queue {}", name, queue);
        events.record("instance.unbind", BranchEvent.fields("app", app, "instance", name, "queue", queue));
    }

    /** The last {@code lines} lines of the worker's log. */
    public String log(String app, String name, int lines) {
        record(app, name);
        if (lines < 1 || lines > 100_000) {
            throw BranchException.invalid("lines must be between 1 and 100000, got " + lines);
        }
        return tail(dataDir.resolve(name).resolve("worker.log"), lines);
    }

    /** Every instance of this branch, as {@link #get} shows it. */
    List<Instance> all() {
        return store.instances().stream().map(this::view).toList();
    }

    /** The worker's stats when it is RUNNING and answers within {@code timeout}; else empty. */
    Optional<JsonNode> statsWithin(String name, Duration timeout) {
        if (!isRunning(name)) {
            return Optional.empty();
        }
        try {
            JsonNode reply = supervisor.control(name, "stats", Map.of(), timeout);
            return reply.has("error") ? Optional.empty() : Optional.of(reply);
        } catch (ControlClient.UnreachableException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /** How long {@link #configs} waits for one worker to say which configuration it holds. */
    static final Duration CONFIG_QUERY_TIMEOUT = Duration.ofSeconds(2);

    /**
     * The app's live configuration, and per instance of this branch the id of the one its worker
     * holds (null when the worker is not running or does not answer), so a stale instance shows.
     */
    public Map<String, Object> configs(String appName) {
        App app = apps.stored(appName);
        Map<String, Object> held = new java.util.TreeMap<>();
        for (InstanceRecord record : store.instances(appName)) {
            if (!record.deleting()) {
                held.put(record.name(), statsWithin(record.name(), CONFIG_QUERY_TIMEOUT)
                        .map(stats -> stats.path("config_id").asText(null)).orElse(null));
            }
        }
        Map<String, Object> view = new LinkedHashMap<>();
        view.put("config_id", app.liveConfigId());
        view.put("config", app.liveConfig());
        view.put("instances", held);
        return view;
    }

    /** This branch's instances counted by state, in state order. */
    Map<String, Integer> states() {
        Map<String, Integer> counts = new LinkedHashMap<>();
        for (InstanceRecord record : store.instances()) {
            String state = supervisor.status(record.name()).map(st -> st.state().name()).orElse(InstanceState.STOPPED.name());
            counts.merge(state, 1, Integer::sum);
        }
        Map<String, Integer> ordered = new LinkedHashMap<>();
        for (InstanceState state : InstanceState.values()) {
            if (counts.containsKey(state.name())) {
                ordered.put(state.name(), counts.get(state.name()));
            }
        }
        return ordered;
    }

    // ---- helpers ------------------------------------------------------------------------------

    private InstanceRecord record(String app, String name) {
        apps.get(app);
        return store.instance(name).filter(r -> r.app().equals(app)).orElseThrow(() -> noSuch(app, name));
    }

    /** Changes the app's instance record in one step; 404 if it has none by that name. */
    private InstanceRecord change(String app, String name, UnaryOperator<InstanceRecord> op) {
        apps.get(app);
        return store.updateInstance(name, r -> {
            if (!r.app().equals(app)) {
                throw noSuch(app, name);
            }
            return op.apply(r);
        }).orElseThrow(() -> noSuch(app, name));
    }

    private InstanceRecord settled(InstanceRecord record) {
        reconciler.settle(record.name());
        return record;
    }

    private static BranchException noSuch(String app, String name) {
        return BranchException.notFound("app '" + app + "' has no instance '" + name + "'");
    }

    private boolean isFatal(String name) {
        return supervisor.status(name).map(s -> s.state() == InstanceState.FATAL).orElse(false);
    }

    private boolean isRunning(String name) {
        return supervisor.status(name).map(s -> s.state() == InstanceState.RUNNING).orElse(false);
    }

    private JsonNode control(String name, String method, Map<String, ?> arguments) {
        if (!isRunning(name)) {
            InstanceState state = supervisor.status(name).map(InstanceStatus::state).orElse(InstanceState.STOPPED);
            throw new BranchException(409, "instance '" + name + "' is " + state + ", not RUNNING");
        }
        try {
            JsonNode reply = supervisor.control(name, method, arguments, CONTROL_TIMEOUT);
            if (reply.has("error")) {
                throw BranchException.invalid(reply.get("error").asText());
            }
            return reply;
        } catch (ControlClient.UnreachableException e) {
            throw BranchException.timeout("instance '" + name + "' did not answer: " + e.getMessage());
        }
    }

    private Instance view(InstanceRecord record) {
        InstanceStatus status = supervisor.status(record.name()).orElse(null);
        App app = store.app(record.app()).orElse(null);
        return new Instance(record.name(), record.app(), branchId, record.queues(), record.min(), record.max(),
                record.enabled(), BrokerUrl.parse(brokers.brokerOf(app, record.broker())).display(),
                null, record.arguments(), record.extraConfig(),
                status == null ? InstanceState.STOPPED.name() : status.state().name(),
                status == null ? null : status.pid(), status == null ? 0 : status.restarts(),
                status == null || status.startedAt() == null ? null : status.startedAt().toString(),
                dataDir.resolve(record.name()).toString(), status == null ? null : status.lastError());
    }

    /** The last {@code lines} lines of a log, read from at most its last 4 MiB. */
    static String tail(Path file, int lines) {
        if (!Files.exists(file)) {
            return "";
        }
        try (RandomAccessFile in = new RandomAccessFile(file.toFile(), "r")) {
            int size = (int) Math.min(in.length(), 4L << 20);
            byte[] bytes = new byte[size];
            in.seek(in.length() - size);
            in.readFully(bytes);
            List<String> all = new String(bytes, StandardCharsets.UTF_8).lines().toList();
            List<String> last = all.subList(Math.max(0, all.size() - lines), all.size());
            return last.isEmpty() ? "" : String.join("\n", last) + "\n";
        } catch (IOException e) {
            throw new BranchException(500, "cannot read " + file + ": " + e.getMessage());
        }
    }
}
