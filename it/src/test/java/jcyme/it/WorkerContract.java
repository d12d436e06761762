package jcyme.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.GetResponse;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.reflect.Method;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import jcyme.supervisor.InstanceSpec;
import jcyme.tasks.AsyncResult;
import jcyme.tasks.BrokerUrl;
import jcyme.tasks.RemoteError;
import jcyme.tasks.TaskFailedException;
import jcyme.tasks.TaskMessage;
import jcyme.tasks.TaskProducer;
import jcyme.tasks.TaskRequest;
import jcyme.tasks.TaskState;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a worker must do against a real broker: the same tests run against the embedded broker and
 * against RabbitMQ (see the subclasses). Every test uses its own queues and worker.
 */
abstract class WorkerContract {
    static final Duration RESULT = Duration.ofSeconds(30);
    /** The worker's default --ack-window. */
    static final int ACK_WINDOW = 128;

    @TempDir
    Path tmp;

    TestBroker broker;
    TaskProducer producer;
    final List<WorkerProcess> workers = new ArrayList<>();
    final String queue = "it-" + UUID.randomUUID().toString().substring(0, 8);

    abstract TestBroker broker() throws Exception;

    @BeforeEach
    void connect() throws Exception {
        broker = broker();
        producer = TaskProducer.connect(broker.url());
    }

    @AfterEach
    void cleanUp() throws Exception {
        for (WorkerProcess worker : workers) {
            worker.close();
        }
        producer.close();
    }

    WorkerProcess worker(String name, String... options) throws Exception {
        WorkerProcess worker = new WorkerProcess(name + "-" + queue, tmp.resolve(name), broker.url(), options);
        workers.add(worker);
        return worker.start();
    }

    AsyncResult send(TaskRequest.Builder request) throws Exception {
        return producer.send(request.queue(queue).build());
    }

    @Test
    void resultsAndFailuresRoundTrip() throws Exception {
        worker("w", "-Q", queue, "--autoscale", "4,1");

        assertEquals(5, send(TaskRequest.of("tasks.add").args(2, 3)).get(RESULT).asInt());
        assertEquals(6765, send(TaskRequest.of("tasks.fib").args(20)).get(RESULT).asLong());
        JsonNode echo = send(TaskRequest.of("tasks.echo").args("a", 1).kwargs(Map.of("k", List.of(true)))).get(RESULT);
        assertEquals("a", echo.at("/args/0").asText());
        assertTrue(echo.at("/kwargs/k/0").asBoolean());

        TaskFailedException failed = assertThrows(TaskFailedException.class,
                () -> send(TaskRequest.of("tasks.fail").args("boom")).get(RESULT));
        assertEquals(TaskState.FAILURE, failed.state());
        assertEquals(new RemoteError("RuntimeException", "boom", "java.lang"), failed.error());
        assertTrue(failed.remoteTraceback().contains("DemoTasks$Fail.run"), failed.remoteTraceback());

        TaskFailedException unknown = assertThrows(TaskFailedException.class,
                () -> send(TaskRequest.of("tasks.nope")).get(RESULT));
        assertEquals(RemoteError.notRegistered("tasks.nope"), unknown.error());

        TaskFailedException expired = assertThrows(TaskFailedException.class,
                () -> send(TaskRequest.of("tasks.add").args(1, 1).expires(Instant.now().minusSeconds(1))).get(RESULT));
        assertEquals(TaskState.REVOKED, expired.state());
        assertEquals(RemoteError.revoked("expired"), expired.error());
    }

    @Test
    void countdownAndTimeLimitsAreHonoured() throws Exception {
        worker("w", "-Q", queue, "-c", "2");

        Instant sent = Instant.now();
        AsyncResult later = send(TaskRequest.of("tasks.add").args(1, 2).countdown(Duration.ofSeconds(2)));
        AsyncResult soft = send(TaskRequest.of("tasks.sleep").args(30)
                .timeLimits(Duration.ofSeconds(20), Duration.ofMillis(300)));
        TaskFailedException softError = assertThrows(TaskFailedException.class, () -> soft.get(RESULT));
        assertEquals("SoftTimeLimitExceeded", softError.error().type());

        AsyncResult hard = send(TaskRequest.of("tasks.sleep").args(30).timeLimits(Duration.ofMillis(500), null));
        TaskFailedException hardError = assertThrows(TaskFailedException.class, () -> hard.get(RESULT));
        assertEquals(new RemoteError("TimeLimitExceeded", "0.5", RemoteError.BILLIARD), hardError.error());

        assertEquals(3, later.get(RESULT).asInt());
        assertTrue(Duration.between(sent, Instant.now()).toMillis() >= 1900, "ran before its countdown");
        // its ack follows the confirmed result, so it may reach the broker just after the result reached us
        Wait.until(Duration.ofSeconds(10), "the ETA task acked", () -> messageCount(queue) == 0);
    }

