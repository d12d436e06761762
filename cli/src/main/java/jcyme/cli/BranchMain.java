package jcyme.cli;

import java.net.InetAddress;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import jcyme.branch.Branch;
import jcyme.branch.BranchConfig;
import jcyme.branch.ClusterSettings;
import jcyme.http.HttpApi;
import jcyme.http.Tls;
import jcyme.http.RequestGuard;
import jcyme.supervisor.SupervisorSettings;
import jcyme.worker.Logging;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code bin/branch}: the branch daemon of one host. */
@Command(name = "branch", mixinStandardHelpOptions = true, version = "jcyme " + Branch.VERSION, sortOptions = false,
        subcommands = BranchStopCommand.class,
        description = "Run a branch: an HTTP API that defines apps and runs their worker instances as supervised JVMs.")
public final class BranchMain implements Callable<Integer> {

    @Option(names = {"-D", "--data-dir"}, paramLabel = "DIR", description = "Instances, branch.db and the embedded broker's data (default: ${DEFAULT-VALUE}).")
    Path dataDir = Path.of("instances");

    @Option(names = "--bind", paramLabel = "ADDR", description = "HTTP address: host:port, :port or port (default: ${DEFAULT-VALUE}).")
    String bind = "127.0.0.1:8000";

    @Option(names = "--broker", paramLabel = "URL", description = "External broker (e.g. RabbitMQ; default: $JCYME_BROKER_URL, which keeps"
            + " its password off the command line); without either the branch runs the embedded broker.")
    String broker = blankToNull(System.getenv("JCYME_BROKER_URL"));

    @Option(names = "--broker-port", paramLabel = "PORT", description = "Port of the embedded broker (default: ${DEFAULT-VALUE}).")
    int brokerPort = 5672;

    @Option(names = "--id", paramLabel = "ID", description = "Branch id (default: <host>-<http port>).")
    String id;

    @Option(names = "--cluster", paramLabel = "NAME", description = "Cluster to join (default: ${DEFAULT-VALUE}).")
    String cluster = "jcyme";

    @Option(names = "--cluster-bind", paramLabel = "ADDR:PORT",
            description = "Where the cluster channel listens (default: ${DEFAULT-VALUE}; port 0 = any, with multicast discovery).")
    String clusterBind = "127.0.0.1:0";

    @Option(names = "--peers", paramLabel = "HOST:PORT", split = ",",
            description = "Discover branches over TCP from this list (their --cluster-bind), where multicast is blocked.")
    java.util.List<String> peers = java.util.List.of();

    @Option(names = "--cluster-secret", paramLabel = "SECRET",
            description = "Encrypts and authenticates cluster traffic; branches without it cannot join (default: $JCYME_CLUSTER_SECRET,"
                    + " else on loopback the secret in $${XDG_CONFIG_HOME:-~/.config}/jcyme/cluster.secret, made on first start, mode 0600).")
    String clusterSecret = System.getenv("JCYME_CLUSTER_SECRET");

    @Option(names = "--cluster-fd-timeout", paramLabel = "S",
            description = "A branch silent S seconds is dropped from the view (heartbeats every S/4; default: ${DEFAULT-VALUE}).")
    double clusterFdTimeout = 4;

    @Option(names = "--cluster-merge-interval", paramLabel = "S",
            description = "Look for other halves of a split cluster at least every S seconds; a healed split merges within"
                    + " about 1.6*S (default: ${DEFAULT-VALUE}).")
    double clusterMergeInterval = 5;

    @Option(names = "--forward-connect-timeout", paramLabel = "S",
            description = "How long forwarding a request to another branch waits for a connection before a 503 (default: ${DEFAULT-VALUE}).")
    double forwardConnectTimeout = 2;

    @Option(names = "--no-cluster", description = "Run alone: join no cluster.")
    boolean noCluster;

    @Option(names = "--token", paramLabel = "TOKEN", description = "Require 'Authorization: Bearer TOKEN' (default: $JCYME_TOKEN).")
    String token = System.getenv("JCYME_TOKEN");

    @Option(names = "--tls-cert", paramLabel = "FILE",
            description = "Serve HTTPS only, with this certificate chain (PEM, the branch's own first); needs --tls-key.")
    Path tlsCert;

    @Option(names = "--tls-key", paramLabel = "FILE",
            description = "The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1, unencrypted).")
    Path tlsKey;

