package jcyme.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import jcyme.tasks.TaskProducer;
import jcyme.tasks.TaskRequest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.ResourceAccessMode;
import org.junit.jupiter.api.parallel.ResourceLock;

/** Purge, like {@code celery purge} and {@code celery worker --purge}: against a real branch, worker and RabbitMQ. */
@ResourceLock(value = TestBroker.RABBITMQ, mode = ResourceAccessMode.READ)
class PurgeTest {
    private static final int K = 7;

    @TempDir
    Path tmp;

    final String app = "purge-" + UUID.randomUUID().toString().substring(0, 8);
    final String queue = app + "-idle";
    BranchProcess branch;
    WorkerProcess worker;

    @AfterEach
    void cleanUp() throws Exception {
        if (worker != null) {
            worker.kill9();
        }
        if (branch != null) {
            branch.close();
        }
    }

    @Test
    void purgeDropsExactlyTheWaitingTasksAndTheCliAsksFirst() throws Exception {
        TestBroker broker = TestBroker.rabbitmq();
        branch = new BranchProcess(tmp.resolve("instances"), "--broker", broker.url()).start();
        assertEquals(201, branch.call("PUT", "/" + app, "{\"default_queues\": [\"" + queue + "\"]}").status());

        publish(broker, queue, K);
        assertEquals(K, broker.messageCount(queue));
        BranchProcess.Reply purged = branch.call("DELETE", "/" + app + "/queues/" + queue + "/messages");
        assertEquals(200, purged.status(), purged.text());
        assertEquals(K, purged.json().path("purged").asInt(), purged.text());
        assertEquals(0, broker.messageCount(queue));

        BranchProcess.Reply missing = branch.call("DELETE", "/" + app + "/queues/" + app + "-nowhere/messages");
        assertEquals(404, missing.status(), missing.text());
        assertTrue(missing.json().path("error").asText().contains(app + "-nowhere"), missing.text());
        assertEquals(404, branch.call("DELETE", "/no-such-app-" + app + "/queues/" + queue + "/messages").status());

        publish(broker, queue, 3);
        BranchProcess.Reply refused = cyme(false, "purge", app, "-u", branch.url());
        assertEquals(1, refused.status(), refused.text());
        assertTrue(refused.text().contains("refusing to purge"), refused.text());
        assertEquals(3, broker.messageCount(queue), "a refused purge drops nothing");

        publish(broker, queue, K - 3);
        BranchProcess.Reply forced = cyme(false, "purge", app, "-Q", queue, "-f", "-u", branch.url());
        assertEquals(0, forced.status(), forced.text());
        assertTrue(forced.text().contains("Purged " + K + " messages from 1 known task queues."), forced.text());
        assertEquals(0, broker.messageCount(queue));

        // without -Q: every queue the app knows (declared and default, each once)
        assertEquals(201, branch.call("PUT", "/" + app + "/queues/" + queue).status());
        publish(broker, queue, 2);
        BranchProcess.Reply asked = cyme(true, "purge", app, "-u", branch.url());
        assertEquals(0, asked.status(), asked.text());
        assertTrue(asked.text().contains("You are about to purge"), asked.text());
        assertTrue(asked.text().contains(queue), asked.text());
        assertTrue(asked.text().contains("Purged 2 messages from 1 known task queues."), asked.text());
        assertEquals(0, broker.messageCount(queue));
    }

    @Test
    void aWorkerStartedWithPurgeDropsWhatWaitedAndRunsWhatComesAfter() throws Exception {
        TestBroker broker = TestBroker.rabbitmq();
        List<String> waiting = publish(broker, queue, K);
        assertEquals(K, broker.messageCount(queue));

        worker = new WorkerProcess(app + "-w", tmp.resolve("w"), broker.url(), "-Q", queue, "-c", "1", "--purge").start();
        assertTrue(worker.logText().contains("purged " + K + " messages from 1 queues"), worker.logTail());

        try (TaskProducer producer = TaskProducer.connect(broker.url())) {
            assertEquals(9, producer.send(TaskRequest.of("tasks.add").args(4, 5).queue(queue).build())
                    .get(Duration.ofSeconds(30)).asInt());
        }
        String log = worker.logText();
        for (String id : waiting) {
            assertFalse(log.contains(id), "purged task " + id + " ran:\n" + log);
        }
        assertTrue(log.contains("succeeded"), log);
        assertEquals(0, broker.messageCount(queue));
    }

    /** Publishes {@code n} tasks to a queue nobody consumes; their ids. */
    private static List<String> publish(TestBroker broker, String queue, int n) throws Exception {
        List<TaskRequest> requests = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            requests.add(TaskRequest.of("tasks.add").args(i, 1).queue(queue).build());
        }
        try (TaskProducer producer = TaskProducer.connect(broker.url())) {
            return producer.sendAll(requests).stream().map(r -> r.id()).toList();
        }
    }

    /** {@code cyme ARGS} from dist/ with stdin answering "y", or closed when {@code yes} is false. */
    private static BranchProcess.Reply cyme(boolean yes, String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", BranchProcess.lib() + "/*", "jcyme.cli.CymeMain"));
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        if (!yes) {
            builder.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        }
        Process cli = builder.start();
        if (yes) {
            cli.getOutputStream().write("y\n".getBytes());
            cli.getOutputStream().close();
        }
        String output = new String(cli.getInputStream().readAllBytes());
        if (!cli.waitFor(60, TimeUnit.SECONDS)) {
            cli.destroyForcibly();
            throw new AssertionError("cyme " + List.of(args) + " did not exit: " + output);
        }
        return new BranchProcess.Reply(cli.exitValue(), output);
    }
}