    @Test
    void revokeWithTerminateInterruptsTheRunningTask() throws Exception {
        WorkerProcess worker = worker("w", "-Q", queue, "-c", "1");
        AsyncResult running = send(TaskRequest.of("tasks.sleep").args(30));
        Wait.until(Duration.ofSeconds(20), "the task to run", () -> active(worker) == 1);
        JsonNode reply = worker.control("revoke", Map.of("task_id", List.of(running.id()), "terminate", true));
        assertEquals("terminate: " + running.id(), reply.path("ok").asText(), reply.toString());
        TaskFailedException revoked = assertThrows(TaskFailedException.class, () -> running.get(RESULT));
        assertEquals(RemoteError.revoked("terminated"), revoked.error());
        assertEquals(2, send(TaskRequest.of("tasks.add").args(1, 1)).get(RESULT).asInt(), "its thread is free again");
    }

    @Test
    void killedWorkerLosesNothing() throws Exception {
        int total = 10_000;
        Map<String, List<Instant>> seen = new ConcurrentHashMap<>();
        AtomicLong results = new AtomicLong();
        producer.addResultListener(result -> {
            seen.computeIfAbsent(result.taskId(), id -> new CopyOnWriteArrayList<>()).add(Instant.now());
            results.incrementAndGet();
        });
        List<TaskRequest> requests = new ArrayList<>();
        for (int i = 0; i < total; i++) {
            requests.add(TaskRequest.of("tasks.noop").queue(queue).build());
        }
        for (int i = 0; i < total; i += 1000) {
            producer.sendAll(requests.subList(i, i + 1000));
        }
        WorkerProcess first = worker("w1", "-Q", queue, "-c", "4");
        Wait.until(Duration.ofSeconds(120), "a third of the results", () -> results.get() >= total / 3);
        first.kill9();
        int beforeKill = seen.size();
        assertTrue(beforeKill < total, "the worker was killed midway (" + beforeKill + " done)");

        WorkerProcess second = worker("w2", "-Q", queue, "-c", "4");
        Instant restarted = Instant.now();
        Wait.until(Duration.ofSeconds(180), "every task id to complete", () -> seen.size() == total,
                () -> seen.size() + " of " + total + second.logTail());

        List<String> twice = seen.entrySet().stream().filter(e -> e.getValue().size() > 1).map(Map.Entry::getKey).toList();
        System.out.printf("killed after %d of %d tasks; %d ran twice%n", beforeKill, total, twice.size());
        int prefetch = 4 * 4 + ACK_WINDOW; // Celery's prefetch, plus the window of finished tasks whose acks are coalesced
        assertTrue(twice.size() <= prefetch, twice.size() + " ids ran twice; at most " + prefetch + " can be unacked");
        for (String id : twice) {
            assertTrue(seen.get(id).get(0).isBefore(restarted),
                    id + " ran twice, but its first run was not in flight when the worker was killed");
        }
        Wait.until(Duration.ofSeconds(10), "queue drained", () -> messageCount(queue) == 0);   // acks follow the results
    }

