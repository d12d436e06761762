package jcyme.branch;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import jcyme.api.App;
import jcyme.api.BranchInfo;
import jcyme.supervisor.ClassArchive;
import jcyme.supervisor.InstanceSpec;
import jcyme.supervisor.Supervisor;
import jcyme.supervisor.WorkerLauncher;
import jcyme.tasks.BrokerUrl;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A branch: boots (store, broker, recovery), wires its rooms — {@link Apps}, {@link Instances},
 * {@link Queues}, {@link Tasks} — and answers for the cluster. The store is the only record of
 * what should run; the {@link Reconciler} makes the supervisor's processes match it. Every
 * refusal is a {@link BranchException} with its HTTP status; a refused request changes nothing.
 */
public final class Branch implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Branch.class);
    public static final String VERSION = "0.1.0";
    /** The JVM options every worker (and spare) of a branch is started with. */
    public static final List<String> WORKER_JVM_OPTIONS = List.of("-XX:+UseSerialGC", "-Xms16m",
            "-Xmx256m", "-Xss512k", "-XX:-UsePerfData", "-Djava.net.preferIPv4Stack=true");

    private final BranchConfig config;
    private final Path dataDir;
    private final DataDirLock lock;
    private final Store store;
    private final BrokerProcess embeddedBroker;
    private final Brokers brokers;
    private final WorkerLauncher launcher;
    private final Supervisor supervisor;
    private final Reconciler reconciler;
    private final ClusterMember member;
    private final Apps apps;
    private final PerBranch perBranch;
    private final Instances instances;
    private final Queues queues;
    private final Tasks tasks;
    private final EventLog events;
    private final TaskHistory taskHistory;
    private final CeleryEventFollower celeryEvents;
    private final Metrics metrics;
    private final Instant startedAt = Instant.now();
    /** Set by {@link #stopInstances}: the branch stops with everything it runs, its embedded broker too. */
    private volatile boolean stoppingEverything;
    private final ScheduledExecutorService housekeeping = Executors.newSingleThreadScheduledExecutor(DaemonThreads.named("branch-housekeeping"));

    private Branch(BranchConfig config, DataDirLock lock, Store store, EventLog events, TaskHistory taskHistory,
                   BrokerProcess embeddedBroker, String brokerUrl) {
        this.config = config;
        this.events = events;
        this.lock = lock;
        this.dataDir = config.dataDir().toAbsolutePath();
        this.store = store;
        this.embeddedBroker = embeddedBroker;
        this.brokers = new Brokers(store, brokerUrl);
        this.taskHistory = taskHistory;
        this.launcher = new WorkerLauncher(config.java(), config.libDir(), WORKER_JVM_OPTIONS,
                config.supervision().shutdownTimeout());
        if (config.supervision().spareWorkers() > 0) {
            launcher.useSpares(dataDir, dataDir.resolve(Instances.SPARES_LOG), config.supervision().spareWorkers());
        }
        Reconciler[] wake = new Reconciler[1];
        SupervisionEvents supervision = new SupervisionEvents(events, name -> wake[0].wake(name));
        this.supervisor = new Supervisor(config.supervision(), launcher, supervision);
        supervision.watch(supervisor);
        this.member = new ClusterMember(config, store, events, this::info, () -> instances().states(),
                app -> {
                    perBranch().converge(app);
                    reconciler().wakeAll();
                });
        Duration settle = config.supervision().warmStopWait().plus(config.supervision().killGrace().multipliedBy(2))
                .plusSeconds(10);
        this.reconciler = new Reconciler(store, supervisor, this::spec, brokers::binding, member::announceInstances, events, settle);
        wake[0] = reconciler;
        this.perBranch = new PerBranch(store, reconciler, events, config.id(), dataDir, member::announceInstances);
        this.apps = new Apps(store, member, reconciler, events, config.id(), perBranch, config.workerArguments(), brokers);
        this.celeryEvents = new CeleryEventFollower(store, brokers, events, taskHistory);
        this.instances = new Instances(store, apps, brokers, supervisor, reconciler, member, events, config.id(), dataDir,
                broker -> celeryEvents.awaitFollowing(broker, Duration.ofSeconds(2)));
        this.queues = new Queues(store, apps, brokers, member, reconciler, config.id());
        this.tasks = new Tasks(apps, brokers, taskHistory);
        this.metrics = new Metrics(store, brokers, instances, member::branches, member::traffic, events);
    }

    /** Opens the store, brings up the broker, re-adopts running instances and starts the rest. */
    public static Branch start(BranchConfig config) throws IOException {
        Path dir = Files.createDirectories(config.dataDir()).toAbsolutePath();
        DataDirLock lock = DataDirLock.take(dir);
        Store store;
        try {
            store = Store.open(dir.resolve("branch.db"));
        } catch (SQLException e) {
            lock.close();
            throw new IOException(dir.resolve("branch.db") + " cannot be read (" + Checks.firstLine(e.getMessage())
                    + "): restore it from a backup, or move it aside to start with no apps; running instances were left"
                    + " untouched");
        }
        EventLog events;
        try {
            events = EventLog.open(dir.resolve("events.db"), config.id(), EventLog.Bounds.fromProperties());
        } catch (IOException e) {
            closeQuietly(store);
            lock.close();
            throw e;
        }
        TaskHistory history;
        try {
            history = TaskHistory.open(dir.resolve("tasks.db"), TaskHistory.Settings.fromSystemProperties());
        } catch (SQLException e) {
            events.close();
            closeQuietly(store);
            lock.close();
            throw new IOException(dir.resolve("tasks.db") + " cannot be read (" + Checks.firstLine(e.getMessage())
                    + "): move it aside to start with an empty task history");
        }
        BrokerProcess embedded = null;
        String brokerUrl = config.broker();
        if (brokerUrl == null) {
            embedded = new BrokerProcess(config.java(), config.libDir(), dir.resolve("broker"), config.brokerPort());
            embedded.ensureRunning();
            brokerUrl = embedded.url();
        } else {
            BrokerUrl.parse(brokerUrl);
        }
        Branch branch = new Branch(config, lock, store, events, history, embedded, brokerUrl);
        branch.prepareClassArchive();
        branch.recover();
        branch.perBranch.convergeAll();
        long interval = config.supervision().interval().toMillis();
        branch.housekeeping.scheduleWithFixedDelay(branch::checkBroker, interval, interval, TimeUnit.MILLISECONDS);
        // also picks up what a change could not do at once (a name still being deleted, the instance limit reached)
        branch.housekeeping.scheduleWithFixedDelay(branch::convergePerBranch, interval, interval, TimeUnit.MILLISECONDS);
        branch.reconciler.sweepEvery(config.supervision().interval());
        branch.celeryEvents.start();
        if (config.cluster() != null) {
            branch.member.join();
        }
        return branch;
    }

    /**
     * Stops and removes the workers of directories no record names (never leave an orphan), then
     * gives every record — tombstones too — a first pass: adopt a running worker, or start, stop or
     * finish deleting it.
     */
    private void recover() {
        Set<String> known = new HashSet<>(store.allInstanceNames());
        try (Stream<Path> entries = Files.list(dataDir)) {
            entries.filter(Files::isDirectory)
                    .filter(d -> !Instances.OWN_ENTRIES.contains(d.getFileName().toString()))
                    .filter(d -> !known.contains(d.getFileName().toString()))
                    .filter(d -> Files.exists(d.resolve("worker.log")) || Files.exists(d.resolve("worker.lock")))
                    .forEach(supervisor::stopOrphan);
        } catch (IOException e) {
            log.warn("could not scan {} for orphans: {}", dataDir, e.getMessage());
        }
        reconciler.settle(List.copyOf(known));
        log.info("recovered {} instance(s) from {}", known.size(), dataDir.resolve("branch.db"));
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
            command.addAll(List.of("-n", queue, "-Q", queue, "--autoscale", "1,1",
                    "--pidfile", training.resolve("worker.pid").toString(), "--logfile", training.resolve("worker.log").toString(),
                    "--statedb", training.resolve("worker.statedb").toString(),
                    "--control-socket", training.resolve("worker.sock").toString(), "--exit-when-ready"));
            archive.create(config.java(), command, WorkerLauncher.environment(Map.of(), brokers.branchBroker()));
            brokers.deleteQueues(List.of(queue, "dq." + queue));
            Supervisor.deleteTree(training);
        });
    }

    private void convergePerBranch() {
        try {
            perBranch.convergeAll();
        } catch (RuntimeException e) {
            log.warn("per_branch instances: {}", e.getMessage());
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

    // ---- the rooms ----------------------------------------------------------------------------

    public Apps apps() {
        return apps;
    }

    public Instances instances() {
        return instances;
    }

    public Queues queues() {
        return queues;
    }

    public Tasks tasks() {
        return tasks;
    }

    /** The branch's event log and live event stream. */
    public EventLog events() {
        return events;
    }

    /** What {@code GET /metrics} shows, and queue depths. */
    public Metrics metrics() {
        return metrics;
    }

    private PerBranch perBranch() {
        return perBranch;
    }

    private Reconciler reconciler() {
        return reconciler;
    }

    public String id() {
        return config.id();
    }

    public String brokerUrl() {
        return brokers.branchBroker();
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

    /** How long forwarding waits to connect to another branch, among the cluster's other timings. */
    public ClusterTimings clusterTimings() {
        return config.cluster() == null ? ClusterTimings.DEFAULTS : config.cluster().timings();
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
            Checks.name("instance", name);
        }
        return member.placeInstance(name, branch, placement);
    }

    /** Instances of the app on branches other than those given, as their owners last told. */
    public List<String> instanceNamesElsewhere(String app, Set<String> answered) {
        return member.instanceNamesElsewhere(app, answered);
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
                config.supervision().interval().toMillis() / 1000.0, store.instances().size(), instances.states(), load, used,
                startedAt.toString());
    }

    /**
     * Stops this branch's workers warm (running tasks finish), all at once, each after the pass
     * under way on it (so none starts past the stop), then stops reconciling: the stop that takes the
     * instances along, and with them the embedded broker when {@link #close} comes. Their records stay
     * as they are, so the next start of the branch starts them again.
     */
    public void stopInstances() {
        stoppingEverything = true;
        int count = supervisor.names().size();
        log.info("stopping {} instance(s) with the branch", count);
        reconciler.stopAll();
        reconciler.close();
        log.info("stopped {} instance(s) with the branch", count);
    }

    /** From now on nothing starts: no reconciling, no worker spawned. The first step of stopping. */
    public void stopReconciling() {
        reconciler.close();
        supervisor.close();
    }

    /**
     * Stops serving: reconciling stops first, so nothing starts from here on; instances and the
     * embedded broker keep running for the next start to adopt (after {@link #stopInstances}, the
     * embedded broker stops last).
     */
    @Override
    public void close() {
        stopReconciling();
        member.close();
        housekeeping.shutdownNow();
        celeryEvents.close();
        taskHistory.close();
        metrics.close();
        brokers.close();
        events.close();
        closeQuietly(store);
        if (stoppingEverything && embeddedBroker != null) {
            embeddedBroker.stop();
        }
        lock.close();
    }

    private static void closeQuietly(Store store) {
        try {
            store.close();
        } catch (SQLException e) {
            log.warn("closing branch.db: {}", e.getMessage());
        }
    }

    // ---- wiring -------------------------------------------------------------------------------

    /** What to run for a record: the app's JVM settings and the instance's own (a deleted app's instance gets none). */
    private InstanceSpec spec(InstanceRecord record) {
        App app = store.app(record.app()).orElse(null);
        List<String> arguments = new java.util.ArrayList<>(app == null ? List.of() : WorkerArguments.split(app.arguments()));
        arguments.addAll(WorkerArguments.split(record.arguments()));
        return new InstanceSpec(record.app(), record.name(), dataDir.resolve(record.name()), brokers.brokerOf(app, record.broker()),
                record.queues(), record.min(), record.max(), app == null ? List.of() : app.classpath(),
                app == null ? List.of() : app.jvmOptions(), app == null ? Map.of() : app.env(), arguments, record.generation(),
                app == null ? null : app.setupCmd(), app == null ? null : app.liveConfigId(), app == null ? null : app.liveConfig());
    }

    private static String hostname() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "localhost";
        }
    }
}
