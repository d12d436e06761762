package jcyme.bench;

import static jcyme.bench.Measure.await;
import static jcyme.bench.Measure.freePort;
import static jcyme.bench.Measure.percentile;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What a cluster of N branch JVMs (no instances) costs, for growing N: join time, the time for an
 * app change to reach every branch, the latency of a cluster-wide listing, and at idle each
 * branch's CPU, RSS and cluster traffic (from its /metrics). One row per N and discovery mode;
 * docs/scale.md fits a model to the rows.
 *
 * <p>Usage: {@code bench/run-cluster --scale [--sizes 2,4,8,12] [--modes tcp,udp] [--idle SECONDS]}.
 */
final class ClusterScale {
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private static final Pattern JOINED = Pattern.compile("INFO  Cluster: joined cluster .* in (\\d+) ms");
    private static final Pattern COUNTER = Pattern.compile("(?m)^jcyme_cluster_(messages|bytes)_total\\{direction=\"(sent|received)\"} ([0-9.eE+]+)$");
    private static final long TICKS_PER_SECOND = 100;

    private final Path home = Path.of(System.getProperty("jcyme.home", ".")).toAbsolutePath();
    private final String broker;
    private final Path dir;


    private ClusterScale(String broker, Path dir) {
        this.broker = broker;
        this.dir = dir;
    }

