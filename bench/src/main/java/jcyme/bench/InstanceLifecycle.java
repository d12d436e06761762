package jcyme.bench;

import static jcyme.bench.Measure.await;
import static jcyme.bench.Measure.freePort;
import static jcyme.bench.Measure.percentile;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import jcyme.broker.EmbeddedBroker;
import jcyme.tasks.Json;
import jcyme.worker.Logging;

/**
 * A branch's instance lifecycle against the floor of a bare JVM, measured in the same run:
 * POST instance → consuming, kill -9 → consuming again, and idle RSS per instance (and per spare
 * worker the branch keeps). "Consuming" is the branch reporting RUNNING for a worker that is not the
 * killed one and the broker reporting a consumer on the instance's queue, both seen by one poll.
 *
 * Samples are taken one at a time, {@code --gap-ms} apart (default 2000), so that each measures one
 * operation on an otherwise idle branch (a spare worker made after a claim has had time to warm up).
 *
 * <p>Usage: {@code bench/run-lifecycle [--instances N] [--spare-workers N] [--gap-ms MS]}.
 */
public final class InstanceLifecycle {
    private static final HttpClient HTTP = HttpClient.newHttpClient();
    /** How often a start is checked for "consuming" (an HTTP GET and a passive queue declare each time). */
    private static final long POLL_MS = 5;
    private static final List<String> JVM_FLAGS = List.of("-XX:+UseSerialGC", "-Xss512k", "-XX:-UsePerfData");

    private final Path home = Path.of(System.getProperty("jcyme.home", ".")).toAbsolutePath();
    private final Path java = Path.of(System.getProperty("java.home"), "bin", "java");
    private String base;
    private com.rabbitmq.client.Channel amqp;