    /**
     * Acks of fast tasks are coalesced into multiple acks; a slow task delivered before them must
     * stay unacked all along, so a SIGKILL returns it to the queue.
     */
    @Test
    void coalescedAcksNeverAckATaskStillRunning() throws Exception {
        // a 1 s ack interval: the fast tasks below surely widen the window, and their acks wait for whole batches
        WorkerProcess worker = worker("w", "-Q", queue, "-c", "2", "--ack-interval", "1");
        AsyncResult slow = send(TaskRequest.of("tasks.sleep").args(600));
        Wait.until(RESULT, "the slow task to run", () -> active(worker) == 1);
        List<AsyncResult> fast = new ArrayList<>();
        for (int i = 0; i < 300; i++) {
            fast.add(send(TaskRequest.of("tasks.add").args(i, 1)));
        }
        for (int i = 0; i < fast.size(); i++) {
            assertEquals(i + 1, fast.get(i).get(RESULT).asInt());
        }
        assertEquals(2 * 4 + ACK_WINDOW, worker.control("stats").path("prefetch_count").asInt(),
                "fast tasks widened the ack window");
        worker.kill9();
        Wait.until(RESULT, "the unacked messages back in the queue", () -> messageCount(queue) >= 1);
        List<String> returned = new ArrayList<>();
        withChannel(channel -> {
            for (GetResponse got = channel.basicGet(queue, true); got != null; got = channel.basicGet(queue, true)) {
                returned.add(TaskMessage.decode(got.getProps(), got.getBody()).id());
            }
        });
        assertTrue(returned.contains(slow.id()), "the running task was never acked: " + returned.size() + " returned");
        assertTrue(returned.size() <= 1 + ACK_WINDOW, returned.size() + " returned: only the running one and unflushed acks");
    }

