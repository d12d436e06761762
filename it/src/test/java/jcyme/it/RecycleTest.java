package jcyme.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import jcyme.tasks.AsyncResult;
import jcyme.tasks.BrokerUrl;
import jcyme.tasks.Json;
import jcyme.tasks.TaskProducer;
import jcyme.tasks.TaskRequest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.ResourceLock;

/** Recycling under load on a real branch against RabbitMQ: rolling, so no task is lost and the queue never goes unconsumed. */
@ResourceLock(TestBroker.RABBITMQ)
class RecycleTest {
    static final int TASKS = 400;
    static final Duration PACE = Duration.ofMillis(75);
    static final Duration SAMPLE = Duration.ofMillis(50);

    @TempDir
    Path tmp;

    final String app = "recycle-" + UUID.randomUUID().toString().substring(0, 8);
    final String queue = app + "-q";
    BranchProcess branch;

    @AfterEach
    void cleanUp() throws Exception {
        if (branch != null) {
            branch.close();
        }
        BranchProcess.killAllWith("-Djcyme.instance=" + app + "/");
    }

    private List<JsonNode> recycles() {
        return events("instance.recycle");
    }

    private List<JsonNode> events(String kind) {
        List<JsonNode> found = new ArrayList<>();
        branch.json("GET", "/events?since=0&limit=10000").path("events").forEach(e -> {
            if (e.path("kind").asText().equals(kind)) {
                found.add(e);
            }
        });
        return found;
    }

    /** A branch without spares whose app (made with {@code appBody}) has one instance, w1, RUNNING; its pid. */
    private long oneRunningInstance(String appBody) throws Exception {
        branch = new BranchProcess(tmp.resolve("instances"), "--broker", TestBroker.rabbitmq().url(), "--sup-interval", "1",
                "--spare-workers", "0").start();
        assertEquals(201, branch.call("PUT", "/" + app, appBody).status());
        assertEquals(201, branch.call("POST", "/" + app + "/instances/w1?queues=" + queue).status());
        return branch.awaitState(app, "w1", "RUNNING").path("pid").asLong();
    }

    @Test
    void badThresholdsAreRefusedAndChangeNothing() throws Exception {
        branch = new BranchProcess(tmp.resolve("instances"), "--broker", TestBroker.rabbitmq().url()).start();
        assertEquals(201, branch.call("PUT", "/" + app, "{}").status());
        BranchProcess.Reply app0 = branch.call("PUT", "/" + app, "{\"recycle_after_tasks\": 0}");
        assertEquals(400, app0.status(), app0.text());
        assertTrue(app0.text().contains("recycle_after_tasks must be at least 1, got 0"), app0.text());
        assertTrue(branch.json("GET", "/" + app).path("recycle_after_tasks").isNull());
        BranchProcess.Reply instance = branch.call("POST", "/" + app + "/instances/w1", "{\"recycle_above_rss_kib\": -5}");
        assertEquals(400, instance.status(), instance.text());
        assertTrue(instance.text().contains("recycle_above_rss_kib must be at least 1, got -5"), instance.text());
        assertEquals(404, branch.call("GET", "/" + app + "/instances/w1").status());
        assertEquals(200, branch.call("PUT", "/" + app, "{\"recycle_above_rss_kib\": 262144}").status());
        assertEquals(262144, branch.json("GET", "/" + app).path("recycle_above_rss_kib").asLong());
    }

