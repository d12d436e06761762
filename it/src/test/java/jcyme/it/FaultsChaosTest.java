package jcyme.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CyclicBarrier;
import java.util.function.IntFunction;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import jcyme.tasks.Json;
import jcyme.tasks.TaskRequest;
import jcyme.tasks.TaskResult;
import jcyme.tasks.TaskState;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The faults of one bad day together, on one branch and its embedded broker, while {@code TASKS}
 * short tasks with results ({@code tasks.add}) go through one instance of {@code CONCURRENCY} threads:
 * <ul>
 *   <li>tasks that block where interrupts do not reach ({@code tasks.stall}) run past their hard time limit;</li>
 *   <li>the instance's worker is recycled at least {@code RECYCLES} times (its {@code recycle_after_tasks});</li>
 *   <li>the broker is killed, and the branch starts it again;</li>
 *   <li>the branch is restarted on the same data directory, alternately after {@code branch stop} (warm,
 *       its instances along) while tasks run, and after a SIGKILL;</li>
 *   <li>{@code CLIENTS} clients PUT app fields all along, in rounds where all of them send at once,
 *       each client its own field of one of two apps.</li>
 * </ul>
 * Then: no task is lost (each has a final result: SUCCESS with its sum, or FAILURE TimeLimitExceeded
 * for a stall); the task history shows every task in that final state; after each hard limit the
 * pool runs {@code CONCURRENCY} tasks at once again (probe sleeps that overlap, by the history's
 * start and finish times); and GET shows each client's last PUT.
 *
 * <p>Events sent while no branch follows the broker are not seen (as with Flower, see the README's
 * task history), so before the broker or the branch is killed the test waits until every task
 * published has its result and the history has caught up, and afterwards until the branch follows
 * the events again. A warm {@code branch stop} needs no such care: the branch follows the events
 * until its workers have stopped, and its next start follows them before it starts a worker.
 *
 * <p>Sizes: {@code -Djcyme.it.faults.tasks=5000 .stalls=3 .recycles=3 .recycleAfterTasks=...
 * .brokerRestarts=1 .branchRestarts=2 .clients=20 .concurrency=2 .seed=...}.
 */
class FaultsChaosTest {
    static final int TASKS = Integer.getInteger("jcyme.it.faults.tasks", 5000);
    static final int STALLS = Integer.getInteger("jcyme.it.faults.stalls", 3);
    static final int RECYCLES = Integer.getInteger("jcyme.it.faults.recycles", 3);
    /**
     * Tasks a worker runs before it is recycled: small enough that the tasks drive at least RECYCLES
     * recycles, though the old worker goes on consuming until its replacement answers, and a
     * {@code branch stop} starts the count again.
     */
    static final int RECYCLE_AFTER_TASKS = Integer.getInteger("jcyme.it.faults.recycleAfterTasks", TASKS / (RECYCLES + 3));
    static final int BROKER_RESTARTS = Integer.getInteger("jcyme.it.faults.brokerRestarts", 1);
    static final int BRANCH_RESTARTS = Integer.getInteger("jcyme.it.faults.branchRestarts", 2);
    static final int CLIENTS = Integer.getInteger("jcyme.it.faults.clients", 20);
    static final int CONCURRENCY = Integer.getInteger("jcyme.it.faults.concurrency", 2);
    /** The stalls' hard time limit. */
    static final Duration HARD_LIMIT = Duration.ofSeconds(1);
    /** How long a stall blocks: far past its hard limit, and over well within the test. */
    static final double STALL_SECONDS = 15;
    /** How long each probe task sleeps: CONCURRENCY of them run at once on a full pool. */
    static final double PROBE_SECONDS = 1;
    /** Probes tried after a hard limit before the pool counts as not back at full size. */
    static final int PROBE_ATTEMPTS = 3;
    /** The pause between two rounds of PUTs. */
    static final Duration PUT_ROUND_PAUSE = Duration.ofSeconds(1);
    /** The pause before a PUT that got no answer is sent again. */
    static final Duration PUT_RETRY_PAUSE = Duration.ofMillis(100);
    /** How long one PUT is tried again (the branch may be restarting) before the client gives up. */
    static final Duration PUT_PATIENCE = Duration.ofSeconds(90);
    /** How long the history may stand still before it counts as caught up (or as never going to). */
    static final Duration HISTORY_SETTLE = Duration.ofSeconds(5);
    /** The largest pool an app may ask for (Limits). */
    static final int MAX_CONCURRENCY = 256;
    /** What a client PUTs in round r of each field: every value valid at any moment, none changing what the tasks do. */
    static final Map<String, IntFunction<Object>> FIELDS = Map.of(
            "arguments", r -> "--autoscale-keepalive " + (r + 1),
            "extra_config", r -> Map.of("round", r),
            "jvm_options", r -> List.of("-Djcyme.it.round=" + r),
            "env", r -> Map.of("JCYME_IT_ROUND", Integer.toString(r)),
            "setup_cmd", r -> ": round " + r,
            "default_queues", r -> List.of("round-" + r),
            "min_concurrency", r -> 1 + r % (MAX_CONCURRENCY / 2),
            "max_concurrency", r -> MAX_CONCURRENCY / 2 + 1 + r % (MAX_CONCURRENCY / 2),
            "recycle_above_rss_kib", r -> 1_000_000_000L + r,
            "recycle_after_tasks", r -> 1_000_000_000L + r);