    @Test
    void warmShutdownFinishesRunningTasks() throws Exception {
        WorkerProcess worker = worker("w", "-Q", queue, "-c", "3");
        List<AsyncResult> running = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            running.add(send(TaskRequest.of("tasks.sleep").args(2)));
        }
        Wait.until(Duration.ofSeconds(20), "3 active tasks", () -> active(worker) == 3);
        worker.terminate();
        assertEquals(0, worker.waitForExit(Duration.ofSeconds(30)), "warm shutdown exits 0");
        for (AsyncResult result : running) {
            assertEquals(2.0, result.get(Duration.ofSeconds(5)).asDouble(), "finished, not abandoned");
        }
        assertFalse(Files.exists(worker.pidfile()), "pid file removed on clean exit");
        assertTrue(worker.logText().contains("warm shutdown"), worker.logTail());
        Wait.until(Duration.ofSeconds(10), "all acked", () -> messageCount(queue) == 0);   // acks follow the results
    }

    @Test
    void autoscaleGrowsUnderBacklogAndShrinksAfterKeepalive() throws Exception {
        WorkerProcess worker = worker("w", "-Q", queue, "--autoscale", "4,1", "--autoscale-keepalive", "2");
        assertEquals(1, worker.control("stats").at("/autoscaler/current").asInt());
        List<AsyncResult> backlog = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            backlog.add(send(TaskRequest.of("tasks.sleep").args(1)));
        }
        Wait.until(Duration.ofSeconds(20), "pool to grow to 4", () -> current(worker) == 4);
        for (AsyncResult result : backlog) {
            result.get(RESULT);
        }
        Wait.until(Duration.ofSeconds(20), "pool to shrink back to 1", () -> current(worker) == 1);

        JsonNode reply = worker.control("autoscale", Map.of("max", 6, "min", 2));
        assertEquals("autoscale now max=6 min=2", reply.path("ok").asText(), reply.toString());
        JsonNode stats = worker.control("stats");
        assertEquals(6, stats.at("/autoscaler/max").asInt());
        assertEquals(2, stats.at("/autoscaler/current").asInt(), "min raised: grows at once");
        assertEquals(24, stats.at("/consumer/prefetch_count").asInt(), "prefetch follows max x 4");
        assertTrue(worker.control("autoscale", Map.of("max", 1, "min", 3)).has("error"), "min > max refused");
    }

    @Test
    void consumersAreAddedAndCancelledLive() throws Exception {
        WorkerProcess worker = worker("w", "-Q", queue, "-c", "2");
        String extra = queue + "-extra";
        JsonNode added = worker.control("add_consumer", Map.of("queue", extra));
        assertEquals("add consumer " + extra, added.path("ok").asText());
        assertTrue(queueNames(worker).contains(extra));
        assertEquals(7, producer.send(TaskRequest.of("tasks.add").args(3, 4).queue(extra).build()).get(RESULT).asInt());

        JsonNode cancelled = worker.control("cancel_consumer", Map.of("queue", extra));
        assertEquals("no longer consuming from " + extra, cancelled.path("ok").asText());
        assertFalse(queueNames(worker).contains(extra));
        AsyncResult parked = producer.send(TaskRequest.of("tasks.add").args(1, 1).queue(extra).build());
        assertEquals(2, send(TaskRequest.of("tasks.add").args(1, 1)).get(RESULT).asInt(), "still consuming its own queue");
        assertEquals(1, broker.messageCount(extra), "the cancelled queue is not consumed");
        assertEquals(TaskState.PENDING, parked.state());
        assertTrue(queueNames(worker).contains("dq." + worker.name), "direct queue consumed");
    }

    @Test
    void revokedIdsSurviveRestart() throws Exception {
        WorkerProcess first = worker("w", "-Q", queue, "-c", "1");
        String revokedId = UUID.randomUUID().toString();
        JsonNode reply = first.control("revoke", Map.of("task_id", revokedId));
        assertEquals("tasks " + revokedId + " flagged as revoked", reply.path("ok").asText());
        first.terminate();
        assertEquals(0, first.waitForExit(Duration.ofSeconds(30)));

        WorkerProcess second = worker("w", "-Q", queue, "-c", "1");
        assertTrue(second.control("revoked").toString().contains(revokedId), "revoked id restored from the statedb");
        TaskFailedException revoked = assertThrows(TaskFailedException.class,
                () -> send(TaskRequest.of("tasks.add").args(1, 2).id(revokedId)).get(RESULT));
        assertEquals(RemoteError.revoked("revoked"), revoked.error());
    }

    @Test
    void brokerRestartIsSurvived() throws Exception {
        WorkerProcess worker = worker("w", "-Q", queue, "-c", "2");
        assertEquals(2, send(TaskRequest.of("tasks.add").args(1, 1)).get(RESULT).asInt());
        producer.close();
        broker.restart();
        producer = TaskProducer.connect(broker.url());
        assertEquals(4, send(TaskRequest.of("tasks.add").args(2, 2)).get(Duration.ofSeconds(60)).asInt());
        assertTrue(worker.isAlive());
        assertTrue(worker.logText().contains("reconnected"), worker.logTail());
    }

    @Test
    void pidFileHoldsThePidAloneAndTheLockNamesTheProcess() throws Exception {
        WorkerProcess worker = worker("w", "-Q", queue, "-c", "1");
        long pid = worker.pid();
        assertEquals(pid + "\n", Files.readString(worker.pidfile()), "what kill $(cat worker.pid) and PIDFile= read");
        String started = ProcessHandle.of(pid).orElseThrow().info().startInstant().orElseThrow().toString();
        Path lock = worker.dir.resolve("worker.lock");
        assertEquals(pid + "\n" + started + "\n", Files.readString(lock));

        InstanceSpec spec = new InstanceSpec("it", worker.name, worker.dir, broker.url(), List.of(queue), 1, 1,
                List.of(), List.of(), Map.of(), List.of(), 1);
        assertEquals(Optional.of(pid), findRunning(spec).map(ProcessHandle::pid), "re-adopted from worker.lock");
        Files.writeString(lock, pid + "\n" + Instant.parse(started).minusSeconds(1) + "\n");
        assertEquals(Optional.empty(), findRunning(spec), "a process started at another time is not ours (a reused pid)");
        Files.writeString(lock, pid + "\n" + started + "\n");

        Process kill = new ProcessBuilder("sh", "-c", "kill $(cat worker.pid)").directory(worker.dir.toFile()).start();
        assertEquals(0, kill.waitFor());
        assertEquals(0, worker.waitForExit(Duration.ofSeconds(30)), "warm shutdown");
        assertEquals("", Files.readString(lock), "the lock file names nobody once released");
    }

    @Test
    void theFirstPongComesWithThePidFileWritten() throws Exception {
        WorkerProcess worker = new WorkerProcess("p-" + queue, tmp.resolve("p"), broker.url(), "-Q", queue, "-c", "1");
        workers.add(worker);
        worker.launch();
        long deadline = System.nanoTime() + WorkerProcess.READY_TIMEOUT.toNanos();
        Boolean pidfileAtFirstPong = null;
        while (pidfileAtFirstPong == null && worker.isAlive() && System.nanoTime() < deadline) {
            String answer;
            try {
                answer = worker.control("ping").path("ok").asText();
            } catch (IOException noSocketYet) {
                answer = "";
            }
            if (answer.equals("pong")) {
                pidfileAtFirstPong = Files.exists(worker.pidfile());
            } else {
                Thread.sleep(1);
            }
        }
        assertTrue(worker.isAlive(), "the worker started");
        assertEquals(Boolean.TRUE, pidfileAtFirstPong, "a supervisor reports RUNNING at the first pong: worker.pid must be there by then");
    }

    @SuppressWarnings("unchecked")
    private static Optional<ProcessHandle> findRunning(InstanceSpec spec) throws Exception {
        Method find = Class.forName("jcyme.supervisor.ProcessIdentity").getDeclaredMethod("find", InstanceSpec.class);
        find.setAccessible(true);
        return (Optional<ProcessHandle>) find.invoke(null, spec);
    }

    @Test
    void aFollowUpThatCannotBePublishedReturnsItsParentAndLaterResultsStillArrive() throws Exception {
        WorkerProcess worker = worker("w", "-Q", queue, "-c", "2");
        String linked = queue + "-linked";
        assertEquals(2, publish(queue, queue, parentWithLink(1, linked)).get(RESULT).asInt());
        Wait.until(RESULT, "the first follow-up", () -> messageCount(linked) == 1);

        // the worker declared the follow-up's exchange once; deleted under it, the next publish
        // there is a channel error on the channel that also carries results
        withChannel(channel -> channel.exchangeDelete(linked));
        AsyncResult parent = publish(queue, queue, parentWithLink(2, linked));
        assertEquals(3, parent.get(RESULT).asInt());
        Wait.until(RESULT, "the second follow-up, sent when its parent came back", () -> messageCount(linked) == 2,
                worker::logTail);

        for (int i = 0; i < 5; i++) {
            assertEquals(2 * i, send(TaskRequest.of("tasks.add").args(i, i)).get(RESULT).asInt(), "results after the error");
        }
        worker.terminate();
        assertEquals(0, worker.waitForExit(Duration.ofSeconds(30)));
        Wait.until(Duration.ofSeconds(10), "every parent acked, none lost", () -> messageCount(queue) == 0);   // acks follow the results
    }

    @Test
    void aRetryThatCannotBePublishedReturnsTheTask() throws Exception {
        WorkerProcess worker = worker("w", "-Q", queue, "-c", "1");
        assertEquals(1, send(TaskRequest.of("tasks.flaky").args(1)).get(RESULT).asInt(), "retried once");

        // the retry went to the queue's exchange, declared once; deleted, the next retry fails
        withChannel(channel -> channel.exchangeDelete(queue));
        TaskMessage flaky = message("tasks.flaky", JSON.arrayNode().add(1), TaskMessage.defaultEmbed());
        AsyncResult result = publish("", queue, flaky);
        assertEquals(1, result.get(RESULT).asInt(), "the task came back and retried" + worker.logTail());
        worker.terminate();
        assertEquals(0, worker.waitForExit(Duration.ofSeconds(30)));
        Wait.until(Duration.ofSeconds(10), "acked once done", () -> messageCount(queue) == 0);   // acks follow the results
    }

    @Test
    void aResultWaitsForItsMissingReplyQueueInsteadOfBeingLost() throws Exception {
        WorkerProcess worker = worker("w", "-Q", queue, "-c", "1");
        String reply = producer.replyQueue();
        withChannel(channel -> channel.queueDelete(reply));
        AsyncResult sent = send(TaskRequest.of("tasks.add").args(20, 22));
        Wait.until(RESULT, "the worker to find the reply queue missing",
                () -> worker.logTail().contains("reply queue " + reply + " is missing"), worker::logTail);

        byte[][] body = new byte[1][];
        withChannel(channel -> {
            channel.queueDeclare(reply, false, false, true, null);
            Wait.until(RESULT, "the result to arrive once the queue is back", () -> {
                try {
                    com.rabbitmq.client.GetResponse response = channel.basicGet(reply, true);
                    body[0] = response == null ? null : response.getBody();
                } catch (java.io.IOException e) {
                    throw new AssertionError(e);
                }
                return body[0] != null;
            }, worker::logTail);
        });
        JsonNode result = jcyme.tasks.Json.MAPPER.readTree(body[0]);
        assertEquals("SUCCESS", result.path("status").asText(), result.toString());
        assertEquals(42, result.path("result").asInt());
        assertEquals(sent.id(), result.path("task_id").asText());
        assertEquals(1, worker.logTail().split("tasks.add\\[" + sent.id() + "\\] succeeded", -1).length - 1, "run once, not again");
        worker.terminate();
        assertEquals(0, worker.waitForExit(Duration.ofSeconds(30)));
        Wait.until(Duration.ofSeconds(10), "acked once its result was taken (an unacked task would be back)", () -> messageCount(queue) == 0);   // acks follow the results
    }

    @Test
    void twoDeliveriesOfOneTaskIdAreKeptApart() throws Exception {
        Map<String, AtomicInteger> results = new ConcurrentHashMap<>();
        producer.addResultListener(result -> results.computeIfAbsent(result.taskId(), id -> new AtomicInteger()).incrementAndGet());
        WorkerProcess worker = worker("w", "-Q", queue, "-c", "2");

        String running = UUID.randomUUID().toString();
        send(TaskRequest.of("tasks.sleep").args(1).id(running));
        send(TaskRequest.of("tasks.sleep").args(1).id(running));
        Wait.until(Duration.ofSeconds(20), "both deliveries to run", () -> active(worker) == 2);
        Wait.until(RESULT, "both results", () -> count(results, running) == 2);

        String scheduled = UUID.randomUUID().toString();
        send(TaskRequest.of("tasks.add").args(1, 2).id(scheduled).countdown(Duration.ofSeconds(1)));
        send(TaskRequest.of("tasks.add").args(1, 2).id(scheduled).countdown(Duration.ofSeconds(1)));
        Wait.until(RESULT, "both scheduled deliveries to run", () -> count(results, scheduled) == 2, worker::logTail);

        worker.terminate();
        assertEquals(0, worker.waitForExit(Duration.ofSeconds(30)));
        Wait.until(Duration.ofSeconds(10), "all four acked", () -> messageCount(queue) == 0);   // acks follow the results
    }

    @Test
    void sigtermWhileStartingStopsTheWorkerCleanly() throws Exception {
        AsyncResult waiting = send(TaskRequest.of("tasks.add").args(1, 2));
        try (StallingProxy proxy = new StallingProxy(broker.url())) {
            WorkerProcess worker = new WorkerProcess("w-" + queue, tmp.resolve("w"), proxy.url(), "-Q", queue, "-c", "1");
            workers.add(worker);
            worker.launch();
            Wait.until(Duration.ofSeconds(60), "the worker to declare its queue", proxy::holding, worker::logTail);
            worker.terminate();
            Wait.until(Duration.ofSeconds(20), "the signal to be handled", () -> worker.logText().contains("SIGTERM received"),
                    worker::logTail);
            proxy.release();
            assertEquals(0, worker.waitForExit(Duration.ofSeconds(30)), "stopped, exit 0" + worker.logTail());
            assertFalse(worker.logText().contains("ready: consuming"), "never ready" + worker.logTail());
            assertFalse(Files.exists(worker.pidfile()));
        }
        assertTrue(waiting.state() == TaskState.SUCCESS || broker.messageCount(queue) == 1, "the task was not lost");
    }

    // ---- helpers ------------------------------------------------------------------------------

    static final JsonNodeFactory JSON = JsonNodeFactory.instance;

    interface ChannelAction {
        void run(Channel channel) throws Exception;
    }

    void withChannel(ChannelAction action) throws Exception {
        try (Connection connection = BrokerUrl.parse(broker.url()).connectionFactory(1000).newConnection("it-admin");
             Channel channel = connection.createChannel()) {
            action.run(channel);
        }
    }

    int messageCount(String queueName) {
        try {
            return broker.messageCount(queueName);
        } catch (Exception e) {
            return -1;
        }
    }

    /** A task message whose result comes back to the producer. */
    TaskMessage message(String task, ArrayNode args, ObjectNode embed) {
        String id = UUID.randomUUID().toString();
        return new TaskMessage(id, task, args, JSON.objectNode(), embed, 0, null, null, null, null, id, null, null,
                "it", false, producer.replyQueue(), id);
    }

    /** tasks.add(n, 1) linked to tasks.add(result, 10) on queue {@code linked} (its own exchange). */
    TaskMessage parentWithLink(int n, String linked) {
        ObjectNode link = JSON.objectNode().put("task", "tasks.add").put("immutable", false);
        link.putArray("args").add(10);
        link.putObject("kwargs");
        link.putObject("options").put("queue", linked).put("exchange", linked);
        ObjectNode embed = TaskMessage.defaultEmbed();
        embed.putArray("callbacks").add(link);
        return message("tasks.add", JSON.arrayNode().add(n).add(1), embed);
    }

    /** Publishes a raw task message with confirms, as any producer could. */
    AsyncResult publish(String exchange, String routingKey, TaskMessage message) throws Exception {
        withChannel(channel -> {
            channel.confirmSelect();
            TaskMessage.Encoded encoded = message.encode();
            channel.basicPublish(exchange, routingKey, encoded.properties(), encoded.body());
            channel.waitForConfirmsOrDie(10_000);
        });
        return producer.result(message.id());
    }

    private static int count(Map<String, AtomicInteger> results, String id) {
        AtomicInteger n = results.get(id);
        return n == null ? 0 : n.get();
    }

    /**
     * A TCP proxy to the broker that holds the first {@code queue.declare} a client sends (a
     * worker's first, when it starts consuming) until {@link #release()}: the worker is then
     * inside its start-up for as long as the test likes.
     */
    static final class StallingProxy implements AutoCloseable {
        private final String brokerUrl;
        private final BrokerUrl target;
        private final ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        private final CountDownLatch held = new CountDownLatch(1);
        private final CountDownLatch released = new CountDownLatch(1);
        private final List<Socket> sockets = new CopyOnWriteArrayList<>();

        StallingProxy(String brokerUrl) throws IOException {
            this.brokerUrl = brokerUrl;
            this.target = BrokerUrl.parse(brokerUrl);
            daemon(this::accept);
        }

        String url() {
            return brokerUrl.replace(":" + target.port() + "/", ":" + server.getLocalPort() + "/");
        }

        boolean holding() {
            return held.getCount() == 0;
        }

        void release() {
            released.countDown();
        }

        private void accept() {
            try {
                while (true) {
                    Socket client = server.accept();
                    Socket upstream = new Socket(target.host(), target.port());
                    sockets.add(client);
                    sockets.add(upstream);
                    daemon(() -> frames(client, upstream));
                    daemon(() -> copy(upstream, client));
                }
            } catch (IOException closed) {
                // the proxy is closed
            }
        }

        /** Client to broker, frame by frame: the protocol header, then type, channel, size, payload, end. */
        private void frames(Socket from, Socket to) {
            try (DataInputStream in = new DataInputStream(from.getInputStream())) {
                OutputStream out = to.getOutputStream();
                byte[] header = new byte[8];
                in.readFully(header);
                out.write(header);
                while (true) {
                    byte[] frameHeader = new byte[7];
                    in.readFully(frameHeader);
                    int size = ByteBuffer.wrap(frameHeader, 3, 4).getInt();
                    byte[] rest = new byte[size + 1];
                    in.readFully(rest);
                    boolean queueDeclare = frameHeader[0] == 1 && size >= 4
                            && ByteBuffer.wrap(rest, 0, 4).getInt() == (50 << 16 | 10);
                    if (queueDeclare && held.getCount() > 0) {
                        held.countDown();
                        released.await();
                    }
                    out.write(frameHeader);
                    out.write(rest);
                    out.flush();
                }
            } catch (IOException | InterruptedException e) {
                closeQuietly(to);
            }
        }

        private void copy(Socket from, Socket to) {
            try {
                from.getInputStream().transferTo(to.getOutputStream());
            } catch (IOException e) {
                // one side closed
            }
            closeQuietly(to);
        }

        private static void daemon(Runnable body) {
            Thread thread = new Thread(body, "stalling-proxy");
            thread.setDaemon(true);
            thread.start();
        }

        private static void closeQuietly(Socket socket) {
            try {
                socket.close();
            } catch (IOException e) {
                // closing anyway
            }
        }

        @Override
        public void close() throws IOException {
            release();
            server.close();
            sockets.forEach(StallingProxy::closeQuietly);
        }
    }

    private static int active(WorkerProcess worker) {
        try {
            return worker.control("active").size();
        } catch (Exception e) {
            return -1;
        }
    }

    private static int current(WorkerProcess worker) {
        try {
            return worker.control("stats").at("/autoscaler/current").asInt();
        } catch (Exception e) {
            return -1;
        }
    }

    private static Set<String> queueNames(WorkerProcess worker) throws Exception {
        Set<String> names = new java.util.HashSet<>();
        worker.control("active_queues").forEach(q -> names.add(q.path("name").asText()));
        return names;
    }
}
