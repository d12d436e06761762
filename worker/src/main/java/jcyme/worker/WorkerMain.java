package jcyme.worker;

import java.io.IOException;
import java.net.InetAddress;
import java.net.MalformedURLException;
import java.net.URISyntaxException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import jcyme.tasks.BrokerUrl;
import jcyme.tasks.Task;
import jcyme.tasks.Tasks;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import sun.misc.Signal;

/** {@code bin/worker}: one worker instance, with the options of {@code celery worker}. */
@Command(name = "worker", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Consume Celery protocol v2 tasks from an AMQP 0-9-1 broker and run them on an autoscaling thread pool.")
public final class WorkerMain implements Callable<Integer> {
    static final int EXIT_STARTUP_FAILED = 1;
    static final int EXIT_ALREADY_RUNNING = 3;

    @Option(names = {"-b", "--broker"}, paramLabel = "URL",
            description = "Broker URL (default: $JCYME_BROKER_URL, else " + BrokerUrl.DEFAULT + "). A URL with a password is"
                    + " better given in JCYME_BROKER_URL: a command line is visible to every user.")
    String broker;

    @Option(names = {"-Q", "--queues"}, split = ",", paramLabel = "QUEUE", description = "Queues to consume (default: celery).")
    List<String> queues = List.of("celery");

    @Option(names = "--autoscale", paramLabel = "MAX,MIN", description = "Autoscale the pool between MIN and MAX threads.")
    String autoscale;

    @Option(names = {"-c", "--concurrency"}, paramLabel = "N", description = "Fixed pool size (default: number of CPUs).")
    Integer concurrency;

    @Option(names = {"-n", "--hostname"}, paramLabel = "NAME", description = "Node name; %%h, %%n, %%d expand (default: celery@%%h).")
    String hostname = "celery@%h";

    @Option(names = "--pidfile", paramLabel = "FILE", description = "Write the pid here once ready; a sibling .lock keeps out a second copy.")
    Path pidfile;

    @Option(names = {"-f", "--logfile"}, paramLabel = "FILE", description = "Append the log here (default: stderr).")
    Path logfile;

    @Option(names = {"-S", "--statedb"}, paramLabel = "FILE", description = "SQLite file keeping revoked ids and the clock across restarts.")
    Path statedb;

    @Option(names = {"-l", "--loglevel"}, paramLabel = "LEVEL", description = "DEBUG, INFO, WARNING, ERROR or CRITICAL (default: ${DEFAULT-VALUE}).")
    String loglevel = "INFO";

    @Option(names = "--classpath", split = ":", paramLabel = "PATH",
            description = "Extra jars or directories with tasks (default: the demo tasks of examples/).")
    List<Path> classpath = List.of();

    @Option(names = "--prefetch-multiplier", paramLabel = "N", description = "Prefetch = max concurrency x N (default: ${DEFAULT-VALUE}).")
    int prefetchMultiplier = 4;

    @Option(names = "--control-socket", paramLabel = "PATH", description = "Serve remote control on this Unix socket (mode 0600).")
    Path controlSocket;

    @Option(names = "--time-limit", paramLabel = "SECONDS", description = "Default hard time limit per task.")
    Double timeLimit;

    @Option(names = "--soft-time-limit", paramLabel = "SECONDS", description = "Default soft time limit per task (interrupts it).")
    Double softTimeLimit;

    @Option(names = "--recycle-when-stuck", paramLabel = "N",
            description = "Ask the branch for a recycle once N threads are stuck in tasks past their hard limit or terminated; 0: never (default: ${DEFAULT-VALUE}).")
    int recycleWhenStuck = 1;

    @Option(names = "--autoscale-keepalive", paramLabel = "SECONDS",
            description = "Idle time before the pool shrinks (default: $AUTOSCALE_KEEPALIVE or ${DEFAULT-VALUE}).")
    double keepalive = envDouble("AUTOSCALE_KEEPALIVE", 30);

    @Option(names = "--shutdown-timeout", paramLabel = "SECONDS", description = "How long a warm shutdown waits for running tasks (default: ${DEFAULT-VALUE}).")
    double shutdownTimeout = 60;

    @Option(names = "--max-reconnect-delay", paramLabel = "SECONDS", description = "Cap of the reconnect backoff (default: ${DEFAULT-VALUE}).")
    double maxReconnectDelay = 10;

    @Option(names = {"-E", "--task-events"}, description = "Send task events (they can also be enabled later with enable_events).")
    boolean taskEvents;

    @Option(names = "--heartbeat-interval", paramLabel = "SECONDS", description = "worker-heartbeat event interval (default: ${DEFAULT-VALUE}).")
    double heartbeatInterval = 2.0;

    @Option(names = "--ack-window", paramLabel = "N",
            description = "While tasks end fast, prefetch grows by N and acks go out as one multiple ack per N/2 tasks; 0: one ack per task (default: ${DEFAULT-VALUE}).")
    int ackWindow = WorkerConfig.Batching.DEFAULT.ackWindow();

    @Option(names = "--ack-interval", paramLabel = "SECONDS", description = "The longest a finished task's ack waits then (default: ${DEFAULT-VALUE}).")
    double ackInterval = WorkerConfig.Batching.DEFAULT.ackInterval().toMillis() / 1000.0;

    @Option(names = "--event-interval", paramLabel = "SECONDS",
            description = "Task events go out as one task.multi list at most this often; 0: each on its own (default: ${DEFAULT-VALUE}).")
    double eventInterval = WorkerConfig.Batching.DEFAULT.eventInterval().toMillis() / 1000.0;

    @Option(names = {"--purge", "--discard"}, description = "Drop every waiting message of the queues before consuming.")
    boolean purge;

    @Option(names = "--work-dir", paramLabel = "DIR",
            description = "Each task runs in its own DIR/<task-id>/ (default: work/ beside --pidfile, else beside --statedb, else ./work).")
    Path workDir;

    @Option(names = "--scrub-below", paramLabel = "PERCENT",
            description = "Before a task starts, remove the oldest work directories while the disk has less than PERCENT free (default: ${DEFAULT-VALUE}).")
    double scrubBelow = WorkDirs.DEFAULT_SCRUB_BELOW_PERCENT;

    @Option(names = "--scrub-check-interval", paramLabel = "SECONDS",
            description = "Look at the disk's free space at most this often (default: ${DEFAULT-VALUE}).")
    double scrubCheckInterval = WorkDirs.DEFAULT_CHECK_INTERVAL.toMillis() / 1000.0;

    @Option(names = "--config-file", paramLabel = "FILE",
            description = "The app's live configuration at start, {\"config_id\": ..., \"config\": {...}} (default: id initial, empty).")
    Path configFile;

    @Option(names = "--exit-when-ready", hidden = true,
            description = "Stop (warm) as soon as the worker is ready: a training run for a class-data archive.")
    boolean exitWhenReady;

    /** Options a branch gives every worker it starts itself; an app's or instance's extra arguments may not. */
    public static final java.util.Set<String> BRANCH_OPTIONS = java.util.Set.of("--broker", "--hostname", "--queues", "--autoscale",
            "--concurrency", "--pidfile", "--logfile", "--statedb", "--control-socket", "--shutdown-timeout", "--classpath",
            "--config-file", "--work-dir", "--exit-when-ready", "--help", "--version");

    /**
     * Checks extra worker options (an app's or an instance's {@code arguments}) with the worker's
     * own parser, starting nothing: empty when they are fine, else what is wrong with them.
     */
    public static java.util.Optional<String> checkExtraArguments(List<String> arguments) {
        WorkerMain options = new WorkerMain();
        CommandLine cli = new CommandLine(options).setOverwrittenOptionsAllowed(true);
        CommandLine.ParseResult parsed;
        try {
            parsed = cli.parseArgs(arguments.toArray(String[]::new));
        } catch (CommandLine.ParameterException e) {
            return java.util.Optional.of(e.getMessage());
        }
        for (CommandLine.Model.OptionSpec option : parsed.matchedOptions()) {
            if (BRANCH_OPTIONS.contains(option.longestName())) {
                return java.util.Optional.of("option " + String.join("/", option.names()) + " is set by the branch");
            }
        }
        try {
            options.config();
        } catch (IllegalArgumentException e) {
            return java.util.Optional.of(e.getMessage());
        }
        return java.util.Optional.empty();
    }

    /** The broker URL a spare was given when it was claimed; it stands for the environment's. */
    static volatile String claimedBroker;

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the worker to its end; returns the exit code. */
    static int run(String[] args) {
        // an option given twice takes its last value: an instance's arguments come after its app's
        CommandLine cli = new CommandLine(new WorkerMain()).setOverwrittenOptionsAllowed(true);
        cli.setParameterExceptionHandler((e, argv) -> {
            cli.getErr().println("worker: " + e.getMessage());
            cli.getErr().println("Try 'worker --help'.");
            return 2;
        });
        return cli.execute(args);
    }

    @Override
    public Integer call() throws Exception {
        WorkerConfig config;
        LiveConfig.Version initialConfig;
        try {
            Logging.configure(Logging.level(loglevel), logfile);
            config = config();
            initialConfig = LiveConfig.read(configFile);
        } catch (IllegalArgumentException | IOException e) {
            System.err.println("worker: " + e.getMessage());
            return 2;
        }
        Logger log = LoggerFactory.getLogger(WorkerMain.class);
        Map<String, Task> tasks = Prepared.tasks(classpath).orElse(null);
        if (tasks == null) {
            tasks = Tasks.load(taskLoader(classpath));
        }
        Worker worker = new Worker(config, tasks, initialConfig);
        AtomicInteger signals = new AtomicInteger();
        Signal.handle(new Signal("TERM"), signal -> onSignal(worker, signals, "SIGTERM"));
        Signal.handle(new Signal("INT"), signal -> onSignal(worker, signals, "SIGINT"));
        Pidfile pid = null;
        if (pidfile != null) {
            try {
                pid = Pidfile.acquire(pidfile);
            } catch (Pidfile.AlreadyRunningException e) {
                log.error(e.getMessage());
                System.err.println("worker: " + e.getMessage());
                return EXIT_ALREADY_RUNNING;
            }
            worker.announceIn(pid);
        }
        log.info("starting {} (pid {}) with {} task(s): {}", config.nodename(), ProcessHandle.current().pid(),
                tasks.size(), tasks.keySet());
        if (purge) {
            try {
                StartupPurge.Purged purged = StartupPurge.purge(config.broker(), config.queues());
                log.info("purged {} messages from {} queues", purged.messages(), purged.queues());
            } catch (IOException | java.util.concurrent.TimeoutException | RuntimeException e) {
                log.error("--purge failed, not starting: {}", BrokerConsumer.reason(e));
                release(pid);
                return EXIT_STARTUP_FAILED;
            }
        }
        try {
            worker.start();
        } catch (Exception e) {
            Prepared.discard();
            worker.stop(false);
            release(pid);
            if (worker.isStopRequested()) {
                log.info("stopped before it was ready ({})", BrokerConsumer.reason(e));
                return 0;
            }
            log.error("worker failed to start: {}", BrokerConsumer.reason(e), e);
            return EXIT_STARTUP_FAILED;
        }
        Prepared.discard();
        if (exitWhenReady) {
            worker.requestStop();
        }
        worker.awaitStop();
        log.info("{} stopped", config.nodename());
        release(pid);
        return 0;
    }

    /** First signal: warm shutdown (also while starting). A second one: cold shutdown, now. */
    private static void onSignal(Worker worker, AtomicInteger signals, String name) {
        Logger log = LoggerFactory.getLogger(WorkerMain.class);
        if (signals.incrementAndGet() > 1) {
            log.warn("{} again: cold shutdown", name);
            worker.forceStop();
            return;
        }
        log.info("{} received", name);
        worker.requestStop();
    }

    private static void release(Pidfile pid) {
        if (pid != null) {
            pid.release();
        }
    }

    WorkerConfig config() {
        int min;
        int max;
        boolean scaling = autoscale != null;
        if (scaling) {
            String[] parts = autoscale.split(",");
            try {
                max = Integer.parseInt(parts[0].trim());
                min = parts.length > 1 ? Integer.parseInt(parts[1].trim()) : 0;
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--autoscale must be MAX,MIN (two integers), got '" + autoscale + "'");
            }
        } else {
            max = min = concurrency != null ? concurrency : Runtime.getRuntime().availableProcessors();
        }
        String nodename = nodename(hostname);
        String shortName = nodename.contains("@") ? nodename.substring(0, nodename.indexOf('@')) : nodename;
        List<String> queueList = queues.stream().map(String::trim).filter(q -> !q.isEmpty()).toList();
        if (queueList.isEmpty()) {
            throw new IllegalArgumentException("--queues must name at least one queue");
        }
        return new WorkerConfig(BrokerUrl.parse(broker(broker, claimedBroker != null ? claimedBroker : System.getenv(BrokerUrl.ENV))), queueList, nodename, "dq." + shortName, scaling, min, max,
                prefetchMultiplier, pidfile, statedb, controlSocket, classpath, seconds(softTimeLimit),
                seconds(timeLimit), seconds(keepalive), seconds(shutdownTimeout), seconds(maxReconnectDelay), taskEvents,
                seconds(heartbeatInterval), new WorkDirs.Settings(workDir(workDir, pidfile, statedb), scrubBelow, seconds(scrubCheckInterval)),
                new WorkerConfig.Batching(ackWindow, seconds(ackInterval), seconds(eventInterval)), recycleWhenStuck);
    }

    /** {@code --work-dir} when given, else {@code work/} in the instance directory (the pid file's, else the state db's), else {@code ./work}. */
    static Path workDir(Path option, Path pidfile, Path statedb) {
        if (option != null) return option;
        Path beside = pidfile != null ? pidfile : statedb;
        Path instance = beside == null ? null : beside.toAbsolutePath().getParent();
        return instance == null ? Path.of("work") : instance.resolve("work");
    }

    /** The broker URL: {@code -b} when given, else the environment's, else the default. */
    static String broker(String option, String env) {
        if (option != null && !option.isBlank()) return option;
        if (env != null && !env.isBlank()) return env;
        return BrokerUrl.DEFAULT;
    }

    /** Celery's node name rules: a bare name gets {@code @<host>}; %h, %n and %d expand. */
    static String nodename(String pattern) {
        String host = hostName();
        String shortHost = host.contains(".") ? host.substring(0, host.indexOf('.')) : host;
        String domain = host.contains(".") ? host.substring(host.indexOf('.') + 1) : "";
        String name = pattern.contains("@") ? pattern : pattern + "@%h";
        return name.replace("%h", host).replace("%n", shortHost).replace("%d", domain);
    }

    private static String hostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "localhost";
        }
    }

    /** Task classes: the given jars and directories, or the demo tasks when none are given. */
    static ClassLoader taskLoader(List<Path> classpath) throws IOException {
        List<Path> entries = new ArrayList<>(classpath);
        if (entries.isEmpty()) {
            entries.addAll(demoJars());
        }
        List<URL> urls = new ArrayList<>();
        for (Path entry : entries) {
            if (!Files.exists(entry)) {
                throw new IOException("--classpath entry " + entry + " does not exist");
            }
            try {
                urls.add(entry.toUri().toURL());
            } catch (MalformedURLException e) {
                throw new IOException("bad --classpath entry " + entry, e);
            }
        }
        return new URLClassLoader(urls.toArray(URL[]::new), WorkerMain.class.getClassLoader());
    }

    /** {@code examples/*.jar} beside the {@code lib/} this worker runs from, if there is one. */
    private static List<Path> demoJars() throws IOException {
        try {
            Path self = Path.of(WorkerMain.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            Path examples = self.getParent().resolveSibling("examples");
            if (!Files.isDirectory(examples)) {
                return List.of();
            }
            try (Stream<Path> jars = Files.list(examples)) {
                return jars.filter(p -> p.toString().endsWith(".jar")).sorted().toList();
            }
        } catch (URISyntaxException | RuntimeException e) {
            return List.of();
        }
    }

    private static Duration seconds(Double value) {
        return value == null ? null : Duration.ofMillis(Math.round(value * 1000));
    }

    private static double envDouble(String name, double fallback) {
        String value = System.getenv(name);
        try {
            return value == null ? fallback : Double.parseDouble(value);
        } catch (NumberFormatException e) {
            return fallback;
        }
    }
}
