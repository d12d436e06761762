package jcyme.it;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import jcyme.tasks.TaskRequest;
import jcyme.tasks.TaskState;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Thousands of tasks with results through a branch's instances on its embedded broker while
 * instances are SIGKILLed, the branch is SIGKILLed and started again on the same data directory,
 * and the broker is killed (the branch starts it again). Every task must end SUCCESS (none lost);
 * a task run twice is counted (from the results that arrive and from the workers' "succeeded" log
 * lines) and must stay within what could have been in flight at the kills (prefetch × kills).
 *
 * <p>The tasks go through a {@link TaskFlow}: nothing is republished but a batch whose publish
 * failed (broker down), with the same task ids, and those ids are counted apart.
 *
 * <p>Sizes: {@code -Djcyme.it.chaos.tasks=5000 .instanceKills=10 .branchKills=2 .brokerRestarts=1
 * .instances=3 .seed=...}.
 */
class ChaosTest {
    static final int TASKS = Integer.getInteger("jcyme.it.chaos.tasks", 5000);
    static final int INSTANCE_KILLS = Integer.getInteger("jcyme.it.chaos.instanceKills", 10);
    static final int BRANCH_KILLS = Integer.getInteger("jcyme.it.chaos.branchKills", 2);
    static final int BROKER_RESTARTS = Integer.getInteger("jcyme.it.chaos.brokerRestarts", 1);
    static final int INSTANCES = Integer.getInteger("jcyme.it.chaos.instances", 3);
    /** The branch's --start-secs here, and how long an instance is left up before it is killed. */
    static final String START_SECS = "1";
    static final Duration UP_BEFORE_KILL = Duration.ofMillis(1500);
    private static final Pattern SUCCEEDED = Pattern.compile("task tasks\\.sleep\\[([0-9a-f-]{36})\\] succeeded");

    @TempDir
    Path tmp;

    final String app = "ch-" + UUID.randomUUID().toString().substring(0, 8);
    final String queue = app + "-q";
    BranchProcess branch;
    final List<String> problems = Collections.synchronizedList(new ArrayList<>());
    final List<String> names = new ArrayList<>();
    Random random;
    /** The instances' worker pids as last seen. */
    Map<String, Long> pids;
    int instanceKills;
    int branchKills;
    int brokerRestarts;

    @AfterEach
    void cleanUp() throws Exception {
        InstanceAudit.cleanUp(branch, app, tmp, "ChaosTest");
    }

    @Test
    void everyTaskSucceedsThroughKillsOfInstancesBranchAndBroker() throws Exception {
        long seed = Long.getLong("jcyme.it.chaos.seed", System.nanoTime());
        System.out.println("ChaosTest seed " + seed + " (-Djcyme.it.chaos.seed=" + seed + "), " + TASKS + " tasks, "
                + INSTANCES + " instances, app " + app);
        random = new Random(seed);
        long t0 = System.nanoTime();
        int brokerPort = BranchProcess.freePort();
        branch = new BranchProcess(tmp.resolve("instances"), "--no-cluster", "--broker-port", Integer.toString(brokerPort),
                "--stop-grace", "2", "--kill-grace", "1", "--start-secs", START_SECS).start();
        assertEquals(201, branch.call("PUT", "/" + app).status());
        for (int i = 0; i < INSTANCES; i++) {
            names.add("i" + i);
            assertEquals(201, branch.call("POST", "/" + app + "/instances/i" + i + "?queues=" + queue + "&min=2&max=2").status());
        }
        pids = branch.awaitRunning(app, names, Map.of(), Duration.ofSeconds(90));
        int prefetch = 0;
        for (String name : names) {
            prefetch = Math.max(prefetch, branch.json("GET", "/" + app + "/instances/" + name + "/stats")
                    .at("/consumer/prefetch_count").asInt());
        }

        List<String> events = new ArrayList<>();
        for (int i = 0; i < INSTANCE_KILLS; i++) events.add("instance");
        for (int i = 0; i < BRANCH_KILLS; i++) events.add("branch");
        for (int i = 0; i < BROKER_RESTARTS; i++) events.add("broker");
        Collections.shuffle(events, random);
        TaskFlow flow = new TaskFlow(brokerPort);
        try (flow) {
            flow.sendAmid(events, TASKS, this::sleeps, this::happen, problems);
            flow.awaitReady(Duration.ofSeconds(180), Duration.ofSeconds(30), "after the chaos");
        }

        // ---- accounting ---------------------------------------------------------------------------
        Map<String, Integer> logged = succeededLines(names);
        List<String> lost = new ArrayList<>();
        List<String> resultMissingButRan = new ArrayList<>();
        Map<String, Integer> otherStates = new TreeMap<>();
        int duplicates = 0;
        int duplicatesOfRepublished = 0;
        int duplicateResults = 0;
        for (String id : flow.ids) {
            Map<TaskState, AtomicInteger> got = flow.results.getOrDefault(id, Map.of());
            int ok = got.containsKey(TaskState.SUCCESS) ? got.get(TaskState.SUCCESS).get() : 0;
            got.forEach((state, n) -> {
                if (state != TaskState.SUCCESS) otherStates.merge(state.name(), n.get(), Integer::sum);
            });
            int ran = logged.getOrDefault(id, 0);
            if (ok == 0) {
                (ran > 0 ? resultMissingButRan : lost).add(id);
            }
            duplicateResults += Math.max(0, ok - 1);
            int extra = Math.max(0, Math.max(ok, ran) - 1);
            if (flow.republishedIds.contains(id)) {
                duplicatesOfRepublished += extra;
            } else {
                duplicates += extra;
            }
        }
        int killsWithInFlight = instanceKills + branchKills + brokerRestarts * INSTANCES;
        int bound = prefetch * killsWithInFlight;
        long wall = (System.nanoTime() - t0) / 1_000_000;
        System.out.println("ChaosTest: tasks " + flow.ids.size() + ", instance kills " + instanceKills + ", branch kills " + branchKills
                + ", broker restarts " + brokerRestarts + ", lost " + (lost.size() + resultMissingButRan.size())
                + " (never ran " + lost.size() + ", ran but no result " + resultMissingButRan.size() + ")"
                + ", duplicates " + duplicates + " (bound " + bound + " = prefetch " + prefetch + " x " + killsWithInFlight
                + "; duplicate results " + duplicateResults + ")"
                + ", producer retries " + flow.publishRetries.get() + " (" + flow.republishedIds.size() + " ids, their duplicates "
                + duplicatesOfRepublished + "), other states " + otherStates + ", wall time " + wall + " ms (seed " + seed + ")");

        List<String> failures = new ArrayList<>(problems);
        try {
            InstanceAudit.assertConsistent(branch, app, Duration.ofSeconds(60), Duration.ofSeconds(5), "after the chaos");
        } catch (AssertionError e) {
            failures.add(e.getMessage());
        }
        if (flow.ids.size() != TASKS) {
            failures.add("published " + flow.ids.size() + " of " + TASKS);
        }
        if (!lost.isEmpty()) {
            failures.add(lost.size() + " task(s) lost: never reported SUCCESS and no worker logged them succeeded, e.g. "
                    + lost.subList(0, Math.min(5, lost.size())));
        }
        if (!resultMissingButRan.isEmpty()) {
            failures.add(resultMissingButRan.size() + " task(s) succeeded in a worker's log but their SUCCESS result never arrived,"
                    + " e.g. " + resultMissingButRan.subList(0, Math.min(5, resultMissingButRan.size())));
        }
        if (duplicates > bound) {
            failures.add(duplicates + " duplicate runs, more than the " + bound + " that could have been in flight");
        }
        if (!failures.isEmpty()) {
            throw new AssertionError("seed " + seed + ":\n  - " + String.join("\n  - ", failures)
                    + "\n--- branch log (tail) ---\n" + ConcurrencyTest.tail(branch.log(), 60));
        }
    }

