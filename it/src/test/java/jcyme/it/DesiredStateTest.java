package jcyme.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import jcyme.supervisor.ControlClient;
import jcyme.tasks.AsyncResult;
import jcyme.tasks.TaskProducer;
import jcyme.tasks.TaskRequest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.ResourceLock;

/**
 * The store is the only record of what should run: what the branch does at the edges of an
 * instance's life (a branch stopping, a branch restarted mid-stop, FATAL, a warm stop) follows it.
 */
@ResourceLock(TestBroker.RABBITMQ)
class DesiredStateTest {
    @TempDir
    Path tmp;

    final String app = "ds-" + UUID.randomUUID().toString().substring(0, 8);
    final String queue = app + "-q";
    final List<BranchProcess> branches = new ArrayList<>();

    BranchProcess branch() throws Exception {
        BranchProcess branch = new BranchProcess(tmp.resolve("instances"), "--broker", TestBroker.rabbitmq().url());
        branches.add(branch);
        return branch.start();
    }

    @AfterEach
    void cleanUp() throws Exception {
        for (BranchProcess branch : branches) {
            branch.close();
        }
        BranchProcess.killAllWith("-Djcyme.instance=" + app + "/");
    }

    /** Exited: no such process, or one that is only a zombie (a detached worker outlived its branch, and whoever adopted it has not reaped it yet). */
    private static boolean gone(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            return stat.charAt(stat.lastIndexOf(')') + 2) == 'Z';
        } catch (java.io.IOException e) {
            return true;
        }
    }

    private List<Long> workers(String name) {
        return BranchProcess.processesWith("-Djcyme.instance=" + app + "/" + name + " ");
    }

    @Test
    void aStoppingBranchStartsNothing() throws Exception {
        BranchProcess branch = branch();
        branch.json("PUT", "/" + app);
        branch.json("POST", "/" + app + "/instances/w1");
        long pid = branch.awaitState(app, "w1", "RUNNING").path("pid").asLong();

        ProcessHandle self = ProcessHandle.of(branch.pid()).orElseThrow();
        // A request in flight holds the HTTP server's stop open: a wide window for the worker's exit to fall into.
        try (java.net.Socket inFlight = new java.net.Socket("127.0.0.1", branch.port)) {
            inFlight.getOutputStream().write(("GET /" + app + "/query/" + UUID.randomUUID() + "/wait?timeout=3 HTTP/1.1\r\n"
                    + "Host: 127.0.0.1\r\n\r\n").getBytes());
            inFlight.getOutputStream().flush();
            self.destroy();
            Wait.until(Duration.ofSeconds(30), "the branch to begin stopping", () -> branch.log().contains("branch stopping"));
            ProcessHandle.of(pid).orElseThrow().destroyForcibly();
            self.onExit().get(60, TimeUnit.SECONDS);
        }

        assertEquals(List.of(), workers("w1"), "a worker started by a branch that was stopping\n" + branch.log());
    }

    @Test
    void aBranchRestartedWhileAnInstanceStopsFinishesTheStop() throws Exception {
        BranchProcess branch = branch();
        long pid = runningW1(branch);
        try (TaskProducer producer = TaskProducer.connect(TestBroker.rabbitmq().url())) {
            AsyncResult running = producer.send(TaskRequest.of("tasks.sleep").args(4).queue(queue).build());
            awaitActiveTask(branch);
            assertEquals(202, branch.call("POST", "/" + app + "/instances/!/w1/disable").status());
            branch.awaitState(app, "w1", "STOPPING");
            branch.kill9();
            assertTrue(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "the worker outlives its branch");

            branch.start();
            Wait.until(Duration.ofSeconds(60), "the task to finish", () -> running.future().isDone(),
                    () -> branch.log() + "\n--- worker.log\n" + workerLog(branch));
            assertEquals("SUCCESS", running.future().join().state().name(), "the warm shutdown let the task finish");
            Wait.until(Duration.ofSeconds(60), "the old worker to exit", () -> gone(pid));
            JsonNode[] now = new JsonNode[1];
            Wait.until(Duration.ofSeconds(30), "w1 to settle", () -> {
                now[0] = branch.json("GET", "/" + app + "/instances/w1");
                return !List.of("RUNNING", "STOPPING").contains(now[0].path("state").asText()) || now[0].path("pid").asLong() != pid;
            }, () -> String.valueOf(now[0]));
            assertFalse(now[0].path("is_enabled").asBoolean());
            assertEquals("STOPPED", now[0].path("state").asText(), "a disabled instance stays down\n" + branch.log());
            assertEquals(List.of(), workers("w1"));
        }
    }

    /** The app with instance w1 consuming {@link #queue}, RUNNING; its pid. */
    private long runningW1(BranchProcess branch) {
        branch.json("PUT", "/" + app);
        branch.json("POST", "/" + app + "/instances/w1?queues=" + queue);
        return branch.awaitState(app, "w1", "RUNNING").path("pid").asLong();
    }

    /** Waits until w1 runs a task. */
    private static void awaitActiveTask(BranchProcess branch) {
        Path socket = branch.dataDir.resolve("w1/worker.sock");
        Wait.until(Duration.ofSeconds(30), "the task to run", () -> {
            try {
                return ControlClient.call(socket, "active", Map.of(), Duration.ofSeconds(2)).size() > 0;
            } catch (java.io.IOException e) {
                return false;
            }
        });
    }

    private static String workerLog(BranchProcess branch) {
        try {
            return Files.readString(branch.dataDir.resolve("w1/worker.log"));
        } catch (java.io.IOException e) {
            return e.toString();
        }
    }

    @Test
    void aDeleteCutShortByACrashIsFinishedAfterTheRestart() throws Exception {
        BranchProcess branch = branch();
        long pid = runningW1(branch);
        try (TaskProducer producer = TaskProducer.connect(TestBroker.rabbitmq().url())) {
            producer.send(TaskRequest.of("tasks.sleep").args(3).queue(queue).build());
            awaitActiveTask(branch);
        }
        assertEquals(202, branch.call("DELETE", "/" + app + "/instances/!/w1").status());
        Wait.until(Duration.ofSeconds(30), "the stop to begin", () -> branch.log().contains("instance w1: RUNNING -> STOPPING"));
        branch.kill9();

        branch.start();
        Wait.until(Duration.ofSeconds(60), "the delete to finish", () -> branch.call("GET", "/" + app + "/instances/w1").status() == 404
                && !Files.exists(branch.dataDir.resolve("w1")), branch::log);
        assertFalse(branch.json("GET", "/" + app + "/instances").toString().contains("w1"));
        assertEquals(List.of(), workers("w1"));
        assertTrue(gone(pid), "the old worker is gone");
    }

    @Test
    void enablingAFatalInstanceStartsAfresh() throws Exception {
        BranchProcess branch = branch();
        branch.json("PUT", "/" + app + "?jvm_options=-XX:+NoSuchJvmOption");
        branch.json("POST", "/" + app + "/instances/w1");
        branch.awaitState(app, "w1", "FATAL");
        Path log = branch.dataDir.resolve("w1/worker.log");
        assertEquals(3, attempts(log), "start-retries attempts before FATAL");

        assertEquals(200, branch.call("POST", "/" + app + "/instances/w1/enable").status());
        Wait.until(Duration.ofSeconds(30), "three more attempts", () -> attempts(log) >= 6, branch::log);
        branch.awaitState(app, "w1", "FATAL");
        assertEquals(6, attempts(log));
    }

    private static int attempts(Path log) {
        try {
            return (int) Files.readAllLines(log).stream().filter(l -> l.contains("Unrecognized VM option")).count();
        } catch (java.io.IOException e) {
            return 0;
        }
    }

    @Test
    void aDeleteLetsRunningTasksFinishForTheWarmShutdownTime() throws Exception {
        BranchProcess branch = branch();
        long pid = runningW1(branch);
        String cmdline = Files.readString(Path.of("/proc", Long.toString(pid), "cmdline")).replace('\0', ' ');
        assertTrue(cmdline.contains("--shutdown-timeout " + BranchProcess.SHUTDOWN_TIMEOUT + " "),
                "the worker is told the branch's warm shutdown time: " + cmdline);
        try (TaskProducer producer = TaskProducer.connect(TestBroker.rabbitmq().url())) {
            AsyncResult running = producer.send(TaskRequest.of("tasks.sleep").args(3).queue(queue).build());
            awaitActiveTask(branch);
            assertEquals(200, branch.call("DELETE", "/" + app + "/instances/w1").status());
            assertEquals("SUCCESS", running.await(Duration.ofSeconds(10)).state().name());
        }
        assertEquals(List.of(), workers("w1"));
        assertFalse(Files.exists(branch.dataDir.resolve("w1")));
        assertEquals(404, branch.call("GET", "/" + app + "/instances/w1").status());
    }
}