    public static void main(String[] args) throws Exception {
        Logging.configure(Logging.level("WARNING"), null);
        int instances = 20;
        Integer spares = null;
        long gap = 2_000;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--instances")) {
                instances = Integer.parseInt(args[++i]);
            } else if (args[i].equals("--gap-ms")) {
                gap = Long.parseLong(args[++i]);
            } else if (args[i].equals("--spare-workers")) {
                spares = Integer.parseInt(args[++i]);
            } else {
                System.err.println("usage: bench/run-lifecycle [--instances N] [--spare-workers N] [--gap-ms MS]");
                System.exit(2);
            }
        }
        new InstanceLifecycle(gap).run(instances, spares);
    }

    private final long gap;

    private InstanceLifecycle(long gap) {
        this.gap = gap;
    }

    private void run(int count, Integer spares) throws Exception {
        List<Double> bareStart = new ArrayList<>();
        List<Double> bareRss = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            bareJvm(bareStart, bareRss);
        }
        Path dir = Files.createTempDirectory("jcyme-bench-branch");
        int port = freePort();
        base = "http://127.0.0.1:" + port;
        try (EmbeddedBroker broker = EmbeddedBroker.start(0, null)) {
            List<String> command = new ArrayList<>(List.of(java.toString(), "-XX:+UseSerialGC", "-cp", home.resolve("dist/lib") + "/*",
                    "jcyme.cli.BranchMain", "-D", dir.resolve("instances").toString(), "--bind", Integer.toString(port),
                    "--broker", broker.amqpUrl(), "--start-secs", "1", "--sup-interval", "5", "-l", "WARNING", "--no-cluster"));
            if (spares != null) {
                command.addAll(List.of("--spare-workers", spares.toString()));
            }
            Process branch = new ProcessBuilder(command)
                    .redirectErrorStream(true).redirectOutput(dir.resolve("branch.out").toFile()).start();
            com.rabbitmq.client.ConnectionFactory factory = new com.rabbitmq.client.ConnectionFactory();
            factory.setUri(broker.amqpUrl());
            try (com.rabbitmq.client.Connection connection = factory.newConnection("bench-lifecycle")) {
                amqp = connection.createChannel();
                await(() -> Files.readString(dir.resolve("branch.out")).contains("ready"), 60_000, "branch ready");
                call("PUT", "/bench");
                List<Double> spawn = new ArrayList<>();
                List<Double> answered = new ArrayList<>();
                List<Long> pids = new ArrayList<>();
                for (int i = 0; i < count; i++) {
                    String name = "b" + i;
                    long start = System.nanoTime();
                    call("POST", "/bench/instances/" + name + "?queues=bench-" + i + "&min=1&max=2");
                    answered.add((System.nanoTime() - start) / 1e6);
                    JsonNode running = awaitConsuming(name, "bench-" + i, -1);
                    spawn.add((System.nanoTime() - start) / 1e6);
                    pids.add(running.path("pid").asLong());
                    System.err.print(".");
                    Thread.sleep(gap);
                }
                System.err.println();
                Thread.sleep(5_000);
                List<Double> rss = new ArrayList<>();
                for (long pid : pids) {
                    rss.add(rssMiB(pid));
                }
                List<Double> spareRss = new ArrayList<>();
                for (long pid : processesWith("-Djcyme.spare=", dir)) {
                    spareRss.add(rssMiB(pid));
                }
                List<Double> recovery = new ArrayList<>();
                for (int i = 0; i < count; i++) {
                    String name = "b" + i;
                    long start = System.nanoTime();
                    ProcessHandle.of(pids.get(i)).ifPresent(ProcessHandle::destroyForcibly);
                    awaitConsuming(name, "bench-" + i, pids.get(i));
                    recovery.add((System.nanoTime() - start) / 1e6);
                    System.err.print(".");
                    Thread.sleep(gap);
                }
                System.err.println();
                call("DELETE", "/bench");
                report(count, bareStart, bareRss, spawn, answered, recovery, rss, spareRss);
            } finally {
                branch.destroy();
                branch.waitFor(30, TimeUnit.SECONDS);
            }
        }
    }

    private void bareJvm(List<Double> starts, List<Double> rss) throws Exception {
        List<String> command = new ArrayList<>(List.of(java.toString()));
        command.addAll(JVM_FLAGS);
        command.addAll(List.of("-cp", home.resolve("dist/bench") + "/*", "jcyme.bench.BareJvm"));
        long start = System.nanoTime();
        Process bare = new ProcessBuilder(command).start();
        try (BufferedReader out = new BufferedReader(new InputStreamReader(bare.getInputStream()))) {
            if (!"main".equals(out.readLine())) {
                throw new IllegalStateException("bare JVM did not start");
            }
            starts.add((System.nanoTime() - start) / 1e6);
            Thread.sleep(1_000);
            rss.add(rssMiB(bare.pid()));
        } finally {
            bare.destroyForcibly();
            bare.waitFor();
        }
    }

    private void report(int count, List<Double> bareStart, List<Double> bareRss, List<Double> spawn, List<Double> answered,
                        List<Double> recovery, List<Double> rss, List<Double> spareRss) {
        System.out.printf(Locale.ROOT, "%d instances, one at a time, %d ms apart; floor = a bare JVM (same flags) reaching main;%n", count, gap);
        System.out.printf(Locale.ROOT, "consuming = branch says RUNNING (a new pid) and the broker has a consumer on the queue, polled every %d ms%n", POLL_MS);
        System.out.printf(Locale.ROOT, "%-34s %10s %10s %10s %10s%n", "", "p50", "p95", "floor p50", "ratio p50");
        row("POST instance -> consuming (ms)", spawn, bareStart);
        row("  of which POST -> 201 (ms)", answered, bareStart);
        row("kill -9 -> consuming again (ms)", recovery, bareStart);
        row("idle RSS per instance (MiB)", rss, bareRss);
        System.out.printf(Locale.ROOT, "samples in order (ms): POST %s; kill -9 %s%n", rounded(spawn), rounded(recovery));
        if (spareRss.isEmpty()) {
            System.out.printf(Locale.ROOT, "spare workers: none%n");
        } else {
            row("idle RSS per spare worker (MiB)", spareRss, bareRss);
            System.out.printf(Locale.ROOT, "spare workers: %d, %.0f MiB in all%n", spareRss.size(),
                    spareRss.stream().mapToDouble(Double::doubleValue).sum());
        }
    }

    private static List<Long> rounded(List<Double> values) {
        return values.stream().map(Math::round).toList();
    }

    private static void row(String label, List<Double> values, List<Double> floor) {
        double p50 = percentile(values, 50);
        double floor50 = percentile(floor, 50);
        System.out.printf(Locale.ROOT, "%-34s %10.0f %10.0f %10.0f %10.1f%n", label, p50, percentile(values, 95), floor50, p50 / floor50);
    }

    private JsonNode awaitConsuming(String name, String queue, long notPid) throws Exception {
        JsonNode[] last = new JsonNode[1];
        await(() -> {
            last[0] = call("GET", "/bench/instances/" + name);
            return last[0].path("state").asText().equals("RUNNING") && last[0].path("pid").asLong() != notPid
                    && consumers(queue) > 0;
        }, 60_000, POLL_MS, name + " consuming");
        return last[0];
    }

    private long consumers(String queue) {
        try {
            return amqp.queueDeclarePassive(queue).getConsumerCount();
        } catch (IOException e) {
            throw new IllegalStateException("queue " + queue + ": " + e.getMessage(), e);
        }
    }

    /** Processes with {@code marker} on their command line working under {@code dir} (this run's branch, not another's). */
    private static List<Long> processesWith(String marker, Path dir) throws IOException {
        List<Long> pids = new ArrayList<>();
        try (var procs = Files.list(Path.of("/proc"))) {
            for (Path proc : procs.toList()) {
                if (!proc.getFileName().toString().matches("\\d+")) {
                    continue;
                }
                try {
                    String cmdline = new String(Files.readAllBytes(proc.resolve("cmdline"))).replace('\0', ' ');
                    if (cmdline.contains(marker) && Files.readSymbolicLink(proc.resolve("cwd")).startsWith(dir)) {
                        pids.add(Long.parseLong(proc.getFileName().toString()));
                    }
                } catch (IOException e) {
                    // gone meanwhile
                }
            }
        }
        return pids;
    }

    private JsonNode call(String method, String path) throws IOException, InterruptedException {
        HttpResponse<String> response = HTTP.send(HttpRequest.newBuilder(URI.create(base + path))
                .method(method, HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() >= 300) {
            throw new IllegalStateException(method + " " + path + " -> " + response.statusCode() + " " + response.body());
        }
        return Json.MAPPER.readTree(response.body());
    }

    private static double rssMiB(long pid) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("\\D+", "")) / 1024.0;
            }
        }
        throw new IOException("no VmRSS for " + pid);
    }
}
