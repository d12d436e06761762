package jcyme.worker;

import static jcyme.worker.TestWorkers.await;
import static jcyme.worker.TestWorkers.awaitControl;
import static jcyme.worker.TestWorkers.awaitStats;
import static jcyme.worker.TestWorkers.control;
import static jcyme.worker.TestWorkers.socket;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.rabbitmq.client.AMQP;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import jcyme.tasks.Json;
import jcyme.tasks.Task;
import jcyme.tasks.TaskCall;
import jcyme.tasks.TaskMessage;
import jcyme.tasks.TaskState;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Workers in faults: stuck tasks, recycles, warm stops, pool_restart, and what stats tell. */
class WorkerFaultsTest {
    private static TestWorkers workers;

    @TempDir
    Path dir;

    @BeforeAll
    static void broker() throws Exception {
        workers = new TestWorkers();
    }

    @AfterAll
    static void close() throws Exception {
        workers.close();
    }

    /** A task that waits for its gate to open and ignores interrupts meanwhile, as a blocking socket read does. */
    private record Blocking(String name, CountDownLatch gate) implements Task {
        @Override
        public Object run(TaskCall call) {
            boolean interrupted = false;
            while (gate.getCount() > 0) {
                try {
                    gate.await();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
            return "released";
        }
    }

    private record Quick(String name) implements Task {
        @Override
        public Object run(TaskCall call) {
            return "ok";
        }
    }

    private static Map<String, Task> tasks(CountDownLatch gate) {
        return Map.of("test.blocking", new Blocking("test.blocking", gate), "test.quick", new Quick("test.quick"));
    }

    @Test
    void aStuckThreadGivesItsSlotBackIsCountedAndAsksForARecycle() throws Exception {
        CountDownLatch gate = new CountDownLatch(1);
        workers.start(dir, "stuck", "q.stuck", tasks(gate), "-c", "1");
        Path sock = socket(dir, "stuck");

        String limited = workers.send("q.stuck", "test.blocking", null, Duration.ofMillis(300));
        assertEquals(TaskState.FAILURE, workers.result(limited).state());
        assertEquals("TimeLimitExceeded", workers.result(limited).result().path("exc_type").asText());
        String next = workers.send("q.stuck", "test.quick", null, null);
        assertEquals(TaskState.SUCCESS, workers.result(next).state(), "the slot came back: -c 1 runs the next task");

        String terminated = workers.send("q.stuck", "test.blocking", null, null);
        awaitStats(sock, stats -> stats.path("active").asInt() == 1, "the second blocking task running");
        control(sock, "revoke", Map.of("task_id", terminated, "terminate", true));
        assertEquals(TaskState.REVOKED, workers.result(terminated).state());
        String afterTerminate = workers.send("q.stuck", "test.quick", null, null);
        assertEquals(TaskState.SUCCESS, workers.result(afterTerminate).state());

        JsonNode stats = awaitStats(sock, s -> s.path("stuck_threads").asInt() == 2, "two stuck threads");
        assertEquals("1 stuck threads >= 1", stats.path("recycle_requested").asText(), "the first reason stays");
        assertEquals(1, stats.path("pool").path("max-concurrency").asInt(), "stuck threads are not the pool's size");

        gate.countDown();
        awaitStats(sock, s -> s.path("stuck_threads").asInt() == 0, "the stuck threads returned");
        String last = workers.send("q.stuck", "test.quick", null, null);
        assertEquals(TaskState.SUCCESS, workers.result(last).state(), "the channel survived: no second ack");
        assertEquals(1, workers.results(limited).size(), "a stuck task that returns publishes no second outcome");
        assertEquals(1, workers.results(terminated).size());
    }

    @Test
    void recycleWhenStuckSetsTheThreshold() throws Exception {
        CountDownLatch gate = new CountDownLatch(1);
        try {
            workers.start(dir, "threshold", "q.threshold", tasks(gate), "-c", "1", "--recycle-when-stuck", "2");
            Path sock = socket(dir, "threshold");
            workers.result(workers.send("q.threshold", "test.blocking", null, Duration.ofMillis(200)));
            JsonNode stats = awaitStats(sock, s -> s.path("stuck_threads").asInt() == 1, "one stuck thread");
            assertTrue(stats.path("recycle_requested").isNull(), "one stuck thread is under the threshold of 2: " + stats);
            workers.result(workers.send("q.threshold", "test.blocking", null, Duration.ofMillis(200)));
            stats = awaitStats(sock, s -> !s.path("recycle_requested").isNull(), "a recycle asked for");
            assertEquals("2 stuck threads >= 2", stats.path("recycle_requested").asText());
        } finally {
            gate.countDown();
        }
    }

    @Test
    void aRevokeSurvivesARecycleThroughTheInstanceStatedb() throws Exception {
        CountDownLatch gate = new CountDownLatch(0);
        String statedb = dir.resolve("worker.statedb").toString();
        Worker old = workers.start(dir, "slot0", "q.recycle", tasks(gate), "-c", "1", "--statedb", statedb);
        String early = workers.send("q.recycle", "test.quick", Instant.now().plusSeconds(4), null);
        String late = workers.send("q.recycle", "test.quick", Instant.now().plusSeconds(4), null);
        awaitStats(socket(dir, "slot0"), stats -> scheduled(socket(dir, "slot0")) == 2, "both ETA tasks held by slot 0");
        control(socket(dir, "slot0"), "revoke", Map.of("task_id", early));

        workers.start(dir, "slot1", "q.recycle", tasks(gate), "-c", "1", "--statedb", statedb);
        control(socket(dir, "slot0"), "revoke", Map.of("task_id", late)); // reaches the old worker alone
        old.stop(true);

        assertEquals(TaskState.REVOKED, workers.result(early).state(), "revoked before the replacement started");
        assertEquals(TaskState.REVOKED, workers.result(late).state(), "revoked while both ran, on the old one");
    }

    private static int scheduled(Path sock) {
        try {
            return control(sock, "scheduled", Map.of()).size();
        } catch (java.io.IOException e) {
            return -1;
        }
    }

    @Test
    void aTaskHeldForADayLetsTwoThousandOthersDrainOnAFreshChannelAndStaysUnacked() throws Exception {
        // a long ack interval: the worker's acks surely widen, however slow the machine is
        Worker first = workers.start(dir, "held", "q.held", tasks(new CountDownLatch(0)), "-c", "2", "-E", "--ack-interval", "1");
        String held = workers.send("q.held", "test.quick", Instant.now().plus(Duration.ofDays(1)), null);
        String soon = workers.send("q.held", "test.quick", Instant.now().plusSeconds(5), null);
        List<String> drained = new java.util.ArrayList<>();
        for (int i = 0; i < 2_000; i++) {
            drained.add(workers.send("q.held", "test.quick", null, null));
        }
        for (String id : drained) {
            assertEquals(TaskState.SUCCESS, workers.result(id).state());
        }
        assertTrue(first.broker().rotations() >= 1, "the held task's channel made way for a fresh one");
        assertEquals(TaskState.SUCCESS, workers.result(soon).state(), "a task held on the retired channel runs when due");
        assertTrue(workers.results(held).isEmpty(), "the task held for a day has not run");
        first.stop(true); // flushes every channel's acks: the held task goes back to the queue, unacked

        workers.start(dir, "held2", "q.held", tasks(new CountDownLatch(0)), "-c", "2", "-E");
        JsonNode scheduled = awaitControl(socket(dir, "held2"), "scheduled", answer -> answer.size() == 1, "the held task on the next worker");
        assertEquals(held, scheduled.get(0).path("request").path("id").asText());
        assertTrue(scheduled.get(0).path("request").path("delivery_info").path("redelivered").asBoolean(), "it was never acked");
        String last = workers.send("q.held", "test.quick", null, null);
        await(() -> workers.events("task-succeeded", last) == 1, "the task sent last to succeed");
        for (String id : drained) {
            assertEquals(1, workers.events("task-received", id), "each task was received once: every ack went through");
            assertEquals(1, workers.results(id).size());
        }
        assertEquals(1, workers.events("task-received", soon));
        assertTrue(workers.results(held).isEmpty(), "the held task was run by neither worker");
    }

    @Test
    void tasksFinishingDuringAWarmStopSendTheirEvents() throws Exception {
        CountDownLatch gate = new CountDownLatch(1);
        Worker worker = workers.start(dir, "warm", "q.warm", tasks(gate), "-c", "2", "-E");
        List<String> ids = List.of(workers.send("q.warm", "test.blocking", null, null),
                workers.send("q.warm", "test.blocking", null, null));
        awaitStats(socket(dir, "warm"), stats -> stats.path("active").asInt() == 2, "both tasks running");

        Thread stop = new Thread(() -> worker.stop(true));
        stop.start();
        await(() -> {
            try {
                return workers.consumers("q.warm") == 0;
            } catch (java.io.IOException e) {
                return false;
            }
        }, "the worker to stop consuming");
        gate.countDown();
        stop.join(TestWorkers.WAIT.toMillis());

        for (String id : ids) {
            assertEquals(TaskState.SUCCESS, workers.result(id).state());
            await(() -> workers.events("task-succeeded", id) == 1, "task-succeeded of " + id + " among " + workers.eventTypes());
        }
    }

    @Test
    void tasksWaitingAtStartSendTheirEvents() throws Exception {
        workers.declare("q.early");
        List<String> ids = new java.util.ArrayList<>();
        for (int i = 0; i < 200; i++) {
            ids.add(workers.send("q.early", "test.quick", null, null));
        }
        workers.start(dir, "early", "q.early", tasks(new CountDownLatch(0)), "-c", "2", "-E");

        for (String id : ids) {
            assertEquals(TaskState.SUCCESS, workers.result(id).state());
            await(() -> workers.events("task-started", id) == 1 && workers.events("task-succeeded", id) == 1,
                    "task-started and task-succeeded of " + id);
        }
    }

    @Test
    void poolRestartAnswersAsCeleryAndAsksForARecycle() throws Exception {
        workers.start(dir, "restart", "q.restart", tasks(new CountDownLatch(0)), "-c", "1");
        Path sock = socket(dir, "restart");
        assertTrue(control(sock, "stats", Map.of()).path("recycle_requested").isNull());

        assertEquals(Json.parse("{\"ok\":\"reload started\"}".getBytes()), control(sock, "pool_restart", Map.of("reload", false)));
        assertEquals("pool_restart", control(sock, "stats", Map.of()).path("recycle_requested").asText());
    }

    @Test
    void celerysPoolRestartIsAnsweredOverThePidbox() throws Exception {
        Path python = Path.of("/usr/bin/python3");
        org.junit.jupiter.api.Assumptions.assumeTrue(java.nio.file.Files.isExecutable(python)
                && new ProcessBuilder(python.toString(), "-c", "import celery").start().waitFor() == 0,
                "SKIPPED: /usr/bin/python3 with Celery is missing (bin/test installs python3-celery)");
        workers.start(dir, "celeryrestart", "q.celeryrestart", tasks(new CountDownLatch(0)), "-c", "1");
        String script = "import celery, json, sys\n"
                + "app = celery.Celery(broker=sys.argv[1])\n"
                + "print(json.dumps(app.control.pool_restart(reload=True, destination=['celeryrestart@test'], reply=True, timeout=10)))\n";
        Process celery = new ProcessBuilder(python.toString(), "-c", script, workers.brokerUrl()).redirectErrorStream(true).start();
        String out = new String(celery.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8).strip();
        assertEquals(0, celery.waitFor(), out);
        assertEquals(Json.parse("[{\"celeryrestart@test\": {\"ok\": \"reload started\"}}]".getBytes()),
                Json.parse(out.lines().reduce((first, last) -> last).orElse("").getBytes()), out);
        assertEquals("pool_restart", control(socket(dir, "celeryrestart"), "stats", Map.of()).path("recycle_requested").asText());
    }

    @Test
    void statsAndTaskInfoShowRealValues() throws Exception {
        CountDownLatch gate = new CountDownLatch(1);
        try {
            workers.start(dir, "real", "q.real", tasks(gate), "-c", "1");
            Path sock = socket(dir, "real");
            JsonNode stats = control(sock, "stats", Map.of());
            JsonNode pool = stats.path("pool");
            assertFalse(pool.has("processes"), "a thread pool has no child processes: " + pool);
            assertFalse(pool.has("max-tasks-per-child"), "the worker does not recycle itself by task count: " + pool);
            com.rabbitmq.client.ConnectionFactory factory = jcyme.tasks.BrokerUrl.parse(workers.brokerUrl()).connectionFactory(10_000);
            try (com.rabbitmq.client.Connection agreed = factory.newConnection()) {
                assertEquals(agreed.getHeartbeat(), stats.path("broker").path("heartbeat").asDouble(), "the heartbeat agreed with the broker");
            }
            assertEquals(factory.getConnectionTimeout() / 1000.0, stats.path("broker").path("connect_timeout").asDouble());

            TaskMessage.Encoded message = message("test.blocking");
            workers.sendRaw("q.real", message.properties().builder().priority(7).build(), message.body());
            awaitStats(sock, s -> s.path("active").asInt() == 1, "the task running");
            JsonNode active = control(sock, "active", Map.of()).get(0);
            assertEquals(7, active.path("delivery_info").path("priority").asInt(), "the message's priority: " + active);
            assertFalse(active.path("acknowledged").asBoolean(), "acks late: a running task is not acknowledged yet");
        } finally {
            gate.countDown();
        }
    }

    private TaskMessage.Encoded message(String task) {
        String id = java.util.UUID.randomUUID().toString();
        return new TaskMessage(id, task, com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.arrayNode(),
                com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode(), TaskMessage.defaultEmbed(), 0, null,
                null, null, null, id, null, null, "test", false, workers.replyQueue(), id).encode();
    }
}
