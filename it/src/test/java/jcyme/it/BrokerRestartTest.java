package jcyme.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import jcyme.broker.EmbeddedBroker;
import jcyme.tasks.BrokerUrl;
import jcyme.tasks.TaskProducer;
import jcyme.tasks.TaskRequest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A worker whose broker restarts under it (a broker of this test's own, never a shared one): the
 * reconnect is one WARN line and one INFO line, never an ERROR, and the recovered channel goes on
 * running and acking tasks, past one held for a day.
 */
class BrokerRestartTest {
    static final Duration RECONNECT = Duration.ofSeconds(60);
    /** More than the worker's prefetch at -c 2 with its ack window open: the queue drains only if acks flow. */
    static final int AFTER_RESTART = 400;

    @TempDir
    Path tmp;

    private EmbeddedBroker broker;
    private WorkerProcess worker;

    @AfterEach
    void stop() throws Exception {
        if (worker != null) {
            worker.close();
        }
        if (broker != null) {
            broker.close();
        }
    }

    @Test
    void aBrokerRestartIsOneWarningAndOneInfoLineAndTasksGoOnBeingAcked() throws Exception {
        broker = EmbeddedBroker.start(0, tmp.resolve("broker"));
        String queue = "restart-" + UUID.randomUUID().toString().substring(0, 8);
        String second = queue + "-b";
        worker = new WorkerProcess("w-" + queue, tmp.resolve("w"), broker.amqpUrl(), "-Q", queue + "," + second, "-c", "2").start();
        try (TaskProducer producer = TaskProducer.connect(broker.amqpUrl())) {
            assertEquals(2, producer.send(TaskRequest.of("tasks.add").args(1, 1).queue(queue).build()).get(RECONNECT).asInt());
            producer.send(TaskRequest.of("tasks.noop").queue(second).ignoreResult(true).countdown(Duration.ofDays(1)).build());
            Wait.until(RECONNECT, "the countdown task to be held", () -> scheduled() == 1, worker::logTail);
        }

        int port = broker.port();
        broker.close();
        broker = EmbeddedBroker.start(port, tmp.resolve("broker"));
        Wait.until(RECONNECT, "the worker to reconnect", () -> worker.logText().contains("reconnected"), worker::logTail);

        try (TaskProducer producer = TaskProducer.connect(broker.amqpUrl())) {
            List<TaskRequest> tasks = new ArrayList<>();
            for (int i = 0; i < AFTER_RESTART; i++) {
                tasks.add(TaskRequest.of("tasks.noop").queue(queue).ignoreResult(true).build());
            }
            producer.sendAll(tasks);
            assertEquals(4, producer.send(TaskRequest.of("tasks.add").args(2, 2).queue(queue).build()).get(RECONNECT).asInt());
            // the embedded broker counts a delivered message until it is acked
            Wait.until(RECONNECT, "the queue to drain", () -> messages(queue) == 0, worker::logTail);
            assertEquals(1, scheduled(), "the countdown task is held again, once");
        }
        assertTrue(worker.isAlive());
        List<String> lines = worker.logText().lines().toList();
        assertEquals(List.of(), lines.stream().filter(line -> line.contains(" ERROR ")).toList(), "no ERROR line" + worker.logTail());
        assertEquals(1, lines.stream().filter(line -> line.contains(" WARN ")).count(), "one WARN line: the connection lost" + worker.logTail());
        assertEquals(1, lines.stream().filter(line -> line.contains("reconnected")).count(), worker.logTail());
    }

    /** Tasks the worker holds for their ETA. */
    private int scheduled() {
        try {
            return worker.control("scheduled").size();
        } catch (IOException e) {
            return -1;
        }
    }

    private int messages(String queue) {
        try (Connection connection = BrokerUrl.parse(broker.amqpUrl()).connectionFactory(1000).newConnection("it-depth");
             Channel channel = connection.createChannel()) {
            return channel.queueDeclarePassive(queue).getMessageCount();
        } catch (Exception e) {
            return -1;
        }
    }
}
