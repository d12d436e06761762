package jcyme.bench;

import static jcyme.bench.Measure.await;
import static jcyme.bench.Measure.clusterPort;
import static jcyme.bench.Measure.percentile;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import jcyme.broker.EmbeddedBroker;
import jcyme.worker.Logging;

/**
 * Cluster membership timings with real branch JVMs: two resident branches, and a third that
 * joins and leaves again and again. Join = the joiner's channel connect until both residents
 * list it; failure detection = SIGKILL until both residents dropped it, beside a clean leave
 * (SIGTERM) measured in the same run. Both discovery modes: TCP with a peer list, UDP multicast.
 *
 * <p>Usage: {@code bench/run-cluster [--trials N]} (N joins, N/2 kills and N/2 clean leaves per mode);
 * {@code bench/run-cluster --scale ...} measures the cost by cluster size instead ({@link ClusterScale}).
 */
public final class ClusterMembership {
    private static final HttpClient HTTP = HttpClient.newHttpClient();
    private static final Pattern JOINED = Pattern.compile(
            "\\[([0-9-]+ [0-9:.]+)\\] INFO  Cluster: joined cluster .* in (\\d+) ms");
    private static final DateTimeFormatter LOG_TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss.SSS");

    private final Path home = Path.of(System.getProperty("jcyme.home", ".")).toAbsolutePath();
    private final String broker;
    private final Path dir;

    private ClusterMembership(String broker, Path dir) {
        this.broker = broker;
        this.dir = dir;
    }

    public static void main(String[] args) throws Exception {
        Logging.configure(Logging.level("WARNING"), null);
        int trials = 20;
        if (args.length > 0 && args[0].equals("--scale")) {
            try (EmbeddedBroker broker = EmbeddedBroker.start(0, null)) {
                ClusterScale.main(broker.amqpUrl(), Arrays.copyOfRange(args, 1, args.length));
            }
            return;
        }
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--trials") && i + 1 < args.length) {
                trials = Math.max(2, Integer.parseInt(args[++i]));
            } else {
                System.err.println("usage: bench/run-cluster [--trials N] | --scale [--sizes 2,4,8,12] [--modes tcp,udp] [--idle S]");
                System.exit(2);
            }
        }
        try (EmbeddedBroker broker = EmbeddedBroker.start(0, null)) {
            ClusterMembership bench = new ClusterMembership(broker.amqpUrl(), Files.createTempDirectory("jcyme-bench-cluster"));
            System.out.printf(Locale.ROOT, "%d joins, %d SIGKILLs, %d clean leaves per mode; 2 resident branches + 1 joiner%n",
                    trials, trials / 2, trials - trials / 2);
            System.out.printf(Locale.ROOT, "%-50s %8s %8s %8s%n", "", "p50", "max", "goal");
            for (String mode : List.of("tcp", "udp")) {
                bench.run(mode, trials);
            }
        }
    }

    /** One branch JVM of the cluster, its output in a file. */

    private void run(String mode, int trials) throws Exception {
        String cluster = "bench-" + UUID.randomUUID().toString().substring(0, 8);
        List<Integer> ports = List.of(clusterPort(), clusterPort(), clusterPort());
        String peers = String.join(",", ports.stream().map(p -> "127.0.0.1:" + p).toList());
        List<String> options = mode.equals("tcp") ? List.of("--peers", peers) : List.of();
        List<BranchJvm> residents = new ArrayList<>();
        List<Double> join = new ArrayList<>();
        List<Double> killed = new ArrayList<>();
        List<Double> left = new ArrayList<>();
        try {
            residents.add(start("a", cluster, ports.get(0), options));
            residents.add(start("b", cluster, ports.get(1), options));
            for (BranchJvm resident : residents) {
                awaitReady(resident);
            }
            await(() -> everyoneLists(residents, "a", true) && everyoneLists(residents, "b", true), 30_000, "a and b to meet");
            for (int trial = 0; trial < trials; trial++) {
                BranchJvm joiner = start("c", cluster, ports.get(2), options);
                awaitReady(joiner);
                await(() -> everyoneLists(residents, "c", true), 30_000, "c to be seen");
                long seen = System.currentTimeMillis();
                Matcher joined = JOINED.matcher(Files.readString(joiner.out()));
                if (!joined.find()) {
                    throw new IllegalStateException("no join line in " + joiner.out());
                }
                long connectStart = LocalDateTime.parse(joined.group(1), LOG_TIME).atZone(ZoneId.systemDefault()).toInstant()
                        .toEpochMilli() - Long.parseLong(joined.group(2));
                join.add((double) Math.max(0, seen - connectStart));
                boolean kill = trial % 2 == 0;
                long stop = System.nanoTime();
                if (kill) {
                    joiner.process().destroyForcibly();
                } else {
                    joiner.process().destroy();
                }
                await(() -> everyoneLists(residents, "c", false), 30_000, "c to be dropped");
                (kill ? killed : left).add((System.nanoTime() - stop) / 1e6);
                joiner.process().waitFor(30, TimeUnit.SECONDS);
                System.err.print(".");
            }
            System.err.println();
        } finally {
            for (BranchJvm resident : residents) {
                resident.process().destroy();
                resident.process().waitFor(30, TimeUnit.SECONDS);
            }
        }
        String label = mode.equals("tcp") ? "TCP + peers" : "UDP multicast";
        row(label + ": join -> seen by all (ms)", join, 2000);
        row(label + ": SIGKILL -> dropped by all (ms)", killed, 5000);
        row(label + ": clean leave -> dropped by all (ms)", left, 0);
        System.out.printf(Locale.ROOT, "%-50s %8.1f%n", label + ": SIGKILL / clean leave (p50)",
                percentile(killed, 50) / percentile(left, 50));
    }

    private static void row(String label, List<Double> values, int goal) {
        System.out.printf(Locale.ROOT, "%-50s %8.0f %8.0f %8s%n", label, percentile(values, 50), Collections.max(values),
                goal == 0 ? "at once" : "<= " + goal);
    }

    private BranchJvm start(String id, String cluster, int clusterPort, List<String> options) throws IOException {
        return BranchJvm.start(home, dir, broker, id, cluster, clusterPort, options);
    }

    private static void awaitReady(BranchJvm member) throws Exception {
        await(() -> {
            if (!member.process().isAlive()) {
                throw new IllegalStateException("branch " + member.id() + " exited: " + Files.readString(member.out()));
            }
            return Files.readString(member.out()).contains("\nready");
        }, 60_000, member.id() + " ready");
    }

    private static boolean everyoneLists(List<BranchJvm> residents, String id, boolean listed) throws Exception {
        for (BranchJvm resident : residents) {
            HttpResponse<String> response = HTTP.send(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + resident.httpPort() + "/branches")).build(), HttpResponse.BodyHandlers.ofString());
            if (response.body().contains("\"" + id + "\"") != listed) {
                return false;
            }
        }
        return true;
    }
}