    @Test
    void aWorkerAboveItsMemoryLimitIsReplacedWithTheCauseInTheEvent() throws Exception {
        branch = new BranchProcess(tmp.resolve("instances"), "--broker", TestBroker.rabbitmq().url(), "--sup-interval", "1").start();
        assertEquals(201, branch.call("PUT", "/" + app, "{}").status());
        long limit = 4096;   // KiB: every JVM is above it, so the first look at the worker finds it over the limit
        assertEquals(201, branch.call("POST", "/" + app + "/instances/w1",
                Json.MAPPER.writeValueAsString(Map.of("queues", List.of(queue), "recycle_above_rss_kib", limit))).status());
        long firstPid = branch.awaitState(app, "w1", "RUNNING").path("pid").asLong();
        Wait.until(Duration.ofSeconds(60), "a recycle for memory", () -> !recycles().isEmpty(), branch::log);
        JsonNode recycle = recycles().get(0);
        assertTrue(recycle.path("cause").asText().matches("rss \\d+ KiB >= " + limit + " KiB"), recycle.toString());
        assertEquals(firstPid, recycle.path("old_pid").asLong(), recycle.toString());
        assertTrue(recycle.path("new_pid").asLong() != firstPid, recycle.toString());
    }

    @Test
    void aRecycledInstanceLosesNoTaskAndItsQueueIsNeverWithoutAConsumer() throws Exception {
        String url = TestBroker.rabbitmq().url();
        branch = new BranchProcess(tmp.resolve("instances"), "--broker", url, "--sup-interval", "1").start();
        assertEquals(201, branch.call("PUT", "/" + app, "{\"recycle_after_tasks\": 1000000}").status());
        BranchProcess.Reply created = branch.call("POST", "/" + app + "/instances/w1",
                Json.MAPPER.writeValueAsString(Map.of("queues", List.of(queue), "recycle_after_tasks", 50)));
        assertEquals(201, created.status(), created.text());
        long firstPid = branch.awaitState(app, "w1", "RUNNING").path("pid").asLong();

        String marker = "-Djcyme.instance=" + app + "/w1 ";
        AtomicInteger fewestWorkers = new AtomicInteger(Integer.MAX_VALUE);
        AtomicInteger mostWorkers = new AtomicInteger();
        AtomicInteger fewestConsumers = new AtomicInteger(Integer.MAX_VALUE);
        AtomicInteger samples = new AtomicInteger();
        AtomicBoolean sampling = new AtomicBoolean(true);
        try (Connection connection = BrokerUrl.parse(url).connectionFactory(1000).newConnection("it-recycle-sampler"); TaskProducer producer = TaskProducer.connect(url)) {
            Channel channel = connection.createChannel();
            Thread sampler = new Thread(() -> {
                while (sampling.get()) {
                    int workers = BranchProcess.processesWith(marker).size();
                    fewestWorkers.accumulateAndGet(workers, Math::min);
                    mostWorkers.accumulateAndGet(workers, Math::max);
                    try {
                        fewestConsumers.accumulateAndGet(channel.queueDeclarePassive(queue).getConsumerCount(), Math::min);
                        samples.incrementAndGet();
                        Thread.sleep(SAMPLE.toMillis());
                    } catch (Exception e) {
                        fewestConsumers.set(-1);
                        return;
                    }
                }
            }, "sampler");
            sampler.start();

            List<AsyncResult> calls = new ArrayList<>();
            for (int i = 0; i < TASKS; i++) {
                calls.add(producer.send(TaskRequest.of("tasks.add").args(i, i).queue(queue).build()));
                Thread.sleep(PACE.toMillis());
            }
            for (int i = 0; i < TASKS; i++) {
                assertEquals(2 * i, calls.get(i).get(Duration.ofSeconds(60)).asInt(), "task " + i + " " + calls.get(i).id());
            }
            Wait.until(Duration.ofSeconds(60), "3 recycles, the last one finished", () -> {
                List<JsonNode> done = recycles();
                if (done.size() < 3) {
                    return false;
                }
                long newest = done.get(done.size() - 1).path("new_pid").asLong();
                return branch.json("GET", "/" + app + "/instances/w1").path("pid").asLong() == newest
                        && BranchProcess.processesWith(marker).equals(List.of(newest));
            }, () -> branch.log());
            sampling.set(false);
            sampler.join();
        }

        assertTrue(samples.get() > 100, "sampled throughout: " + samples.get());
        assertTrue(fewestWorkers.get() >= 1, "a worker of w1 was alive at every sample, fewest " + fewestWorkers.get());
        assertEquals(2, mostWorkers.get(), "the replacement ran beside the old worker");
        assertTrue(fewestConsumers.get() >= 1, "the queue always had a consumer, fewest " + fewestConsumers.get());

        List<JsonNode> recycles = recycles();
        long previous = firstPid;
        for (JsonNode event : recycles) {
            assertEquals(app, event.path("app").asText());
            assertEquals("w1", event.path("instance").asText());
            assertTrue(event.path("cause").asText().matches("tasks \\d+ >= 50"), event.toString());
            assertEquals(previous, event.path("old_pid").asLong(), "each recycle replaces the one before: " + recycles);
            assertNotEquals(previous, event.path("new_pid").asLong());
            previous = event.path("new_pid").asLong();
        }
        JsonNode instance = branch.json("GET", "/" + app + "/instances/w1");
        assertEquals("RUNNING", instance.path("state").asText());
        assertEquals(previous, instance.path("pid").asLong(), "the instance shows the newest worker");
        assertEquals(List.of(previous), BranchProcess.processesWith(marker), "every drained worker is gone");
    }

