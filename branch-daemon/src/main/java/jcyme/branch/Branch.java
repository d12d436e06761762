package jcyme.branch;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Stream;
import jcyme.api.App;
import jcyme.api.Autoscale;
import jcyme.api.BranchInfo;
import jcyme.api.Instance;
import jcyme.api.Names;
import jcyme.api.QueueSpec;
import jcyme.supervisor.ClassArchive;
import jcyme.supervisor.ControlClient;
import jcyme.supervisor.InstanceSpec;
import jcyme.supervisor.InstanceState;
import jcyme.supervisor.InstanceStatus;
import jcyme.supervisor.Supervisor;
import jcyme.supervisor.WorkerLauncher;
import jcyme.tasks.AsyncResult;
import jcyme.tasks.BrokerUrl;
import jcyme.tasks.CeleryQueue;
import jcyme.tasks.Json;
import jcyme.tasks.TaskProducer;
import jcyme.tasks.TaskRequest;
import jcyme.tasks.TaskResult;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A branch: the one place that changes what runs on this host. The store says what should
 * exist, the supervisor makes it so, and the broker carries the work. Every refusal is a
 * {@link BranchException} with its HTTP status; a refused request changes nothing.
 */
public final class Branch implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Branch.class);
    public static final String VERSION = "0.1.0";
    static final int DEFAULT_MIN = 1;
    static final int DEFAULT_MAX = 4;
    private static final Duration CONTROL_TIMEOUT = Duration.ofSeconds(5);
    /** Entries of the data directory that are the branch's own, never instances. */
    private static final Set<String> OWN_ENTRIES = Set.of("broker", "branch.db", "branch.db-wal", "branch.db-shm", "branch.lock");
    private static final int MAX_SOCKET_PATH = 107;

    private final BranchConfig config;
    private final Path dataDir;
    private final Store store;
    private final Supervisor supervisor;
    private final WorkerLauncher launcher;
    private final BrokerProcess embeddedBroker;
    private final String brokerUrl;
    private final Instant startedAt = Instant.now();
    private final Map<String, TaskProducer> producers = new ConcurrentHashMap<>();
    private final ClusterMember member;
    private final ScheduledExecutorService housekeeping = Executors.newSingleThreadScheduledExecutor(task -> {
        Thread thread = new Thread(task, "branch-housekeeping");
        thread.setDaemon(true);
        return thread;
    });

    private Branch(BranchConfig config, Store store, BrokerProcess embeddedBroker, String brokerUrl) {
        this.config = config;
        this.dataDir = config.dataDir().toAbsolutePath();
        this.store = store;
        this.embeddedBroker = embeddedBroker;
        this.brokerUrl = brokerUrl;
        this.launcher = new WorkerLauncher(config.java(), config.libDir(),
                List.of("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xms16m", "-Xmx256m", "-Xss512k", "-XX:-UsePerfData",
                        "-Djava.net.preferIPv4Stack=true"));
        this.supervisor = new Supervisor(config.supervision(), launcher, this::queueBinding);
        this.member = new ClusterMember(config, store, this::info, this::instanceStates, new ClusterMember.Local() {
            @Override
            public void remove(String instance) {
                supervisor.remove(instance);
            }

            @Override
            public void stopConsuming(String app, String queue) {
                Branch.this.stopConsuming(app, queue);
            }
        });
    }

    /** Opens the store, brings up the broker, re-adopts running instances and starts the rest. */
    public static Branch start(BranchConfig config) throws IOException, SQLException {
        Path dir = Files.createDirectories(config.dataDir()).toAbsolutePath();
        Store store = Store.open(dir.resolve("branch.db"));
        BrokerProcess embedded = null;
        String brokerUrl = config.broker();
        if (brokerUrl == null) {
            embedded = new BrokerProcess(config.java(), config.libDir(), dir.resolve("broker"), config.brokerPort());
            embedded.ensureRunning();
            brokerUrl = embedded.url();
        } else {
            BrokerUrl.parse(brokerUrl);
        }
        Branch branch = new Branch(config, store, embedded, brokerUrl);
        branch.prepareClassArchive();
        branch.recover();
        branch.housekeeping.scheduleWithFixedDelay(branch::checkBroker, config.supervision().interval().toMillis(),
                config.supervision().interval().toMillis(), TimeUnit.MILLISECONDS);
        if (config.cluster() != null) {
            branch.member.join();
        }
        return branch;
    }

    private void recover() {
        List<InstanceRecord> records = store.instances();
        Set<String> known = new java.util.HashSet<>();
        for (InstanceRecord record : records) {
            known.add(record.name());
            supervisor.adoptOrStart(spec(record), record.enabled());
        }
        try (Stream<Path> entries = Files.list(dataDir)) {
            entries.filter(Files::isDirectory)
                    .filter(d -> !OWN_ENTRIES.contains(d.getFileName().toString()))
                    .filter(d -> !known.contains(d.getFileName().toString()))
                    .filter(d -> Files.exists(d.resolve("worker.log")) || Files.exists(d.resolve("worker.pid")))
                    .forEach(supervisor::stopOrphan);
        } catch (IOException e) {
            log.warn("could not scan {} for orphans: {}", dataDir, e.getMessage());
        }
        log.info("recovered {} instance(s) from {}", records.size(), dataDir.resolve("branch.db"));
    }

    /**
     * Workers map a class-data archive of their classes once it exists; the first start of a
     * branch on a new set of jars makes it in the background with one training run.
     */
    private void prepareClassArchive() {
        ClassArchive archive;
        try {
            archive = ClassArchive.in(config.libDir().resolveSibling("cds"), config.libDir());
        } catch (IOException e) {
            log.warn("no class-data archive: {}", e.getMessage());
            return;
        }
        launcher.useArchive(archive);
        if (archive.option().isPresent()) {
            return;
        }
        housekeeping.execute(() -> {
            Path training;
            try {
                training = Files.createTempDirectory("jcyme-cds");
            } catch (IOException e) {
                return;
            }
            String queue = "jcyme.cds-training." + UUID.randomUUID().toString().substring(0, 8);
            List<String> command = new ArrayList<>(launcher.jvm(List.of()));
            command.addAll(List.of("-b", brokerUrl, "-n", queue, "-Q", queue, "--autoscale", "1,1",
                    "--pidfile", training.resolve("worker.pid").toString(), "--logfile", training.resolve("worker.log").toString(),
                    "--statedb", training.resolve("worker.statedb").toString(),
                    "--control-socket", training.resolve("worker.sock").toString(), "--exit-when-ready"));
            archive.create(config.java(), command);
            deleteQueues(queue, "dq." + queue);
            Supervisor.deleteTree(training);
        });
    }

    private void deleteQueues(String... queues) {
        try (com.rabbitmq.client.Connection connection = BrokerUrl.parse(brokerUrl).connectionFactory(1000).newConnection("jcyme-branch");
             com.rabbitmq.client.Channel channel = connection.createChannel()) {
            for (String queue : queues) {
                channel.queueDelete(queue);
            }
        } catch (IOException | TimeoutException | RuntimeException e) {
            log.debug("could not delete {}: {}", List.of(queues), e.getMessage());
        }
    }

    private void checkBroker() {
        if (embeddedBroker == null) {
            return;
        }
        try {
            embeddedBroker.ensureRunning();
        } catch (IOException e) {
            log.error("embedded broker: {}", e.getMessage());
        }
    }

    public String id() {
        return config.id();
    }

    public String brokerUrl() {
        return brokerUrl;
    }

    public Path dataDir() {
        return dataDir;
    }

    // ---- the cluster --------------------------------------------------------------------------

    /** Ids of the live branches, this one included. */
    public List<String> branches() {
        return member.branches();
    }

    /** A live branch's record: this one's own, or the last one it gossiped. */
    public Object branchInfo(String id) {
        return member.branchInfo(id);
    }

    /** Forgets a branch that is gone for good, with the instances it owned (409 while it is live). */
    public void forgetBranch(String id) {
        member.forgetBranch(id);
    }

    /** The other live branches. */
    public List<Peer> peers() {
        return member.peers();
    }

    /**
     * Where a request about an instance must be answered: empty for here (the instance is ours,
     * or unknown anywhere), or the live branch that owns it. An owner that is down is a 503.
     */
    public Optional<Peer> ownerOf(String app, String name) {
        return member.ownerOf(app, name);
    }

    /**
     * The branch a new instance goes to: {@code branch} if named, the one with the fewest
     * running instances for {@code placement=least-loaded}, else this one. A name already used
     * anywhere in the cluster is a 409.
     */
    public Peer placeInstance(String name, String branch, String placement) {
        if (name != null && !name.isEmpty()) {
            checkName("instance", name);
        }
        return member.placeInstance(name, branch, placement);
    }

    /** Instances of the app on branches other than those given, as their owners last told. */
    public List<String> instanceNamesElsewhere(String app, Set<String> answered) {
        return member.instanceNamesElsewhere(app, answered);
    }

    // ---- apps ---------------------------------------------------------------------------------

    public List<String> apps() {
        return store.appNames();
    }

    public App app(String name) {
        return store.app(name).orElseThrow(() -> BranchException.notFound("no app named '" + name + "'"));
    }

    /** Result of a create-or-update. */
    public record Saved<T>(T value, boolean created) {}

    /** Creates the app, or updates the fields given; unknown fields are an error. */
    public Saved<App> putApp(String name, Map<String, Object> fields) {
        checkName("app", name);
        if (Names.RESERVED_APPS.contains(name)) {
            throw BranchException.invalid("app name '" + name + "' is reserved");
        }
        App existing = store.app(name).orElse(null);
        Map<String, Object> merged = new LinkedHashMap<>();
        if (existing != null) {
            merged.putAll(Json.MAPPER.convertValue(existing, Map.class));
        } else {
            merged.put("min_concurrency", DEFAULT_MIN);
            merged.put("max_concurrency", DEFAULT_MAX);
        }
        Set<String> allowed = Set.of("broker", "arguments", "extra_config", "classpath", "jvm_options", "env",
                "default_queues", "min_concurrency", "max_concurrency");
        for (Map.Entry<String, Object> field : fields.entrySet()) {
            if (!allowed.contains(field.getKey())) {
                throw BranchException.invalid("unknown app field '" + field.getKey() + "' (known: " + String.join(", ",
                        new java.util.TreeSet<>(allowed)) + ")");
            }
            merged.put(field.getKey(), field.getValue());
        }
        merged.put("name", name);
        App app;
        try {
            app = Json.MAPPER.convertValue(merged, App.class);
        } catch (IllegalArgumentException e) {
            throw BranchException.invalid("invalid app field: " + firstLine(e.getMessage()));
        }
        checkBounds(app.minConcurrency(), app.maxConcurrency());
        if (app.broker() != null && !app.broker().isEmpty()) {
            checkBroker(app.broker());
        }
        app.defaultQueues().forEach(q -> checkName("queue", q));
        for (String jar : app.classpath()) {
            if (!Files.exists(Path.of(jar))) {
                throw BranchException.invalid("classpath entry '" + jar + "' does not exist on this host");
            }
        }
        store.putApp(app, member.nextClock(), config.id());
        member.replicate(name);
        log.info("app {} {}", name, existing == null ? "created" : "updated");
        return new Saved<>(app, existing == null);
    }

    /** Deletes the app, and stops and removes every one of its instances. */
    public void deleteApp(String name) {
        app(name);
        for (InstanceRecord record : store.instances(name)) {
            supervisor.remove(record.name());
        }
        store.deleteApp(name, member.nextClock(), config.id());
        member.replicate(name);
        member.announceInstances();
        log.info("app {} deleted with its instances", name);
    }

    // ---- instances ----------------------------------------------------------------------------

    public List<String> instanceNames(String app) {
        app(app);
        return store.instances(app).stream().map(InstanceRecord::name).toList();
    }

    public Instance instance(String app, String name) {
        return view(record(app, name));
    }

    /** Creates an instance (name: given or a UUID) and starts it. Fields: queues, min, max, arguments, extra_config, broker. */
    public Instance createInstance(String appName, String name, Map<String, Object> fields) {
        App app = app(appName);
        String instanceName = name == null || name.isEmpty() ? UUID.randomUUID().toString() : name;
        checkName("instance", instanceName);
        if (OWN_ENTRIES.contains(instanceName)) {
            throw BranchException.invalid("instance name '" + instanceName + "' is reserved");
        }
        if (dataDir.resolve(instanceName).resolve("worker.sock").toString().length() > MAX_SOCKET_PATH) {
            throw BranchException.invalid("instance name '" + instanceName + "' is too long for a control socket under "
                    + dataDir + " (use a shorter name or data directory)");
        }
        Set<String> allowed = Set.of("queues", "min", "max", "arguments", "extra_config", "broker");
        for (String key : fields.keySet()) {
            if (!allowed.contains(key)) {
                throw BranchException.invalid("unknown instance field '" + key + "' (known: arguments, broker, extra_config, max, min, queues)");
            }
        }
        List<String> queues = stringList(fields.get("queues"), "queues");
        if (queues == null) {
            queues = app.defaultQueues().isEmpty() ? List.of("celery") : app.defaultQueues();
        }
        queues.forEach(q -> checkName("queue", q));
        int min = intField(fields.get("min"), "min", app.minConcurrency());
        int max = intField(fields.get("max"), "max", app.maxConcurrency());
        checkBounds(min, max);
        String broker = fields.get("broker") == null ? null : fields.get("broker").toString();
        if (broker != null) {
            checkBroker(broker);
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> extra = fields.get("extra_config") instanceof Map<?, ?> m ? (Map<String, Object>) m : Map.of();
        String arguments = fields.get("arguments") == null ? null : fields.get("arguments").toString();
        InstanceRecord record = new InstanceRecord(instanceName, appName, queues, min, max, true, broker, arguments, extra);
        member.requireNameFree(instanceName);
        if (!store.insertInstance(record)) {
            throw BranchException.conflict("instance name '" + instanceName + "' is taken");
        }
        log.info("instance {} of app {} created (queues {}, autoscale {},{})", instanceName, appName, queues, max, min);
        supervisor.start(spec(record));
        member.announceInstances();
        return view(record);
    }

    public void deleteInstance(String app, String name) {
        record(app, name);
        supervisor.remove(name);
        store.deleteInstance(name);
        member.announceInstances();
        log.info("instance {} deleted", name);
    }

    public Instance restart(String app, String name) {
        InstanceRecord record = record(app, name).withEnabled(true);
        store.putInstance(record);
        supervisor.update(spec(record));
        supervisor.restart(name);
        return view(record);
    }

    public Instance enable(String app, String name) {
        InstanceRecord record = record(app, name).withEnabled(true);
        store.putInstance(record);
        supervisor.update(spec(record));
        supervisor.start(spec(record));
        return view(record);
    }

    public Instance disable(String app, String name) {
        InstanceRecord record = record(app, name).withEnabled(false);
        store.putInstance(record);
        supervisor.stop(name);
        return view(record);
    }

    public JsonNode stats(String app, String name) {
        record(app, name);
        return control(name, "stats", Map.of());
    }

    public Autoscale autoscale(String app, String name) {
        InstanceRecord record = record(app, name);
        return new Autoscale(record.max(), record.min(), null);
    }

    /** Persists new bounds and applies them to the running worker at once. */
    public Autoscale setAutoscale(String app, String name, Integer max, Integer min) {
        InstanceRecord record = record(app, name);
        int newMax = max == null ? record.max() : max;
        int newMin = min == null ? Math.min(record.min(), newMax) : min;
        checkBounds(newMin, newMax);
        InstanceRecord updated = record.withAutoscale(newMax, newMin);
        store.putInstance(updated);
        supervisor.update(spec(updated));
        Integer current = null;
        if (isRunning(name)) {
            control(name, "autoscale", Map.of("max", newMax, "min", newMin));
            current = control(name, "stats", Map.of()).at("/autoscaler/current").asInt();
        }
        log.info("instance {}: autoscale set to max {} min {}", name, newMax, newMin);
        return new Autoscale(newMax, newMin, current);
    }

    /** The queues the worker consumes now (its private direct queue included). */
    public Map<String, QueueSpec> instanceQueues(String app, String name) {
        record(app, name);
        Map<String, QueueSpec> queues = new LinkedHashMap<>();
        for (JsonNode q : control(name, "active_queues", Map.of())) {
            queues.put(q.path("name").asText(), new QueueSpec(q.path("name").asText(), q.at("/exchange/name").asText(),
                    q.at("/exchange/type").asText(), q.path("routing_key").asText(), null));
        }
        return queues;
    }

    /** Binds a queue to the instance: persisted, and consumed at once when it runs. */
    public void bind(String app, String name, String queue) {
        checkName("queue", queue);
        InstanceRecord record = record(app, name);
        if (record.queues().contains(queue)) {
            return;
        }
        List<String> queues = new ArrayList<>(record.queues());
        queues.add(queue);
        InstanceRecord updated = record.withQueues(queues);
        store.putInstance(updated);
        supervisor.update(spec(updated));
        if (isRunning(name)) {
            control(name, "add_consumer", queueBinding(app, queue));
        }
        log.info("instance {}: bound queue {}", name, queue);
    }

    public void unbind(String app, String name, String queue) {
        InstanceRecord record = record(app, name);
        if (!record.queues().contains(queue)) {
            throw BranchException.notFound("instance '" + name + "' does not consume queue '" + queue + "'");
        }
        List<String> queues = new ArrayList<>(record.queues());
        queues.remove(queue);
        InstanceRecord updated = record.withQueues(queues);
        store.putInstance(updated);
        supervisor.update(spec(updated));
        if (isRunning(name)) {
            control(name, "cancel_consumer", Map.of("queue", queue));
        }
        log.info("instance {}: unbound queue {}", name, queue);
    }

    /** The last {@code lines} lines of the worker's log. */
    public String log(String app, String name, int lines) {
        record(app, name);
        if (lines < 1 || lines > 100_000) {
            throw BranchException.invalid("lines must be between 1 and 100000, got " + lines);
        }
        return tail(dataDir.resolve(name).resolve("worker.log"), lines);
    }

    // ---- queues -------------------------------------------------------------------------------

    public List<String> queues(String app) {
        app(app);
        return store.queueNames(app);
    }

    public QueueSpec queue(String app, String name) {
        app(app);
        return store.queue(app, name).orElseThrow(() -> BranchException.notFound("app '" + app + "' has no queue '" + name + "'"));
    }

    /** Declares the queue (on the broker too) for the app. */
    public Saved<QueueSpec> declareQueue(String app, QueueSpec spec) {
        App owner = app(app);
        checkName("queue", spec.name());
        if (!spec.exchange().isEmpty()) {
            checkName("exchange", spec.exchange());
        }
        if (!Set.of("direct", "topic", "fanout", "headers").contains(spec.exchangeType())) {
            throw BranchException.invalid("exchange_type must be direct, topic, fanout or headers, got '" + spec.exchangeType() + "'");
        }
        try {
            producer(brokerOf(owner, null)).declare(new CeleryQueue(spec.name(), spec.exchange(), spec.exchangeType(),
                    spec.routingKey()));
        } catch (IOException e) {
            throw new BranchException(502, "broker refused queue '" + spec.name() + "': " + firstLine(e.getMessage()));
        }
        boolean created = store.queue(app, spec.name()).isEmpty();
        store.putQueue(app, spec);
        store.touchApp(app, member.nextClock(), config.id());
        member.replicate(app);
        return new Saved<>(spec, created);
    }

    /** Deletes the declaration; every instance of the app stops consuming the queue at once. */
    public void deleteQueue(String app, String name) {
        queue(app, name);
        store.deleteQueue(app, name);
        store.touchApp(app, member.nextClock(), config.id());
        member.replicate(app);
        stopConsuming(app, name);
        log.info("queue {} of app {} deleted", name, app);
    }

    /** Every instance of the app here stops consuming the queue. */
    private void stopConsuming(String app, String queue) {
        for (InstanceRecord record : store.instances(app)) {
            if (record.queues().contains(queue)) {
                unbind(app, record.name(), queue);
            }
        }
    }

    // ---- tasks --------------------------------------------------------------------------------

    /** Publishes a task for the app; returns its id. */
    public String sendTask(String appName, String task, JsonNode args, JsonNode kwargs, String queue, Double countdown) {
        App app = app(appName);
        if (task == null || task.isBlank()) {
            throw BranchException.invalid("task name is missing");
        }
        if (args != null && !args.isNull() && !args.isArray()) {
            throw BranchException.invalid("args must be a JSON array");
        }
        if (kwargs != null && !kwargs.isNull() && !kwargs.isObject()) {
            throw BranchException.invalid("kwargs must be a JSON object");
        }
        String target = queue != null ? queue : app.defaultQueues().isEmpty() ? "celery" : app.defaultQueues().get(0);
        checkName("queue", target);
        TaskRequest.Builder request = TaskRequest.of(task).queue(queueSpec(appName, target));
        if (args != null && args.isArray()) {
            request.args((ArrayNode) args);
        }
        if (kwargs != null && kwargs.isObject()) {
            request.kwargs((com.fasterxml.jackson.databind.node.ObjectNode) kwargs);
        }
        if (countdown != null) {
            request.countdown(Duration.ofMillis(Math.round(countdown * 1000)));
        }
        try {
            return producer(brokerOf(app, null)).send(request.build()).id();
        } catch (IOException e) {
            throw new BranchException(502, "could not publish to the broker: " + firstLine(e.getMessage()));
        }
    }

    /** The state and, once ready, the result of a task published through this branch. */
    public TaskResult taskResult(String appName, String id, Duration wait) {
        App app = app(appName);
        AsyncResult result = producer(brokerOf(app, null)).result(id);
        if (wait != null && !wait.isZero()) {
            try {
                return result.await(wait);
            } catch (TimeoutException e) {
                throw BranchException.timeout("task " + id + " did not finish within " + wait.toSeconds() + " s");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw BranchException.timeout("interrupted");
            }
        }
        return result.future().getNow(new TaskResult(id, result.state(), null, null));
    }

    // ---- the branch itself --------------------------------------------------------------------

    public BranchInfo info() {
        List<Double> load = new ArrayList<>();
        try {
            for (String value : Files.readString(Path.of("/proc/loadavg")).split(" ", 4)) {
                if (load.size() < 3) load.add(Double.parseDouble(value));
            }
        } catch (IOException | RuntimeException e) {
            load = List.of();
        }
        double used = 0;
        try {
            var fs = Files.getFileStore(dataDir);
            used = fs.getTotalSpace() == 0 ? 0 : Math.round(1000.0 * (fs.getTotalSpace() - fs.getUsableSpace()) / fs.getTotalSpace()) / 10.0;
        } catch (IOException e) {
            // unknown
        }
        return new BranchInfo(config.id(), config.url(), hostname(), VERSION, dataDir.toString(),
                config.supervision().interval().toMillis() / 1000.0, store.instances().size(), instanceStates(), load, used,
                startedAt.toString());
    }

    /** This branch's instances counted by state, in state order. */
    private Map<String, Integer> instanceStates() {
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

    /** Stops serving; instances and the embedded broker keep running for the next start to adopt. */
    @Override
    public void close() {
        member.close();
        housekeeping.shutdownNow();
        supervisor.close();
        producers.values().forEach(p -> {
            try {
                p.close();
            } catch (IOException e) {
                // exiting
            }
        });
        try {
            store.close();
        } catch (SQLException e) {
            log.warn("closing branch.db: {}", e.getMessage());
        }
    }

    // ---- helpers ------------------------------------------------------------------------------

    private InstanceRecord record(String app, String name) {
        app(app);
        InstanceRecord record = store.instance(name).orElse(null);
        if (record == null || !record.app().equals(app)) {
            throw BranchException.notFound("app '" + app + "' has no instance '" + name + "'");
        }
        return record;
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

    private InstanceSpec spec(InstanceRecord record) {
        App app = store.app(record.app()).orElseThrow();
        List<String> arguments = record.arguments() == null || record.arguments().isBlank()
                ? List.of() : List.of(record.arguments().trim().split("\\s+"));
        return new InstanceSpec(record.app(), record.name(), dataDir.resolve(record.name()), brokerOf(app, record.broker()),
                record.queues(), record.min(), record.max(), app.classpath(), app.jvmOptions(), app.env(), arguments);
    }

    private String brokerOf(App app, String instanceBroker) {
        if (instanceBroker != null && !instanceBroker.isEmpty()) return instanceBroker;
        if (app.broker() != null && !app.broker().isEmpty()) return app.broker();
        return brokerUrl;
    }

    /** The add_consumer arguments of a queue name: the app's declaration, or Celery's defaults. */
    private Map<String, Object> queueBinding(String queue) {
        for (String app : store.appNames()) {
            if (store.queue(app, queue).isPresent()) {
                return queueBinding(app, queue);
            }
        }
        return Map.of("queue", queue);
    }

    private Map<String, Object> queueBinding(String app, String queue) {
        CeleryQueue spec = queueSpec(app, queue);
        Map<String, Object> args = new HashMap<>();
        args.put("queue", spec.name());
        args.put("exchange", spec.exchange());
        args.put("exchange_type", spec.exchangeType());
        args.put("routing_key", spec.routingKey());
        return args;
    }

    private CeleryQueue queueSpec(String app, String queue) {
        QueueSpec spec = store.queue(app, queue).orElse(QueueSpec.named(queue));
        return new CeleryQueue(spec.name(), spec.exchange(), spec.exchangeType(), spec.routingKey());
    }

    private TaskProducer producer(String url) {
        return producers.computeIfAbsent(url, u -> {
            try {
                return TaskProducer.connect(u);
            } catch (IOException e) {
                throw new BranchException(502, "cannot reach broker " + BrokerUrl.parse(u).display() + ": " + firstLine(e.getMessage()));
            }
        });
    }

    private static void checkName(String what, String name) {
        String problem = Names.problem(what, name);
        if (problem != null) {
            throw BranchException.invalid(problem);
        }
    }

    private static void checkBounds(int min, int max) {
        if (min < 0 || max < 1 || min > max) {
            throw BranchException.invalid("need 0 <= min <= max and max >= 1, got min=" + min + " max=" + max);
        }
    }

    private static void checkBroker(String url) {
        try {
            BrokerUrl.parse(url);
        } catch (IllegalArgumentException e) {
            throw BranchException.invalid(e.getMessage());
        }
    }

    private static int intField(Object value, String name, int fallback) {
        if (value == null) return fallback;
        if (value instanceof Number n && n.doubleValue() == Math.rint(n.doubleValue())) return n.intValue();
        if (value instanceof String s && s.matches("-?\\d{1,9}")) return Integer.parseInt(s);
        throw BranchException.invalid(name + " must be an integer, got '" + value + "'");
    }

    private static List<String> stringList(Object value, String name) {
        if (value == null) return null;
        if (value instanceof String s) {
            return Stream.of(s.split(",")).map(String::trim).filter(q -> !q.isEmpty()).toList();
        }
        if (value instanceof List<?> list) {
            return list.stream().map(String::valueOf).toList();
        }
        throw BranchException.invalid(name + " must be a list or a comma-separated string");
    }

    private Instance view(InstanceRecord record) {
        InstanceStatus status = supervisor.status(record.name()).orElse(null);
        return new Instance(record.name(), record.app(), config.id(), record.queues(), record.min(), record.max(),
                record.enabled(), BrokerUrl.parse(brokerOf(store.app(record.app()).orElseThrow(), record.broker())).display(),
                "threads", record.arguments(), record.extraConfig(),
                status == null ? InstanceState.STOPPED.name() : status.state().name(),
                status == null ? null : status.pid(), status == null ? 0 : status.restarts(),
                status == null || status.startedAt() == null ? null : status.startedAt().toString(),
                dataDir.resolve(record.name()).toString());
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

    private static String hostname() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "localhost";
        }
    }

    private static String firstLine(String text) {
        return text == null ? "" : text.lines().findFirst().orElse("");
    }
}