    /** One fault: an instance's worker SIGKILLed, the branch SIGKILLed and started again, or the broker killed. */
    private void happen(String fault) throws Exception {
        switch (fault) {
            case "instance" -> {
                String name = names.get(random.nextInt(names.size()));
                // a worker dying within --start-secs of RUNNING counts as a quick failure (3 make it FATAL):
                // kill only one that has been up longer, as a crash in production would be
                Wait.until(Duration.ofSeconds(30), name + " to be up for " + UP_BEFORE_KILL.toMillis() + " ms",
                        () -> upFor(name).compareTo(UP_BEFORE_KILL) >= 0);
                long pid = branch.json("GET", "/" + app + "/instances/" + name).path("pid").asLong();
                String cmdline = Files.readString(Path.of("/proc", Long.toString(pid), "cmdline")).replace('\0', ' ');
                if (!cmdline.contains("-Djcyme.instance=" + app + "/" + name + " ")) {
                    throw new AssertionError("pid " + pid + " the API gave for " + name + " is not its worker: " + cmdline);
                }
                ProcessHandle.of(pid).orElseThrow().destroyForcibly();
                instanceKills++;
                pids = branch.awaitRunning(app, names, Map.of(name, pid), Duration.ofSeconds(60));
            }
            case "branch" -> {
                branch.kill9();
                branchKills++;
                branch.start();
                Map<String, Long> after = branch.awaitRunning(app, names, Map.of(), Duration.ofSeconds(60));
                for (String name : names) {
                    if (!after.get(name).equals(pids.get(name))) {
                        problems.add("branch restart " + branchKills + " did not re-adopt " + name + ": pid "
                                + pids.get(name) + " -> " + after.get(name));
                    }
                }
                pids = after;
            }
            case "broker" -> {
                branch.restartEmbeddedBroker();
                brokerRestarts++;
                pids = branch.awaitRunning(app, names, Map.of(), Duration.ofSeconds(60));
            }
            default -> throw new IllegalStateException(fault);
        }
    }

    /** How long the instance has been RUNNING (zero when it is not). */
    private Duration upFor(String name) {
        JsonNode instance = branch.json("GET", "/" + app + "/instances/" + name);
        if (!instance.path("state").asText().equals("RUNNING") || !instance.path("started_at").isTextual()) {
            return Duration.ZERO;
        }
        return Duration.between(java.time.Instant.parse(instance.path("started_at").asText()), java.time.Instant.now());
    }

    /** {@code count} short sleeps (5 to 30 ms) on the test's queue. */
    private List<TaskRequest> sleeps(int count) {
        List<TaskRequest> requests = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            double seconds = (5 + random.nextInt(26)) / 1000.0;
            requests.add(TaskRequest.of("tasks.sleep").args(seconds).queue(queue).build());
        }
        return requests;
    }

    /** "succeeded" lines per task id in the workers' logs. */
    private Map<String, Integer> succeededLines(List<String> names) throws IOException {
        Map<String, Integer> counts = new HashMap<>();
        for (String name : names) {
            Path log = branch.dataDir.resolve(name).resolve("worker.log");
            if (!Files.exists(log)) continue;
            try (var lines = Files.lines(log)) {
                lines.forEach(line -> {
                    Matcher m = SUCCEEDED.matcher(line);
                    if (m.find()) counts.merge(m.group(1), 1, Integer::sum);
                });
            }
        }
        return counts;
    }
}