    /**
     * A worker that asks to be replaced ({@code pool_restart} sets its {@code stats}'
     * {@code recycle_requested}) is recycled, rolling, with its reason as the event's cause; the
     * branch's /metrics shows each running instance's stuck threads.
     */
    @Test
    void aPoolRestartRecyclesTheWorkerWithItsReasonAsTheCause() throws Exception {
        long old = oneRunningInstance("{}");
        String series = "jcyme_instance_stuck_threads{app=\"" + app + "\",name=\"w1\"} 0";
        Wait.until(Duration.ofSeconds(30), series, () -> branch.call("GET", "/metrics").text().contains(series));

        JsonNode answer = ControlClient.call(tmp.resolve("instances").resolve("w1").resolve("worker.sock"), "pool_restart", Map.of());
        assertTrue(answer.toString().contains("reload started"), answer.toString());
        Wait.until(Duration.ofSeconds(60), "the recycle", () -> !recycles().isEmpty(), branch::log);
        JsonNode recycle = recycles().get(0);
        assertEquals("pool_restart", recycle.path("cause").asText(), recycle.toString());
        assertEquals(old, recycle.path("old_pid").asLong());
        assertEquals(recycle.path("new_pid").asLong(), branch.awaitState(app, "w1", "RUNNING").path("pid").asLong());
        assertTrue(ProcessHandle.of(old).map(p -> !p.isAlive()).orElse(true), "the old worker drained before the event");
        assertEquals(1, recycles().size(), "the replacement does not ask again");
    }

    /**
     * A task past its hard limit that ignores the interrupt (naive recursion never looks) leaves its
     * thread stuck: the branch records {@code instance.stuck} and recycles the worker at its request.
     */
    @Test
    void aWorkerWithAStuckThreadIsRecordedAndRecycled() throws Exception {
        long old = oneRunningInstance("{\"arguments\": \"--time-limit 0.5\"}");

        assertEquals(202, branch.call("POST", "/" + app + "/tasks/tasks.fib", "{\"args\": [60], \"queue\": \"" + queue + "\"}").status());
        Wait.until(Duration.ofSeconds(60), "the recycle", () -> !recycles().isEmpty(), branch::log);
        JsonNode recycle = recycles().get(0);
        assertEquals("1 stuck threads >= 1", recycle.path("cause").asText(), recycle.toString());
        assertEquals(old, recycle.path("old_pid").asLong());
        List<JsonNode> stuck = events("instance.stuck");
        assertEquals(1, stuck.size(), stuck.toString());
        assertEquals(old, stuck.get(0).path("pid").asLong(), stuck.toString());
        assertEquals(1, stuck.get(0).path("stuck_threads").asInt(), stuck.toString());
        assertEquals("w1", stuck.get(0).path("instance").asText(), stuck.toString());
        assertTrue(ProcessHandle.of(old).map(p -> !p.isAlive()).orElse(true), "the stuck thread died with its worker");
    }
}