    @TempDir
    Path tmp;

    final String app = "fc-" + UUID.randomUUID().toString().substring(0, 8);
    /** A second app, so that every client has a field of its own. */
    final String otherApp = app + "-b";
    final String queue = app + "-q";
    final String instance = "w1";
    BranchProcess branch;
    TaskFlow flow;
    final List<String> problems = Collections.synchronizedList(new ArrayList<>());
    /** The sum each tasks.add must return, by task id. */
    final Map<String, Long> sums = new HashMap<>();
    final List<String> stalls = new ArrayList<>();
    final List<String> probes = new ArrayList<>();
    final AppClients clients = new AppClients();

    @AfterEach
    void cleanUp() throws Exception {
        clients.stop();
        if (flow != null) {
            flow.close();
        }
        InstanceAudit.cleanUp(branch, app, tmp, "FaultsChaosTest");
        Path log = tmp.resolve("instances").resolve(instance).resolve("worker.log");
        if (Files.exists(log)) {
            Files.copy(log, Path.of("target", "it-logs", "FaultsChaosTest", "worker.log"), StandardCopyOption.REPLACE_EXISTING);
        }
    }

    @Test
    void noTaskIsLostAndEveryPromiseIsKeptThroughHardLimitsRecyclesRestartsAndConcurrentPuts() throws Exception {
        long seed = Long.getLong("jcyme.it.faults.seed", System.nanoTime());
        System.out.println("FaultsChaosTest seed " + seed + " (-Djcyme.it.faults.seed=" + seed + "), " + TASKS + " tasks, app " + app);
        Random random = new Random(seed);
        long t0 = System.nanoTime();
        int brokerPort = BranchProcess.freePort();
        branch = new BranchProcess(tmp.resolve("instances"), "--no-cluster", "--broker-port", Integer.toString(brokerPort),
                "--shutdown-timeout", "3", "--kill-grace", "1", "--start-secs", "1").start();
        for (String each : List.of(app, otherApp)) {
            // the largest max_concurrency: every min_concurrency a client sends is valid, whatever max it meets
            assertEquals(201, branch.call("PUT", "/" + each, "{\"max_concurrency\": " + MAX_CONCURRENCY + "}").status());
        }
        BranchProcess.Reply created = branch.call("POST", "/" + app + "/instances/" + instance, Json.MAPPER.writeValueAsString(Map.of(
                "queues", List.of(queue), "min", CONCURRENCY, "max", CONCURRENCY, "recycle_after_tasks", RECYCLE_AFTER_TASKS)));
        assertEquals(201, created.status(), created.text());
        branch.awaitRunning(app, List.of(instance), Map.of(), Duration.ofSeconds(90));
        clients.start();

        List<String> events = new ArrayList<>();
        for (int i = 0; i < STALLS; i++) events.add("stall");
        for (int i = 0; i < BROKER_RESTARTS; i++) events.add("broker");
        for (int i = 0; i < BRANCH_RESTARTS; i++) events.add(i % 2 == 0 ? "branch stop" : "branch kill");
        Collections.shuffle(events, random);
        System.out.println("FaultsChaosTest faults " + events);
        flow = new TaskFlow(brokerPort);
        flow.sendAmid(events, TASKS, this::sums, fault -> {
            step(t0, fault + " (" + flow.ready() + " tasks done)");
            switch (fault) {
                case "stall" -> stallPastItsHardLimit();
                case "broker" -> restartBroker();
                case "branch stop" -> stopAndStartBranch();
                case "branch kill" -> killAndStartBranch();
                default -> throw new IllegalStateException(fault);
            }
        }, problems);
        step(t0, "all " + TASKS + " sums sent");
        flow.awaitReady(Duration.ofSeconds(120), Duration.ofSeconds(30), "after the faults");
        clients.stop();
        step(t0, "every task has its result, the PUTs have stopped");
        awaitHistoryCaughtUp("at the end");
        long wall = (System.nanoTime() - t0) / 1_000_000;

        List<String> failures = new ArrayList<>(problems);
        failures.addAll(wrongResults());
        failures.addAll(wrongHistory());
        failures.addAll(clients.lostPuts());
        awaitNoRecycleUnderWay();
        List<String> recycles = recycles();
        if (recycles.size() < RECYCLES) {
            failures.add(recycles.size() + " recycle(s) of " + instance + ", wanted at least " + RECYCLES + ": " + recycles);
        }
        try {
            InstanceAudit.assertConsistent(branch, app, Duration.ofSeconds(60), Duration.ofSeconds(5), "after the faults");
        } catch (AssertionError e) {
            failures.add(e.getMessage());
        }
        System.out.println("FaultsChaosTest: tasks " + flow.ids.size() + " (" + sums.size() + " sums, " + stalls.size() + " stalls, "
                + probes.size() + " probes), with a final result " + flow.ready() + ", recycles " + recycles
                + ", PUT rounds " + clients.rounds() + ", producer retries " + flow.publishRetries.get()
                + ", wall time " + wall + " ms (seed " + seed + ")");
        if (!failures.isEmpty()) {
            throw new AssertionError("seed " + seed + ":\n  - " + String.join("\n  - ", failures)
                    + "\n--- branch log (tail) ---\n" + ConcurrencyTest.tail(branch.log(), 60));
        }
    }