    static void main(String broker, String[] args) throws Exception {
        List<Integer> sizes = List.of(2, 4, 8, 12);
        List<String> modes = List.of("tcp", "udp");
        int idle = 10;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--sizes" -> sizes = Arrays.stream(args[++i].split(",")).map(Integer::parseInt).toList();
                case "--modes" -> modes = List.of(args[++i].split(","));
                case "--idle" -> idle = Integer.parseInt(args[++i]);
                default -> {
                    System.err.println("usage: bench/run-cluster --scale [--sizes 2,4,8,12] [--modes tcp,udp] [--idle SECONDS]");
                    System.exit(2);
                }
            }
        }
        ClusterScale bench = new ClusterScale(broker, Files.createTempDirectory("jcyme-bench-scale"));
        System.out.printf(Locale.ROOT, "cluster cost by size: N branch JVMs (no instances), %d s idle window; machine: %d cores, load %s%n",
                idle, Runtime.getRuntime().availableProcessors(), Files.readString(Path.of("/proc/loadavg")).strip());
        System.out.printf(Locale.ROOT, "%-4s %3s %9s %9s %9s %9s %9s %9s %9s %9s %10s%n", "mode", "N", "join ms", "change",
                "list p50", "list max", "cpu %/br", "rss MiB", "msg/s/br", "B/s/br", "msg/s all");
        for (String mode : modes) {
            for (int n : sizes) {
                bench.row(mode, n, idle);
            }
        }
        System.out.println("join ms: the last branch's channel connect until every other branch lists it; change: PUT of an app"
                + " on one branch until all N serve it (p50 of 3, ms); list: GET /<app>/instances on one branch, which asks the"
                + " other N-1 (ms, 20 calls); cpu, rss, msg/s and B/s: per branch at idle (sent + received), msg/s all: the whole cluster's sends");
    }

    private void row(String mode, int n, int idle) throws Exception {
        String cluster = "scale-" + UUID.randomUUID().toString().substring(0, 8);
        List<Integer> ports = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            ports.add(clusterPort());
        }
        List<String> options = mode.equals("tcp")
                ? List.of("--peers", String.join(",", ports.stream().map(p -> "127.0.0.1:" + p).toList())) : List.of();
        List<BranchJvm> members = new ArrayList<>();
        try {
            for (int i = 0; i < n - 1; i += 2) { // two at a time: a 2-core machine starting 11 JVMs at once mostly measures itself
                List<BranchJvm> pair = new ArrayList<>();
                for (int j = i; j < Math.min(i + 2, n - 1); j++) {
                    pair.add(start("b" + j, cluster, ports.get(j), options));
                }
                members.addAll(pair);
                for (BranchJvm member : pair) {
                    awaitReady(member);
                }
            }
            List<BranchJvm> first = List.copyOf(members);
            await(() -> first.stream().allMatch(m -> lists(m, n - 1)), 120_000, (n - 1) + " branches to meet");
            BranchJvm last = start("b" + (n - 1), cluster, ports.get(n - 1), options);
            members.add(last);
            awaitReady(last);
            await(() -> first.stream().allMatch(m -> lists(m, n)), 60_000, "the last branch to be seen");
            long seen = System.nanoTime();
            Matcher joined = JOINED.matcher(Files.readString(last.out()));
            long connectMs = joined.find() ? Long.parseLong(joined.group(1)) : -1;
            long readyToSeen = (seen - readyAt) / 1_000_000;
            double join = connectMs + readyToSeen;

            List<Double> changes = new ArrayList<>();
            for (int k = 0; k < 3; k++) {
                String app = "scale-" + k;
                long start = System.nanoTime();
                if (call(members.get(k % n), "PUT", "/" + app).statusCode() != 201) {
                    throw new IllegalStateException("PUT /" + app + " failed");
                }
                await(() -> members.stream().allMatch(m -> status(m, "/" + app) == 200), 30_000, app + " on every branch");
                changes.add((System.nanoTime() - start) / 1e6);
            }
            List<Double> listings = new ArrayList<>();
            for (int k = 0; k < 20; k++) {
                long start = System.nanoTime();
                call(members.get(0), "GET", "/scale-0/instances");
                listings.add((System.nanoTime() - start) / 1e6);
            }

            Thread.sleep(2000); // let the joins' and changes' gossip settle before the idle window
            long[] before = totals(members);
            long t0 = System.nanoTime();
            Thread.sleep(idle * 1000L);
            long[] after = totals(members);
            double seconds = (System.nanoTime() - t0) / 1e9;
            double cpuPct = (after[0] - before[0]) / (double) TICKS_PER_SECOND / seconds / n * 100;
            double msgs = (after[1] - before[1]) / seconds / n;
            double bytes = (after[2] - before[2]) / seconds / n;
            double sent = (after[3] - before[3]) / seconds;
            double rssMiB = members.stream().mapToLong(m -> rssKiB(m.process().pid())).average().orElse(0) / 1024;
            System.out.printf(Locale.ROOT, "%-4s %3d %9.0f %9.0f %9.1f %9.1f %9.2f %9.0f %9.1f %9.0f %10.1f%n", mode, n, join,
                    percentile(changes, 50), percentile(listings, 50), percentile(listings, 100), cpuPct, rssMiB, msgs, bytes, sent);
        } finally {
            for (BranchJvm member : members) {
                member.process().destroy();
            }
            for (BranchJvm member : members) {
                member.process().waitFor(30, TimeUnit.SECONDS);
            }
        }
    }

    private long readyAt;

    /** Sums over the members: CPU ticks, messages (sent + received), bytes (sent + received), messages sent. */
    private static long[] totals(List<BranchJvm> members) throws IOException, InterruptedException {
        long[] sum = new long[4];
        for (BranchJvm member : members) {
            String[] stat = Files.readString(Path.of("/proc", Long.toString(member.process().pid()), "stat")).split("\\) ", 2)[1].split(" ");
            sum[0] += Long.parseLong(stat[11]) + Long.parseLong(stat[12]);
            Matcher counter = COUNTER.matcher(call(member, "GET", "/metrics").body());
            while (counter.find()) {
                long value = (long) Double.parseDouble(counter.group(3));
                if (counter.group(1).equals("messages")) {
                    sum[1] += value;
                    if (counter.group(2).equals("sent")) {
                        sum[3] += value;
                    }
                } else {
                    sum[2] += value;
                }
            }
        }
        return sum;
    }

    private static long rssKiB(long pid) {
        try {
            return Files.readAllLines(Path.of("/proc", Long.toString(pid), "status")).stream().filter(l -> l.startsWith("VmRSS:"))
                    .mapToLong(l -> Long.parseLong(l.replaceAll("[^0-9]", ""))).findFirst().orElse(0);
        } catch (IOException e) {
            return 0;
        }
    }

    private static boolean lists(BranchJvm member, int count) {
        try {
            return call(member, "GET", "/branches").body().split(",").length == count;
        } catch (Exception e) {
            return false;
        }
    }

    private static int status(BranchJvm member, String path) {
        try {
            return call(member, "GET", path).statusCode();
        } catch (Exception e) {
            return -1;
        }
    }

    private static HttpResponse<String> call(BranchJvm member, String method, String path) throws IOException, InterruptedException {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + member.httpPort() + path))
                .method(method, HttpRequest.BodyPublishers.noBody()).timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private BranchJvm start(String id, String cluster, int clusterPort, List<String> options) throws IOException {
        return BranchJvm.start(home, dir, broker, id, cluster, clusterPort, options);
    }

    private void awaitReady(BranchJvm member) throws Exception {
        await(() -> {
            if (!member.process().isAlive()) {
                throw new IllegalStateException("branch " + member.id() + " exited: " + Files.readString(member.out()));
            }
            return Files.readString(member.out()).contains("\nready");
        }, 300_000, member.id() + " ready");
        readyAt = System.nanoTime();
    }

    /** A free port whose failure-detection neighbour (port + 100) is free too. */
    private static int clusterPort() throws IOException {
        while (true) {
            int port = freePort();
            if (port < 65_000) {
                try (ServerSocket probe = new ServerSocket(port + 100)) {
                    return port;
                } catch (IOException taken) {
                    // try another
                }
            }
        }
    }
}