    @Option(names = "--tls-ca", paramLabel = "FILE",
            description = "Trust these certificates (PEM) when forwarding to other branches over https://"
                    + " (default: the --tls-cert chain and the JVM's trust store).")
    Path tlsCa;

    @Option(names = "--cors-origin", paramLabel = "ORIGIN", description = "Allow browser requests from this origin.")
    String corsOrigin;

    @Option(names = "--allowed-hosts", paramLabel = "HOST", split = ",",
            description = "More host names clients may reach the API by (its Host header; besides localhost, loopback, the bind"
                    + " address and the advertised host). Repeatable.")
    java.util.List<String> allowedHosts = new java.util.ArrayList<>();

    @Option(names = "--max-instances", paramLabel = "N",
            description = "The most instances this branch runs (default: " + jcyme.branch.Limits.MAX_INSTANCES + ").")
    Integer maxInstances;

    @Option(names = "--task-history-max", paramLabel = "N",
            description = "The most tasks the task history (tasks.db) keeps, newest first (default: "
                    + jcyme.branch.TaskHistory.DEFAULT_MAX_TASKS + ").")
    Integer taskHistoryMax;

    @Option(names = "--task-history-age", paramLabel = "DAYS",
            description = "How long the task history keeps a task (default: 7).")
    Double taskHistoryAge;

    @Option(names = "--events-max", paramLabel = "N",
            description = "The most events the event log keeps (default: " + jcyme.branch.EventLog.Bounds.DEFAULT_MAX_EVENTS + ").")
    Long eventsMax;

    @Option(names = "--events-max-age", paramLabel = "AGE",
            description = "The oldest event the event log keeps: 7d, 12h, 30m, 90s or seconds (default: 7d).")
    String eventsMaxAge;

    @Option(names = {"-l", "--loglevel"}, paramLabel = "LEVEL", description = "DEBUG, INFO, WARNING, ERROR (default: ${DEFAULT-VALUE}).")
    String loglevel = "INFO";

    @Option(names = "--sup-interval", paramLabel = "S", description = "Reconcile every S seconds (default: ${DEFAULT-VALUE}).")
    double supInterval = 5;

    @Option(names = "--spare-workers", paramLabel = "N",
            description = "Spare worker JVMs kept ready per app configuration; a new or restarted instance takes one over"
                    + " instead of starting a JVM (0: none; default: ${DEFAULT-VALUE}).")
    int spareWorkers = SupervisorSettings.DEFAULT_SPARE_WORKERS;

    @Option(names = "--start-secs", paramLabel = "S", description = "An instance must stay up S seconds for its start to count (default: ${DEFAULT-VALUE}).")
    double startSecs = 5;

    @Option(names = "--start-timeout", paramLabel = "S", description = "How long STARTING may take before the attempt counts as failed (default: ${DEFAULT-VALUE}).")
    double startTimeout = 60;

    @Option(names = "--setup-timeout", paramLabel = "S",
            description = "How long an app's setup_cmd may run before a start; longer is a failed start (default: ${DEFAULT-VALUE}).")
    double setupTimeout = 60;

    @Option(names = "--start-retries", paramLabel = "N", description = "Quick failures in a row before FATAL (default: ${DEFAULT-VALUE}).")
    int startRetries = 3;

    @Option(names = "--backoff-base", paramLabel = "S", description = "First retry delay, doubling (default: ${DEFAULT-VALUE}).")
    double backoffBase = 1;

    @Option(names = "--backoff-cap", paramLabel = "S", description = "Longest retry delay (default: ${DEFAULT-VALUE}).")
    double backoffCap = 30;

    @Option(names = {"--shutdown-timeout", "--stop-grace"}, paramLabel = "S",
            description = "An instance's warm shutdown time: workers are told it, and a stop lets running tasks finish that long"
                    + " before SIGTERM (default: ${DEFAULT-VALUE}).")
    double shutdownTimeout = 60;

    @Option(names = "--kill-grace", paramLabel = "S", description = "Time after SIGTERM before SIGKILL (default: ${DEFAULT-VALUE}).")
    double killGrace = 10;

    public static void main(String[] args) {
        CommandLine cli = new CommandLine(new BranchMain()).setOverwrittenOptionsAllowed(true);
        cli.setParameterExceptionHandler((e, argv) -> {
            cli.getErr().println("branch: " + e.getMessage());
            return 2;
        });
        int code = cli.execute(args);
        if (code != 0) {
            System.exit(code);
        }
    }

