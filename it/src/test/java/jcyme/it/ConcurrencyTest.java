package jcyme.it;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A storm of concurrent control requests on one branch, then the invariant checked against the
 * machine itself: the live worker processes of the app are exactly its enabled records (each
 * RUNNING one with exactly one process, the pid the API reports), every instance directory has a
 * record, and nothing is left moving.
 *
 * <p>Sizes: {@code -Djcyme.it.concurrency.ops=240 .names=10 .threads=8 .seed=...}.
 */
class ConcurrencyTest {
    static final int OPS = Integer.getInteger("jcyme.it.concurrency.ops", 240);
    static final int NAMES = Integer.getInteger("jcyme.it.concurrency.names", 10);
    static final int THREADS = Integer.getInteger("jcyme.it.concurrency.threads", 8);
    static final String[] KINDS = {"create", "create", "delete", "restart", "enable", "disable", "autoscale", "bind", "unbind"};

    @TempDir
    Path tmp;

    final String app = "cc-" + UUID.randomUUID().toString().substring(0, 8);
    BranchProcess branch;

    @AfterEach
    void cleanUp() throws Exception {
        InstanceAudit.cleanUp(branch, app, tmp, "ConcurrencyTest");
    }

    /** One request of the storm and what came back. */
    record Op(int index, String kind, String name, String method, String path) {}

    static Op op(int index, Random random, String app, String queuePrefix) {
        String kind = KINDS[random.nextInt(KINDS.length)];
        String name = "w" + random.nextInt(NAMES);
        String base = "/" + app + "/instances/" + name;
        String queue = queuePrefix + random.nextInt(3);
        return switch (kind) {
            case "create" -> new Op(index, kind, name, "POST", base + "?queues=" + queuePrefix + "0&min=1&max=2");
            case "delete" -> new Op(index, kind, name, "DELETE", base);
            case "restart", "enable", "disable" -> new Op(index, kind, name, "POST", base + "/" + kind);
            case "autoscale" -> new Op(index, kind, name, "PUT", base + "/autoscale?min=1&max=" + (1 + random.nextInt(2)));
            case "bind" -> new Op(index, kind, name, "PUT", base + "/queues/" + queue);
            case "unbind" -> new Op(index, kind, name, "DELETE", base + "/queues/" + queue);
            default -> throw new IllegalStateException(kind);
        };
    }