    /** One line on what the test is doing, with the time since it began. */
    private static void step(long t0, String what) {
        System.out.printf("FaultsChaosTest +%.1f s: %s%n", (System.nanoTime() - t0) / 1e9, what);
    }

    /** {@code count} tasks.add calls on the test's queue, their sums noted. */
    private List<TaskRequest> sums(int count) {
        List<TaskRequest> requests = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            long x = sums.size();
            TaskRequest request = TaskRequest.of("tasks.add").args(x, x).queue(queue).build();
            sums.put(request.id(), 2 * x);
            requests.add(request);
        }
        return requests;
    }

    // ---- the faults -----------------------------------------------------------------------------

    /**
     * A task blocked where interrupts do not reach runs past its hard limit: it must fail with
     * TimeLimitExceeded, and the pool must then run CONCURRENCY tasks at once again.
     */
    private void stallPastItsHardLimit() {
        TaskRequest stall = TaskRequest.of("tasks.stall").args(STALL_SECONDS).queue(queue).timeLimits(HARD_LIMIT, null).build();
        stalls.add(stall.id());
        flow.publish(List.of(stall));
        try {
            Wait.until(Duration.ofSeconds(60), "stall " + stall.id() + " to end", () -> flow.firstReady.containsKey(stall.id()));
        } catch (AssertionError late) {
            problems.add("stall " + stalls.size() + " " + stall.id() + " had no result 60 s after it was sent");
            return;
        }
        List<Integer> atOnce = new ArrayList<>();
        for (int attempt = 0; attempt < PROBE_ATTEMPTS; attempt++) {
            int running = runningAtOnce(probe());
            atOnce.add(running);
            if (running >= CONCURRENCY) {
                return;
            }
        }
        problems.add("the pool is not back at full size after stall " + stalls.size() + "'s hard limit: " + CONCURRENCY
                + " probe sleeps of " + PROBE_SECONDS + " s ran at most " + atOnce + " at once in " + PROBE_ATTEMPTS + " tries");
    }

    /** CONCURRENCY sleeps, sent together and awaited; their ids. */
    private List<String> probe() {
        List<TaskRequest> sleeps = new ArrayList<>();
        for (int i = 0; i < CONCURRENCY; i++) {
            sleeps.add(TaskRequest.of("tasks.sleep").args(PROBE_SECONDS).queue(queue).build());
        }
        List<String> ids = sleeps.stream().map(TaskRequest::id).toList();
        probes.addAll(ids);
        flow.publish(sleeps);
        Wait.until(Duration.ofSeconds(60), "probe sleeps " + ids + " to end", () -> ids.stream().allMatch(flow.firstReady::containsKey));
        return ids;
    }

    /** The most of these tasks that ran at the same moment, by their start and finish in the history (0 when it lacks one). */
    private int runningAtOnce(List<String> ids) {
        List<JsonNode> rows = new ArrayList<>();
        try {
            Wait.until(Duration.ofSeconds(10), "the history to have " + ids + " finished", () -> {
                rows.clear();
                for (String id : ids) {
                    BranchProcess.Reply reply = branch.call("GET", "/" + app + "/tasks/" + id);
                    if (reply.status() != 200 || !reply.json().path("finished").isTextual() || !reply.json().path("started").isTextual()) {
                        return false;
                    }
                    rows.add(reply.json());
                }
                return true;
            });
        } catch (AssertionError missing) {
            problems.add("the history has no start and finish for probe sleeps " + ids);
            return 0;
        }
        record Edge(Instant at, int change) {}
        List<Edge> edges = new ArrayList<>();
        for (JsonNode row : rows) {
            edges.add(new Edge(Instant.parse(row.path("started").asText()), 1));
            edges.add(new Edge(Instant.parse(row.path("finished").asText()), -1));
        }
        edges.sort(Comparator.comparing(Edge::at).thenComparingInt(Edge::change));
        int running = 0;
        int most = 0;
        for (Edge edge : edges) {
            running += edge.change();
            most = Math.max(most, running);
        }
        return most;
    }

    private void restartBroker() throws IOException {
        drain("before the broker is killed");
        int following = followingLines();
        branch.restartEmbeddedBroker();
        branch.awaitRunning(app, List.of(instance), Map.of(), Duration.ofSeconds(60));
        awaitFollowing(following + 1, "after the broker restart");
    }

    /** {@code branch stop} (warm, with the instance) while tasks run, then a start on the same data directory. */
    private void stopAndStartBranch() throws Exception {
        long pid = branch.json("GET", "/" + app + "/instances/" + instance).path("pid").asLong();
        BranchProcess.Reply stop = branch.stopWithInstances();
        if (stop.status() != 0) {
            problems.add("branch stop exited " + stop.status() + ": " + stop.text());
        }
        branch.start();
        branch.awaitRunning(app, List.of(instance), Map.of(instance, pid), Duration.ofSeconds(60));
    }

    /** A SIGKILL of the branch, then a start on the same data directory: it adopts the worker that kept running. */
    private void killAndStartBranch() throws Exception {
        drain("before the branch is killed");
        awaitNoRecycleUnderWay();
        long pid = branch.json("GET", "/" + app + "/instances/" + instance).path("pid").asLong();
        branch.kill9();
        branch.start();
        long after = branch.awaitRunning(app, List.of(instance), Map.of(), Duration.ofSeconds(60)).get(instance);
        if (after != pid) {
            problems.add("the restarted branch did not adopt " + instance + ": pid " + pid + " -> " + after);
        }
        awaitFollowing(1, "after the branch restart");
    }

    /**
     * Waits until the instance has one worker, for a recycle under way to end: one that a kill
     * would cut short leaves the newer worker to be adopted, one at the end is yet to be counted.
     */
    private void awaitNoRecycleUnderWay() {
        String marker = "-Djcyme.instance=" + app + "/" + instance + " ";
        Wait.until(Duration.ofSeconds(60), "one worker for " + instance + " (no recycle under way)",
                () -> BranchProcess.processesWith(marker).size() == 1);
    }

    /** Waits until every task sent has its result and the history has caught up with them. */
    private void drain(String when) {
        flow.awaitReady(Duration.ofSeconds(90), Duration.ofSeconds(30), when);
        awaitHistoryCaughtUp(when);
    }

    /** Waits until the history has as many finished tasks as have results, or it stands still; a shortfall is a problem. */
    private void awaitHistoryCaughtUp(String when) {
        long[] last = {-1, System.nanoTime()};
        try {
            Wait.until(Duration.ofSeconds(60), "the history to catch up " + when, () -> {
                long finished = historyTotal("q=" + encode("state:SUCCESS,FAILURE"));
                if (finished != last[0]) {
                    last[0] = finished;
                    last[1] = System.nanoTime();
                }
                return finished >= flow.ready() || System.nanoTime() - last[1] > HISTORY_SETTLE.toNanos();
            });
        } catch (AssertionError stillMoving) {
            // the final check says what is missing
        }
        if (last[0] < flow.ready()) {
            problems.add("the history has " + last[0] + " finished tasks " + when + ", but " + flow.ready() + " have a final result");
        }
    }

    /** How many times the branch (since its last start) has logged that it follows the broker's events. */
    private int followingLines() {
        return (int) branch.log().lines().filter(line -> line.contains("following the Celery events of")).count();
    }

    private void awaitFollowing(int lines, String when) {
        Wait.until(Duration.ofSeconds(60), "the branch to follow the Celery events " + when, () -> followingLines() >= lines, branch::log);
    }

    // ---- what is checked at the end ---------------------------------------------------------------

    /** Tasks without a final result, and final results that are not what the task must end with. */
    private List<String> wrongResults() {
        List<String> lost = new ArrayList<>();
        List<String> wrong = new ArrayList<>();
        for (String id : flow.ids) {
            TaskResult result = flow.firstReady.get(id);
            if (result == null) {
                lost.add(id);
                continue;
            }
            String expected = expectedResult(id);
            String got = result.state() + " " + (result.state() == TaskState.FAILURE ? result.error().type()
                    : result.state() == TaskState.SUCCESS && probes.contains(id) ? result.result().asDouble() : result.result());
            if (!got.equals(expected)) {
                wrong.add(id + ": " + got + ", wanted " + expected);
            }
        }
        List<String> found = new ArrayList<>();
        if (!lost.isEmpty()) {
            found.add(lost.size() + " task(s) lost (no final result), e.g. " + lost.subList(0, Math.min(5, lost.size())));
        }
        if (!wrong.isEmpty()) {
            found.add(wrong.size() + " task(s) with a wrong final result, e.g. " + wrong.subList(0, Math.min(5, wrong.size())));
        }
        return found;
    }

    private String expectedResult(String id) {
        if (sums.containsKey(id)) {
            return "SUCCESS " + sums.get(id);
        }
        return probes.contains(id) ? "SUCCESS " + PROBE_SECONDS : "FAILURE TimeLimitExceeded";
    }

    /**
     * Where the task history is not one row per task, in its right final state, under its name:
     * SUCCESS for the sums and the probes, FAILURE TimeLimitExceeded for the stalls.
     */
    private List<String> wrongHistory() {
        List<String> found = new ArrayList<>();
        long rows = historyTotal("");
        if (rows != flow.ids.size()) {
            found.add("the history has " + rows + " tasks, " + flow.ids.size() + " were sent");
        }
        Map<String, Long> wanted = Map.of("state=SUCCESS", (long) sums.size() + probes.size(), "state=FAILURE", (long) stalls.size(),
                "state=SUCCESS&name=tasks.add", (long) sums.size(), "state=SUCCESS&name=tasks.sleep", (long) probes.size(),
                "state=FAILURE&name=tasks.stall", (long) stalls.size());
        wanted.forEach((filter, count) -> {
            long got = historyTotal(filter);
            if (got != count) {
                found.add("the history has " + got + " tasks with " + filter + ", wanted " + count);
            }
        });
        JsonNode unfinished = branch.json("GET", "/" + app + "/tasks?limit=5&q=" + encode("state:PENDING,RECEIVED,STARTED,RETRY,REVOKED,REJECTED"));
        if (unfinished.path("total").asLong() > 0) {
            List<String> examples = new ArrayList<>();
            unfinished.path("tasks").forEach(t -> examples.add(t.path("id").asText() + " " + t.path("state").asText() + " on "
                    + t.path("worker").asText()));
            found.add(unfinished.path("total").asLong() + " task(s) not in a final state in the history, e.g. " + examples);
        }
        for (String id : stalls) {
            BranchProcess.Reply detail = branch.call("GET", "/" + app + "/tasks/" + id);
            if (detail.status() != 200 || !detail.json().path("exception").asText().contains("TimeLimitExceeded")) {
                found.add("stall " + id + " in the history: " + detail.status() + " " + detail.text());
            }
        }
        List<String> misnamed = found.isEmpty() ? List.of() : misnamedSums();
        if (!misnamed.isEmpty()) {
            found.add("sums not SUCCESS under their name in the history, e.g. " + misnamed);
        }
        return found;
    }

    /** A few sums whose history row is missing or not SUCCESS under the name tasks.add, with the events the history has of them. */
    private List<String> misnamedSums() {
        List<String> examples = new ArrayList<>();
        for (String id : sums.keySet()) {
            BranchProcess.Reply detail = branch.call("GET", "/" + app + "/tasks/" + id);
            JsonNode row = detail.status() == 200 ? detail.json() : null;
            if (row == null || !row.path("state").asText().equals("SUCCESS") || !row.path("name").asText().equals("tasks.add")) {
                List<String> events = new ArrayList<>();
                if (row != null) {
                    row.path("events").forEach(e -> events.add(e.path("type").asText() + " " + e.path("hostname").asText() + " at "
                            + Instant.ofEpochMilli(Math.round(e.path("timestamp").asDouble() * 1000))));
                }
                examples.add(id + ": " + (row == null ? detail.status() + " " + detail.text()
                        : row.path("state").asText() + " name " + row.path("name") + ", events " + events));
                if (examples.size() == 3) {
                    break;
                }
            }
        }
        return examples;
    }

    private long historyTotal(String filter) {
        return branch.json("GET", "/" + app + "/tasks?limit=1" + (filter.isEmpty() ? "" : "&" + filter)).path("total").asLong();
    }

    /**
     * The recycles of the instance whose replacement answered, by the branch's log lines: an
     * {@code instance.recycle} event recorded just before a SIGKILL of the branch can be lost
     * (the event log writes in batches), and a recycle cut short by a branch stop or kill has none.
     */
    private List<String> recycles() {
        Pattern replaced = Pattern.compile("instance " + Pattern.quote(instance) + ": recycle: (pid \\d+ answered ping; draining pid \\d+)");
        return branch.logs().lines().map(replaced::matcher).filter(Matcher::find).map(m -> m.group(1)).toList();
    }

    private static String encode(String text) {
        return URLEncoder.encode(text, StandardCharsets.UTF_8).replace("+", "%20");
    }

    // ---- the clients PUTting the apps -------------------------------------------------------------

    /**
     * CLIENTS threads, each PUTting one field of one of the two apps, a new value every round; all
     * of them send at the same moment (a barrier), one round every PUT_ROUND_PAUSE, until stopped. A
     * PUT that gets no answer (the branch is restarting) is sent again until it is answered; one
     * refused, or unanswered for PUT_PATIENCE, is noted and the client goes on with the next round.
     */
    final class AppClients {
        private final List<Thread> threads = new ArrayList<>();
        /** The last value each client's PUT was answered 2xx for, by "app field". */
        private final Map<String, Object> lastAccepted = new ConcurrentHashMap<>();
        private final CyclicBarrier round = new CyclicBarrier(CLIENTS, this::betweenRounds);
        private volatile boolean stopping;
        private volatile boolean stopped;
        private int rounds;

        void start() {
            List<String> fields = List.copyOf(new java.util.TreeSet<>(FIELDS.keySet()));
            assertTrue(CLIENTS <= 2 * fields.size(), "at most " + 2 * fields.size() + " clients: one per field of each app");
            for (int c = 0; c < CLIENTS; c++) {
                String target = c % 2 == 0 ? app : otherApp;
                String field = fields.get(c / 2);
                Thread client = new Thread(() -> run(target, field), "put-" + target + "-" + field);
                client.setDaemon(true);
                client.start();
                threads.add(client);
            }
        }

        private void betweenRounds() {
            stopped = stopping;
            if (!stopped) {
                rounds++;
                try {
                    Thread.sleep(PUT_ROUND_PAUSE.toMillis());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }

        private void run(String target, String field) {
            try {
                for (int r = 0; ; r++) {
                    round.await();
                    if (stopped) {
                        return;
                    }
                    Object value = FIELDS.get(field).apply(r);
                    if (put(target, field, value)) {
                        lastAccepted.put(target + " " + field, value);
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (BrokenBarrierException e) {
                problems.add("PUT client " + target + " " + field + " stopped: the round was broken");
            } catch (IOException e) {
                problems.add("PUT client " + target + " " + field + ": " + e);
            }
        }

        /** PUTs the field until an answer comes; false (a problem noted) if it is refused or none comes in time. */
        private boolean put(String target, String field, Object value) throws IOException, InterruptedException {
            String body = Json.MAPPER.writeValueAsString(Map.of(field, value));
            long deadline = System.nanoTime() + PUT_PATIENCE.toNanos();
            String last = "";
            while (System.nanoTime() < deadline) {
                try {
                    BranchProcess.Reply reply = branch.call("PUT", "/" + target, body);
                    if (reply.status() / 100 == 2) {
                        return true;
                    }
                    if (reply.status() != 503) {
                        problems.add("PUT /" + target + " " + body + " -> " + reply.status() + " " + reply.text());
                        return false;
                    }
                    last = reply.status() + " " + reply.text();
                } catch (AssertionError noAnswer) {
                    last = noAnswer.getMessage();
                }
                Thread.sleep(PUT_RETRY_PAUSE.toMillis());
            }
            problems.add("PUT /" + target + " " + body + " unanswered for " + PUT_PATIENCE.toSeconds() + " s: " + last);
            return false;
        }

        int rounds() {
            return rounds;
        }

        /**
         * Ends the rounds (after the one under way) and waits for every client; should one be gone,
         * the others would wait for it at the barrier, so it is broken for them.
         */
        void stop() throws InterruptedException {
            stopping = true;
            long deadline = System.nanoTime() + PUT_PATIENCE.plus(PUT_ROUND_PAUSE).toNanos();
            for (Thread client : threads) {
                client.join(Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
            }
            if (threads.stream().anyMatch(Thread::isAlive)) {
                round.reset();
                for (Thread client : threads) {
                    client.join(PUT_ROUND_PAUSE.toMillis());
                }
            }
        }

        /** Each client's last answered PUT, where GET shows another value. */
        List<String> lostPuts() {
            List<String> lost = new ArrayList<>();
            Map<String, JsonNode> apps = Map.of(app, branch.json("GET", "/" + app), otherApp, branch.json("GET", "/" + otherApp));
            lastAccepted.forEach((key, value) -> {
                String[] targetAndField = key.split(" ");
                String shown = apps.get(targetAndField[0]).path(targetAndField[1]).toString();
                String put = Json.MAPPER.valueToTree(value).toString();
                if (!shown.equals(put)) {
                    lost.add("PUT /" + targetAndField[0] + " " + targetAndField[1] + "=" + put + " was answered, but GET shows " + shown);
                }
            });
            if (lastAccepted.size() != CLIENTS) {
                lost.add("only " + lastAccepted.size() + " of " + CLIENTS + " PUT clients had a PUT answered");
            }
            return lost;
        }
    }
}
