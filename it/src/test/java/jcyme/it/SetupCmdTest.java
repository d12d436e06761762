package jcyme.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.ResourceLock;

/** An app's setup_cmd runs before each start of its workers; a failing or slow one is a failed start that never starts a worker. */
@ResourceLock(TestBroker.RABBITMQ)
class SetupCmdTest {
    @TempDir
    Path tmp;

    final String app = "setup-" + UUID.randomUUID().toString().substring(0, 8);
    final List<BranchProcess> branches = new ArrayList<>();

    BranchProcess branch(String... options) throws Exception {
        List<String> all = new ArrayList<>(List.of("--broker", TestBroker.rabbitmq().url()));
        all.addAll(List.of(options));
        BranchProcess branch = new BranchProcess(tmp.resolve("instances"), all.toArray(String[]::new));
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

    private void putApp(BranchProcess branch, String setupCmd) throws IOException {
        BranchProcess.Reply reply = branch.call("PUT", "/" + app,
                jcyme.tasks.Json.MAPPER.writeValueAsString(java.util.Map.of("setup_cmd", setupCmd)));
        assertEquals(201, reply.status(), reply.text());
    }

    private static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            return e.toString();
        }
    }

    private static int count(String text, String what) {
        return text.split(java.util.regex.Pattern.quote(what), -1).length - 1;
    }

    @Test
    void setupRunsInTheInstanceDirectoryBeforeEachStart() throws Exception {
        BranchProcess branch = branch();
        putApp(branch, "echo ready > setup.out; echo setup-said-hello");
        branch.json("POST", "/" + app + "/instances/w1");
        branch.awaitState(app, "w1", "RUNNING");

        Path dir = branch.dataDir.resolve("w1");
        assertEquals("ready\n", read(dir.resolve("setup.out")));
        assertTrue(Files.getLastModifiedTime(dir.resolve("setup.out")).compareTo(Files.getLastModifiedTime(dir.resolve("worker.pid"))) <= 0,
                "setup.out written before worker.pid");
        String log = read(dir.resolve("worker.log"));
        int header = log.indexOf("setup: echo ready > setup.out; echo setup-said-hello");
        int output = log.indexOf("\nsetup-said-hello\n");
        int done = log.indexOf("setup: done");
        assertTrue(header >= 0 && header < output && output < done, "header, output, done in order:\n" + log);
        assertTrue(log.substring(done).lines().count() > 1, "the worker's own output follows the setup's:\n" + log);
        assertTrue(branch.json("GET", "/" + app + "/instances/w1").path("last_error").isNull());

        Files.delete(dir.resolve("setup.out"));
        branch.json("POST", "/" + app + "/instances/w1/restart");
        branch.awaitState(app, "w1", "RUNNING");
        assertEquals("ready\n", read(dir.resolve("setup.out")), "the setup runs again before a restart");
        assertEquals(2, count(read(dir.resolve("worker.log")), "setup: done"));
    }

    @Test
    void aFailingSetupIsFatalAndStartsNoWorker() throws Exception {
        BranchProcess branch = branch();
        BranchProcess.Reply tooLong = branch.call("PUT", "/" + app, "{\"setup_cmd\": \"" + "x".repeat(8193) + "\"}");
        assertEquals(400, tooLong.status(), tooLong.text());
        assertTrue(tooLong.json().path("error").asText().contains("setup_cmd"), tooLong.text());
        assertEquals(404, branch.call("GET", "/" + app).status(), "a refused app is not stored");

        putApp(branch, "echo oops-setup-failed; exit 3");
        branch.json("POST", "/" + app + "/instances/w1");
        JsonNode fatal = branch.awaitState(app, "w1", "FATAL");

        Path dir = branch.dataDir.resolve("w1");
        String log = read(dir.resolve("worker.log"));
        assertEquals(3, count(log, "\noops-setup-failed\n"), "one setup per attempt (--start-retries 3):\n" + log);
        assertEquals(3, count(log, "setup: failed: setup_cmd exited with status 3"), log);
        assertFalse(Files.exists(dir.resolve("worker.pid")), "no worker ever wrote its pid file");
        assertEquals(List.of(), BranchProcess.processesWith("-Djcyme.instance=" + app + "/w1 "));
        assertEquals(0, count(branch.log(), "instance w1: STARTING -> RUNNING"));
        String lastError = fatal.path("last_error").asText();
        assertTrue(lastError.contains("exited with status 3") && lastError.contains("oops-setup-failed"), fatal.toString());

        JsonNode[] event = new JsonNode[1];
        Wait.until(Duration.ofSeconds(10), "an instance.fatal event", () -> {
            for (JsonNode e : branch.json("GET", "/events?since=0&limit=10000").path("events")) {
                if (e.path("kind").asText().equals("instance.fatal") && e.path("instance").asText().equals("w1")) {
                    event[0] = e;
                }
            }
            return event[0] != null;
        }, () -> branch.json("GET", "/events?since=0&limit=10000").toString());
        assertTrue(event[0].path("error").asText().contains("exited with status 3"), event[0].toString());
        assertTrue(event[0].path("error").asText().contains("oops-setup-failed"), event[0].toString());
    }

    @Test
    void aSetupPastTheTimeoutIsKilledWithEverythingItStarted() throws Exception {
        BranchProcess branch = branch("--setup-timeout", "2");
        String sleep = "sleep 29." + (100000 + new java.util.Random().nextInt(800000));
        putApp(branch, "echo slow-setup; " + sleep + "; echo never");
        branch.json("POST", "/" + app + "/instances/w1");

        Wait.until(Duration.ofSeconds(30), "the setup to run", () -> !BranchProcess.processesWith(sleep).isEmpty());
        long asked = System.nanoTime();
        assertEquals("STARTING", branch.json("GET", "/" + app + "/instances/w1").path("state").asText());
        assertTrue(System.nanoTime() - asked < Duration.ofSeconds(1).toNanos(), "a running setup does not block status reads");

        JsonNode fatal = branch.awaitState(app, "w1", "FATAL");
        assertTrue(fatal.path("last_error").asText().contains("timed out after 2.0 s"), fatal.toString());
        assertTrue(fatal.path("last_error").asText().contains("slow-setup"), fatal.toString());
        assertEquals(List.of(), BranchProcess.processesWith(sleep), "the setup's children are killed with it");
        String log = read(branch.dataDir.resolve("w1/worker.log"));
        assertTrue(log.lines().noneMatch("never"::equals), log);
        assertFalse(Files.exists(branch.dataDir.resolve("w1/worker.pid")));
    }
}