    private static boolean deleted(Path file) {
        try {
            return java.nio.file.Files.deleteIfExists(file);
        } catch (java.io.IOException e) {
            return false;
        }
    }

    /** {@code host:port}, {@code :port} or {@code port}; the host defaults to loopback. */
    record Address(String host, int port) {
        static Address parse(String text) {
            return parse(text, "--bind");
        }

        static Address parse(String text, String option) {
            String host = "127.0.0.1";
            String port = text;
            int colon = text.lastIndexOf(':');
            if (colon >= 0) {
                host = colon == 0 ? host : text.substring(0, colon);
                port = text.substring(colon + 1);
            }
            try {
                int number = Integer.parseInt(port);
                if (number < 0 || number > 65535) throw new NumberFormatException();
                return new Address(host, number);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(option + " must be host:port, :port or port, got '" + text + "'");
            }
        }

        boolean isLoopback() {
            try {
                return InetAddress.getByName(host).isLoopbackAddress();
            } catch (java.io.IOException e) {
                return false;
            }
        }
    }

    @Override
    public Integer call() throws Exception {
        Address address;
        Address channel;
        Tls tls;
        jcyme.branch.ClusterTimings timings;
        try {
            Logging.configure(Logging.level(loglevel), null);
            tls = Tls.load(tlsCert, tlsKey, tlsCa);
            address = Address.parse(bind);
            channel = Address.parse(clusterBind, "--cluster-bind");
            if (channel.host().equals("0.0.0.0") || channel.host().equals("::")) {
                throw new IllegalArgumentException("--cluster-bind needs an address the other branches can reach, not "
                        + channel.host());
            }
            for (String peer : peers) {
                if (!peer.contains(":")) {
                    throw new IllegalArgumentException("--peers entries must be host:port, got '" + peer + "'");
                }
                Address.parse(peer, "--peers entries");
            }
            timings = new jcyme.branch.ClusterTimings(seconds(clusterFdTimeout), seconds(clusterMergeInterval),
                    seconds(forwardConnectTimeout));
            if (!(setupTimeout > 0)) {
                throw new IllegalArgumentException("--setup-timeout must be more than 0 seconds, got " + setupTimeout);
            }
            if (spareWorkers < 0) {
                throw new IllegalArgumentException("--spare-workers must be 0 or more, got " + spareWorkers);
            }
            if (maxInstances != null) {
                if (maxInstances < 0) {
                    throw new IllegalArgumentException("--max-instances must be 0 or more, got " + maxInstances);
                }
                System.setProperty(jcyme.branch.Limits.MAX_INSTANCES_PROPERTY, Integer.toString(maxInstances));
            }
            if (taskHistoryMax != null) {
                if (taskHistoryMax < 0) {
                    throw new IllegalArgumentException("--task-history-max must be 0 or more, got " + taskHistoryMax);
                }
                System.setProperty(jcyme.branch.TaskHistory.MAX_TASKS_PROPERTY, Integer.toString(taskHistoryMax));
            }
            if (taskHistoryAge != null) {
                if (!(taskHistoryAge >= 0)) {
                    throw new IllegalArgumentException("--task-history-age must be 0 days or more, got " + taskHistoryAge);
                }
                System.setProperty(jcyme.branch.TaskHistory.MAX_AGE_PROPERTY, Long.toString(Math.round(taskHistoryAge * 86400)));
            }
            var eventBounds = new jcyme.branch.EventLog.Bounds(
                    eventsMax != null ? eventsMax : jcyme.branch.EventLog.Bounds.DEFAULT_MAX_EVENTS,
                    eventsMaxAge != null ? jcyme.branch.EventLog.Bounds.parseAge(eventsMaxAge) : jcyme.branch.EventLog.Bounds.DEFAULT_MAX_AGE);
            System.setProperty(jcyme.branch.EventLog.Bounds.MAX_EVENTS_PROPERTY, Long.toString(eventBounds.maxEvents()));
            System.setProperty(jcyme.branch.EventLog.Bounds.MAX_AGE_PROPERTY, eventBounds.maxAge().toMillis() / 1000.0 + "s");
        } catch (IllegalArgumentException e) {
            System.err.println("branch: " + e.getMessage());
            return 2;
        }
        if (!address.isLoopback() && (token == null || token.isBlank())) {
            System.err.println("branch: refusing to listen on " + address.host() + " without a token: set --token or JCYME_TOKEN"
                    + " (or bind to 127.0.0.1)");
            return 2;
        }
        if (!noCluster && !channel.isLoopback() && (clusterSecret == null || clusterSecret.isBlank())) {
            System.err.println("branch: refusing to join cluster '" + cluster + "' on " + channel.host() + " without a secret:"
                    + " set --cluster-secret or JCYME_CLUSTER_SECRET (or --no-cluster)");
            return 2;
        }
        String secret = clusterSecret;
        String secretSource = "given";
        if (!noCluster && (secret == null || secret.isBlank())) {
            java.nio.file.Path file = jcyme.branch.ClusterSecret.defaultFile(System.getenv());
            try {
                secret = jcyme.branch.ClusterSecret.readOrCreate(file);
                secretSource = "of this user (" + file + ")";
            } catch (java.io.IOException e) {
                System.err.println("branch: " + e.getMessage());
                return 2;
            }
        }
        Logger log = LoggerFactory.getLogger(BranchMain.class);
        String host = advertisedHost(address, channel);
        RequestGuard guard;
        try {
            guard = RequestGuard.of(address.host(), tls.scheme() + "://" + host + ":" + address.port(), allowedHosts, corsOrigin);
        } catch (IllegalArgumentException e) {
            System.err.println("branch: " + e.getMessage());
            return 2;
        }
        SupervisorSettings settings = new SupervisorSettings(seconds(startSecs), seconds(startTimeout), startRetries,
                seconds(backoffBase), seconds(backoffCap), seconds(shutdownTimeout), seconds(killGrace), seconds(supInterval),
                seconds(setupTimeout)).withSpareWorkers(spareWorkers);
        Path libDir = libDir();
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Branch branch;
        try {
            String branchId = id != null ? id : InetAddress.getLocalHost().getHostName() + "-" + address.port();
            branch = Branch.start(new BranchConfig(branchId, dataDir, broker, brokerPort,
                    tls.scheme() + "://" + host + ":" + address.port(), java, libDir, settings,
                    noCluster ? null : new ClusterSettings(cluster, channel.host() + ":" + channel.port(), peers, secret, secretSource, timings),
                    jcyme.worker.WorkerMain::checkExtraArguments));
        } catch (java.io.IOException | IllegalArgumentException e) {
            System.err.println("branch: " + e.getMessage());
            return 1;
        }
        HttpApi api;
        try {
            api = new HttpApi(branch, token, corsOrigin, guard).start(address.host(), address.port(), tls);
        } catch (RuntimeException e) {
            branch.close();
            System.err.println("branch: cannot listen on " + address.host() + ":" + address.port() + ": " + rootMessage(e));
            return 1;
        }
        Path stopRequest = branch.dataDir().resolve(BranchStopCommand.REQUEST_FILE);
        deleted(stopRequest); // a request left by a stop that never reached a branch
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            if (deleted(stopRequest)) {
                log.info("branch stopping with its instances (asked by 'branch stop')");
                branch.stopInstances();
            } else {
                log.info("branch stopping; instances keep running and are re-adopted at the next start");
            }
            branch.stopReconciling();
            api.close();
            branch.close();
            stopped.countDown();
        }, "branch-shutdown"));
        System.out.println("branch " + branch.id() + " on " + tls.scheme() + "://" + host + ":" + api.port() + " broker "
                + jcyme.tasks.BrokerUrl.parse(branch.brokerUrl()).display() + " instances " + branch.dataDir());
        System.out.println("ready");
        System.out.flush();
        stopped.await();
        return 0;
    }

    /**
     * The host in the URL other branches and clients are given: the bound one; for a wildcard
     * bind, the cluster channel's address (which the other branches reach already), else this
     * host's name.
     */
    private static String advertisedHost(Address http, Address channel) throws java.net.UnknownHostException {
        if (!http.host().equals("0.0.0.0") && !http.host().equals("::")) {
            return http.host();
        }
        return channel.isLoopback() ? InetAddress.getLocalHost().getHostName() : channel.host();
    }

    private static Path libDir() throws URISyntaxException {
        return Path.of(BranchMain.class.getProtectionDomain().getCodeSource().getLocation().toURI()).getParent();
    }

    private static String blankToNull(String value) {
        return value == null || value.isBlank() ? null : value;
    }

    private static Duration seconds(double value) {
        return Duration.ofMillis(Math.round(value * 1000));
    }

    private static String rootMessage(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null) root = root.getCause();
        return root.getMessage() == null ? root.toString() : root.getMessage();
    }
}