    @Test
    void aStormOfConcurrentRequestsLeavesExactlyTheRecordedWorkers() throws Exception {
        long seed = Long.getLong("jcyme.it.concurrency.seed", System.nanoTime());
        System.out.println("ConcurrencyTest seed " + seed + " (-Djcyme.it.concurrency.seed=" + seed + "), " + OPS + " ops over "
                + NAMES + " names, " + THREADS + " threads, app " + app);
        long t0 = System.nanoTime();
        branch = new BranchProcess(tmp.resolve("instances"), "--no-cluster", "--broker-port",
                Integer.toString(BranchProcess.freePort()), "--stop-grace", "2", "--kill-grace", "1").start();
        assertEquals(201, branch.call("PUT", "/" + app).status());

        Random random = new Random(seed);
        List<Op> ops = new ArrayList<>();
        for (int i = 0; i < OPS; i++) {
            ops.add(op(i, random, app, app + "-q"));
        }
        Map<String, Map<Integer, AtomicInteger>> statuses = new ConcurrentHashMap<>();
        List<String> serverErrors = Collections.synchronizedList(new ArrayList<>());
        AtomicInteger next = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(THREADS);
        long stormStart = System.nanoTime();
        for (int t = 0; t < THREADS; t++) {
            pool.execute(() -> {
                for (int i = next.getAndIncrement(); i < ops.size(); i = next.getAndIncrement()) {
                    Op op = ops.get(i);
                    int status;
                    String body;
                    long started = System.nanoTime();
                    try {
                        BranchProcess.Reply reply = branch.call(op.method(), op.path());
                        status = reply.status();
                        body = reply.text();
                    } catch (AssertionError noReply) {
                        status = -1;
                        body = noReply.getMessage();
                    }
                    statuses.computeIfAbsent(op.kind(), k -> new ConcurrentHashMap<>())
                            .computeIfAbsent(status, s -> new AtomicInteger()).incrementAndGet();
                    if (status >= 500 || status < 0) {
                        serverErrors.add("#" + op.index() + " " + op.method() + " " + op.path() + " -> "
                                + (status < 0 ? "no reply" : status) + " after " + (System.nanoTime() - started) / 1_000_000
                                + " ms: " + body.strip());
                    }
                }
            });
        }
        pool.shutdown();
        if (!pool.awaitTermination(5, TimeUnit.MINUTES)) {
            pool.shutdownNow();
            throw new AssertionError("the storm did not end within 5 minutes\n" + branch.log());
        }
        long stormMs = (System.nanoTime() - stormStart) / 1_000_000;
        Map<String, Map<Integer, AtomicInteger>> sorted = new TreeMap<>(statuses);
        System.out.println("ConcurrencyTest storm: " + OPS + " ops in " + stormMs + " ms; statuses by op: " + sorted);

        Map<String, InstanceAudit.Rec> records;
        String consistency = null;
        try {
            records = InstanceAudit.assertConsistent(branch, app, Duration.ofSeconds(90), Duration.ofSeconds(5),
                    "after the storm (seed " + seed + ")");
            System.out.println("ConcurrencyTest after the storm: " + records.values());
        } catch (AssertionError e) {
            consistency = e.getMessage();
            records = Map.of();
        }
        String drift = consistency == null ? liveSettingsDrift(records) : null;
        System.out.println("ConcurrencyTest wall time " + (System.nanoTime() - t0) / 1_000_000 + " ms");

        List<String> failures = new ArrayList<>();
        if (!serverErrors.isEmpty()) {
            failures.add(serverErrors.size() + " request(s) answered 5xx or not at all:\n    " + String.join("\n    ", serverErrors));
        }
        if (consistency != null) {
            failures.add(consistency);
        }
        if (drift != null) {
            failures.add(drift);
        }
        if (!failures.isEmpty()) {
            throw new AssertionError("seed " + seed + ": " + String.join("\n", failures) + "\n--- branch log (tail) ---\n"
                    + tail(branch.log(), 120));
        }
    }

    /**
     * For every RUNNING instance, what its worker does now (queues, autoscale) must match its
     * record once the periodic reconcile had its chance; null when it does.
     */
    private String liveSettingsDrift(Map<String, InstanceAudit.Rec> records) {
        List<String> drift = new ArrayList<>();
        try {
            Wait.until(Duration.ofSeconds(10), "workers to match their records", () -> {
                drift.clear();
                for (InstanceAudit.Rec rec : records.values()) {
                    if (!rec.state().equals("RUNNING")) {
                        continue;
                    }
                    String base = "/" + app + "/instances/" + rec.name();
                    JsonNode record = branch.json("GET", base);
                    Set<String> wanted = new TreeSet<>();
                    record.path("queues").forEach(q -> wanted.add(q.asText()));
                    wanted.add("dq." + rec.name());
                    BranchProcess.Reply queues = branch.call("GET", base + "/queues");
                    Set<String> live = new TreeSet<>();
                    if (queues.status() == 200) {
                        queues.json().fieldNames().forEachRemaining(live::add);
                    }
                    if (!wanted.equals(live)) {
                        drift.add(rec.name() + " consumes " + live + " but its record says " + wanted + " (" + queues.status() + ")");
                    }
                    BranchProcess.Reply stats = branch.call("GET", base + "/stats");
                    int max = stats.status() == 200 ? stats.json().at("/autoscaler/max").asInt() : -1;
                    if (max != record.path("max_concurrency").asInt()) {
                        drift.add(rec.name() + " autoscaler max " + max + " but its record says "
                                + record.path("max_concurrency").asInt() + " (" + stats.status() + ")");
                    }
                }
                return drift.isEmpty();
            });
            return null;
        } catch (AssertionError e) {
            return "live settings drift after the storm: " + drift;
        }
    }

    static String tail(String text, int lines) {
        List<String> all = text.lines().toList();
        return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
    }
}
