package jcyme.it;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Round after round: a few creates and deletes fired at once, the branch SIGKILLed at a random
 * moment while they run, the branch started again on the same data directory — and then the same
 * invariant as {@link ConcurrencyTest}, by process and directory scan: the restarted branch has
 * re-adopted exactly the recorded workers and stopped and removed everything else.
 *
 * <p>Sizes: {@code -Djcyme.it.crash.rounds=20 .ops=5 .names=5 .maxDelayMs=1500 .seed=...}; the mix of requests:
 * {@code -Djcyme.it.crash.kinds=create,create,delete} (also {@code restart}, {@code enable}, {@code disable}).
 */
class CrashConsistencyTest {
    static final int ROUNDS = Integer.getInteger("jcyme.it.crash.rounds", 20);
    static final int OPS = Integer.getInteger("jcyme.it.crash.ops", 5);
    static final int NAMES = Integer.getInteger("jcyme.it.crash.names", 5);
    static final int MAX_DELAY_MS = Integer.getInteger("jcyme.it.crash.maxDelayMs", 1500);
    /** The requests drawn from (a kind listed twice is drawn twice as often): create, delete, restart, enable, disable. */
    static final List<String> KINDS = List.of(System.getProperty("jcyme.it.crash.kinds", "create,create,delete").split(","));

    @TempDir
    Path tmp;

    final String app = "cr-" + UUID.randomUUID().toString().substring(0, 8);
    BranchProcess branch;

    @AfterEach
    void cleanUp() throws Exception {
        InstanceAudit.cleanUp(branch, app, tmp, "CrashConsistencyTest");
    }

    @Test
    void aBranchKilledMidRequestComesBackWithExactlyTheRecordedWorkers() throws Exception {
        long seed = Long.getLong("jcyme.it.crash.seed", System.nanoTime());
        System.out.println("CrashConsistencyTest seed " + seed + " (-Djcyme.it.crash.seed=" + seed + "), " + ROUNDS + " rounds of "
                + OPS + " ops over " + NAMES + " names, kill within " + MAX_DELAY_MS + " ms, app " + app);
        long t0 = System.nanoTime();
        Random random = new Random(seed);
        branch = new BranchProcess(tmp.resolve("instances"), "--no-cluster", "--broker-port",
                Integer.toString(BranchProcess.freePort()), "--stop-grace", "2", "--kill-grace", "1").start();
        assertEquals(201, branch.call("PUT", "/" + app).status());
        ScheduledExecutorService pool = Executors.newScheduledThreadPool(OPS);
        List<String> summary = new ArrayList<>();
        try {
            for (int round = 1; round <= ROUNDS; round++) {
                List<String> ops = new ArrayList<>();
                for (int i = 0; i < OPS; i++) {
                    String name = "c" + random.nextInt(NAMES);
                    String kind = KINDS.get(random.nextInt(KINDS.size()));
                    ops.add(switch (kind) {
                        case "create" -> "POST /" + app + "/instances/" + name + "?min=1&max=2&queues=" + app + "-q";
                        case "delete" -> "DELETE /" + app + "/instances/" + name;
                        default -> "POST /" + app + "/instances/" + name + "/" + kind;
                    });
                }
                int delay = random.nextInt(MAX_DELAY_MS + 1);
                List<String> outcomes = Collections.synchronizedList(new ArrayList<>());
                List<java.util.concurrent.Future<?>> running = new ArrayList<>();
                for (String op : ops) {
                    String[] parts = op.split(" ", 2);
                    // each request leaves at its own moment before the kill, so some are still in flight when it comes
                    int offset = random.nextInt(delay + 1);
                    running.add(pool.schedule(() -> {
                        String outcome;
                        try {
                            outcome = Integer.toString(branch.call(parts[0], parts[1]).status());
                        } catch (AssertionError noReply) {
                            outcome = "killed";
                        }
                        outcomes.add(parts[0] + " " + parts[1].replaceAll("^/[^/]+/instances/|\\?.*$", "").replace("/", " ") + "@" + offset
                                + "=" + outcome);
                    }, offset, TimeUnit.MILLISECONDS));
                }
                // the moment of the crash is the experiment's variable, drawn from the seed
                Thread.sleep(delay);
                branch.kill9();
                for (var future : running) {
                    future.get(60, TimeUnit.SECONDS);
                }
                long restart = System.nanoTime();
                branch.start();
                String when = "after round " + round + " (seed " + seed + "; kill " + delay + " ms after " + outcomes + ")";
                Map<String, InstanceAudit.Rec> records;
                try {
                    records = InstanceAudit.assertConsistent(branch, app, Duration.ofSeconds(90), Duration.ofSeconds(5), when);
                } catch (AssertionError e) {
                    throw new AssertionError(e.getMessage() + "\n--- branch log before the kill (tail) ---\n"
                            + ConcurrencyTest.tail(previousLog(), 60) + "\n--- branch log after the restart ---\n"
                            + ConcurrencyTest.tail(branch.log(), 80));
                }
                String line = "round " + round + ": kill at " + delay + " ms, " + outcomes + ", back and consistent in "
                        + (System.nanoTime() - restart) / 1_000_000 + " ms: " + records.values();
                System.out.println("CrashConsistencyTest " + line);
                summary.add(line);
            }
        } finally {
            pool.shutdownNow();
            System.out.println("CrashConsistencyTest wall time " + (System.nanoTime() - t0) / 1_000_000 + " ms");
        }
    }

    /** The output of the branch JVM before the last restart. */
    private String previousLog() {
        Path out = branch.out();
        String name = out.getFileName().toString();
        int start = Integer.parseInt(name.replaceAll(".*-branch-(\\d+)\\.out$", "$1"));
        try {
            return Files.readString(out.resolveSibling(name.replaceAll("-branch-\\d+\\.out$", "-branch-" + (start - 1) + ".out")));
        } catch (java.io.IOException e) {
            return "";
        }
    }
}
