package jcyme.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import jcyme.tasks.AsyncResult;
import jcyme.tasks.TaskProducer;
import jcyme.tasks.TaskRequest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.ResourceAccessMode;
import org.junit.jupiter.api.parallel.ResourceLock;

/** Each task's own work directory, and the scrub of old ones, on a real worker against RabbitMQ. */
@ResourceLock(value = TestBroker.RABBITMQ, mode = ResourceAccessMode.READ)
class WorkDirTest {
    static final Duration RESULT = Duration.ofSeconds(30);
    private static final Pattern SCRUB_LINE = Pattern.compile(
            "scrubbed (\\d+) work directories \\((\\d+) bytes\\) in (\\S+): free [0-9.]+% before, [0-9.]+% after \\(threshold 100\\.0%\\)");

    @TempDir
    Path tmp;

    final String queue = "it-" + UUID.randomUUID().toString().substring(0, 8);
    TaskProducer producer;
    WorkerProcess worker;

    @BeforeEach
    void connect() throws Exception {
        producer = TaskProducer.connect(TestBroker.rabbitmq().url());
    }

    @AfterEach
    void cleanUp() throws Exception {
        if (worker != null) {
            worker.close();
        }
        producer.close();
    }

    private WorkerProcess start(String... options) throws Exception {
        worker = new WorkerProcess("wd-" + queue, tmp.resolve("instance"), TestBroker.rabbitmq().url(), options);
        return worker.start();
    }

    private AsyncResult send(TaskRequest.Builder request) throws Exception {
        return producer.send(request.queue(queue).build());
    }

    private Path workdir(AsyncResult call) throws Exception {
        return Path.of(call.get(RESULT).asText());
    }

    @Test
    void everyTaskThatAsksHasItsOwnDirectoryUnderTheInstanceAndItsFilesStay() throws Exception {
        start("-Q", queue, "-c", "2");

        AsyncResult first = send(TaskRequest.of("tasks.workdir").args("out.txt", "first"));
        AsyncResult second = send(TaskRequest.of("tasks.workdir"));
        Path one = workdir(first);
        Path two = workdir(second);
        Path work = worker.dir.resolve("work").toRealPath();

        assertNotEquals(one, two);
        assertTrue(one.isAbsolute(), one.toString());
        assertEquals(work.resolve(first.id()), one.toRealPath());
        assertEquals(work.resolve(second.id()), two.toRealPath());
        assertTrue(Files.isDirectory(two), "an empty directory is kept too");
        assertEquals("first", Files.readString(one.resolve("out.txt")), "a file the task wrote outlives it");

        AsyncResult plain = send(TaskRequest.of("tasks.add").args(1, 2));
        assertEquals(3, plain.get(RESULT).asInt());
        assertFalse(Files.exists(work.resolve(plain.id())), "a task that never asks for its directory gets none");
    }

    @Test
    void aDiskUnderTheThresholdLosesTheOldDirectoriesButNotTheRunningTasksOwn() throws Exception {
        // at 100% the disk always looks full: before each task, every directory not in use goes
        start("-Q", queue, "-c", "2", "--scrub-below", "100", "--scrub-check-interval", "0");
        Path first = workdir(send(TaskRequest.of("tasks.workdir").args("a.txt", "12345")));
        assertTrue(Files.exists(first.resolve("a.txt")));

        Path second = workdir(send(TaskRequest.of("tasks.workdir").args("b.txt", "123")));
        assertFalse(Files.exists(first), "scrubbed before the second task started");
        assertTrue(Files.exists(second.resolve("b.txt")));

        AsyncResult running = send(TaskRequest.of("tasks.workdir").args("c.txt", "1", 30));
        Path runningDir = first.resolveSibling(running.id());
        Wait.until(Duration.ofSeconds(20), "the sleeping task's file", () -> Files.exists(runningDir.resolve("c.txt")), worker::logTail);
        assertFalse(Files.exists(second), "scrubbed before the sleeping task started");

        Path next = workdir(send(TaskRequest.of("tasks.workdir")));
        assertTrue(Files.isDirectory(runningDir), "the running task keeps its directory");
        assertTrue(Files.isDirectory(next), "the new task has its own");

        Matcher scrub = SCRUB_LINE.matcher(worker.logText());
        Path work = worker.dir.resolve("work").toRealPath();
        for (String bytes : List.of("5", "3")) {
            assertTrue(scrub.find(), "a scrub of " + bytes + " bytes" + worker.logTail());
            assertEquals("1", scrub.group(1));
            assertEquals(bytes, scrub.group(2), "the bytes of the files the scrubbed task wrote");
            assertEquals(work, Path.of(scrub.group(3)).toRealPath());
        }
        assertFalse(scrub.find(), "nothing else was scrubbed: the running task's directory stayed" + worker.logTail());

        worker.control("revoke", Map.of("task_id", List.of(running.id()), "terminate", true));
    }

    @Test
    void aThresholdThatIsNoPercentageIsRefusedAtStart() throws Exception {
        worker = new WorkerProcess("wd-" + queue, tmp.resolve("bad"), TestBroker.rabbitmq().url(), "-Q", queue, "--scrub-below", "150");
        worker.launch();
        assertEquals(2, worker.waitForExit(Duration.ofSeconds(30)));
        assertTrue(Files.readString(worker.dir.resolve("stdout.log"))
                .contains("worker: --scrub-below must be a percentage from 0 to 100, got 150.0"), worker.logTail());
    }
}
