package jcyme.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import jcyme.tasks.TaskProducer;
import jcyme.tasks.TaskRequest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.ResourceLock;

/** A real branch JVM, its real worker JVMs and a real broker (RabbitMQ, or the branch's embedded one). */
@ResourceLock(TestBroker.RABBITMQ)
class BranchTest {
    @TempDir
    Path tmp;

    final String app = "app-" + UUID.randomUUID().toString().substring(0, 8);
    final List<BranchProcess> branches = new ArrayList<>();

    BranchProcess branch(String... options) throws Exception {
        BranchProcess branch = new BranchProcess(tmp.resolve("instances"), options);
        branches.add(branch);
        return branch.start();
    }

    BranchProcess rabbitBranch() throws Exception {
        return branch("--broker", TestBroker.rabbitmq().url());
    }

    @AfterEach
    void cleanUp() throws Exception {
        for (BranchProcess branch : branches) {
            branch.close();
        }
        for (String marker : List.of("-Djcyme.instance=" + app + "/", "-Djcyme.broker=" + tmp)) {
            BranchProcess.killAllWith(marker);
        }
    }

    private String instanceMarker(String name) {
        return "-Djcyme.instance=" + app + "/" + name + " ";
    }

    @Test
    void quickstartWithTheEmbeddedBroker() throws Exception {
        BranchProcess branch = branch("--broker-port", Integer.toString(BranchProcess.freePort()));
        assertEquals(201, branch.call("PUT", "/" + app).status());
        assertEquals(201, branch.call("POST", "/" + app + "/instances/w1?queues=q1").status());
        branch.awaitState(app, "w1", "RUNNING");
        JsonNode autoscale = branch.json("PUT", "/" + app + "/instances/w1/autoscale?min=4&max=10");
        assertEquals(10, autoscale.path("max").asInt());
        assertEquals(4, autoscale.path("current").asInt());
        JsonNode stats = branch.json("GET", "/" + app + "/instances/w1/stats");
        assertEquals(10, stats.at("/autoscaler/max").asInt());
        assertEquals(4, stats.at("/autoscaler/min").asInt());

        BranchProcess.Reply sent = branch.call("POST", "/" + app + "/tasks/tasks.add", "{\"args\": [2, 3], \"queue\": \"q1\"}");
        assertEquals(202, sent.status(), sent.text());
        JsonNode result = branch.json("GET", "/" + app + "/query/" + sent.json().path("id").asText() + "/wait?timeout=30");
        assertEquals("SUCCESS", result.path("state").asText());
        assertEquals(5, result.path("result").asInt());
        for (String file : List.of("worker.pid", "worker.log", "worker.statedb")) {
            assertTrue(Files.exists(branch.dataDir.resolve("w1").resolve(file)), file);
        }
        assertTrue(branch.call("GET", "/" + app + "/instances/w1/log?lines=5").text().contains("ready"));
        assertEquals(200, branch.call("DELETE", "/" + app).status());
    }

    @Test
    void aKilledInstanceIsRunningAgainWithoutARequest() throws Exception {
        BranchProcess branch = rabbitBranch();
        branch.json("PUT", "/" + app);
        branch.json("POST", "/" + app + "/instances/w1");
        long pid = branch.awaitState(app, "w1", "RUNNING").path("pid").asLong();
        ProcessHandle.of(pid).orElseThrow().destroyForcibly();
        Wait.until(Duration.ofSeconds(30), "a new w1 process", () -> {
            JsonNode now = branch.call("GET", "/" + app + "/instances/w1").json();
            return now.path("state").asText().equals("RUNNING") && now.path("pid").asLong() != pid;
        }, branch::log);
        JsonNode instance = branch.json("GET", "/" + app + "/instances/w1");
        assertTrue(instance.path("restarts").asInt() >= 1);
        assertEquals(1, BranchProcess.processesWith(instanceMarker("w1")).size(), "exactly one worker");
        assertTrue(branch.log().contains("instance w1: RUNNING -> EXITED")
                || branch.log().contains("instance w1: RUNNING -> BACKOFF"), "the exit was noticed and logged\n" + branch.log());
    }

    @Test
    void aCrashLoopEndsInFatalAndRestartRecovers() throws Exception {
        BranchProcess branch = rabbitBranch();
        branch.json("PUT", "/" + app + "?jvm_options=-XX:+NoSuchJvmOption");
        branch.json("POST", "/" + app + "/instances/w1");
        branch.awaitState(app, "w1", "FATAL");
        assertTrue(branch.log().contains("BACKOFF"), branch.log());
        assertEquals(0, BranchProcess.processesWith(instanceMarker("w1")).size());

        assertEquals(200, branch.call("PUT", "/" + app, "{\"jvm_options\": []}").status());
        assertEquals(200, branch.call("POST", "/" + app + "/instances/w1/restart").status());
        branch.awaitState(app, "w1", "RUNNING");
    }

    @Test
    void aKilledBranchLeavesInstancesRunningAndReadoptsThem() throws Exception {
        BranchProcess branch = rabbitBranch();
        branch.json("PUT", "/" + app);
        branch.json("POST", "/" + app + "/instances/w1?queues=" + app + "-q");
        branch.json("POST", "/" + app + "/instances/w2?queues=" + app + "-q");
        long w1 = branch.awaitState(app, "w1", "RUNNING").path("pid").asLong();
        long w2 = branch.awaitState(app, "w2", "RUNNING").path("pid").asLong();
        branch.kill9();

        try (TaskProducer producer = TaskProducer.connect(TestBroker.rabbitmq().url())) {
            assertEquals(9, producer.send(TaskRequest.of("tasks.add").args(4, 5).queue(app + "-q").build())
                    .get(Duration.ofSeconds(30)).asInt(), "instances keep processing without their branch");
        }
        branch.start();
        assertEquals(w1, branch.awaitState(app, "w1", "RUNNING").path("pid").asLong(), "re-adopted, not restarted");
        assertEquals(w2, branch.awaitState(app, "w2", "RUNNING").path("pid").asLong());
        assertEquals(List.of(w1), BranchProcess.processesWith(instanceMarker("w1")), "no duplicate");
        assertEquals(List.of(w2), BranchProcess.processesWith(instanceMarker("w2")));
        assertEquals(3, branch.json("PUT", "/" + app + "/instances/w1/autoscale?min=3&max=5").path("current").asInt(),
                "the adopted instance is controlled");

        branch.kill9();
        try (Connection db = DriverManager.getConnection("jdbc:sqlite:" + branch.dataDir.resolve("branch.db"));
             Statement s = db.createStatement()) {
            s.executeUpdate("DELETE FROM instances WHERE name = 'w2'");
        }
        branch.start();
        assertEquals(List.of(), BranchProcess.processesWith(instanceMarker("w2")), "an instance without a record is stopped");
        assertFalse(Files.exists(branch.dataDir.resolve("w2")));
        assertEquals(List.of(w1), BranchProcess.processesWith(instanceMarker("w1")));
    }

    @Test
    void deletingAnAppLeavesNoProcessAndNoDirectory() throws Exception {
        BranchProcess branch = rabbitBranch();
        branch.json("PUT", "/" + app);
        branch.json("POST", "/" + app + "/instances/w1");
        branch.json("POST", "/" + app + "/instances/w2");
        branch.awaitState(app, "w1", "RUNNING");
        branch.awaitState(app, "w2", "RUNNING");
        assertEquals(200, branch.call("DELETE", "/" + app).status());
        assertEquals(List.of(), BranchProcess.processesWith("-Djcyme.instance=" + app + "/"));
        assertFalse(Files.exists(branch.dataDir.resolve("w1")));
        assertFalse(Files.exists(branch.dataDir.resolve("w2")));
        assertEquals(404, branch.call("GET", "/" + app).status());
    }

    @Test
    void autoscaleAndConsumersChangeLive() throws Exception {
        BranchProcess branch = rabbitBranch();
        branch.json("PUT", "/" + app);
        branch.json("POST", "/" + app + "/instances/w1?queues=" + app + "-a&min=1&max=2");
        branch.awaitState(app, "w1", "RUNNING");
        branch.json("PUT", "/" + app + "/instances/w1/autoscale?min=2&max=6");
        JsonNode stats = branch.json("GET", "/" + app + "/instances/w1/stats");
        assertEquals(6, stats.at("/autoscaler/max").asInt());
        assertEquals(2, stats.at("/autoscaler/current").asInt());
        assertEquals(24, stats.at("/consumer/prefetch_count").asInt());

        jcyme.supervisor.ControlClient.call(branch.dataDir.resolve("w1/worker.sock"), "autoscale",
                java.util.Map.of("max", 3, "min", 1), Duration.ofSeconds(5));
        Wait.until(Duration.ofSeconds(20), "the reconcile to correct autoscale drift", () ->
                branch.json("GET", "/" + app + "/instances/w1/stats").at("/autoscaler/max").asInt() == 6);

        String extra = app + "-b";
        assertEquals(201, branch.call("PUT", "/" + app + "/instances/w1/queues/" + extra).status());
        assertTrue(branch.json("GET", "/" + app + "/instances/w1/queues").has(extra));
        assertEquals(200, branch.call("DELETE", "/" + app + "/instances/w1/queues/" + extra).status());
        assertFalse(branch.json("GET", "/" + app + "/instances/w1/queues").has(extra));
        assertTrue(branch.json("GET", "/" + app + "/instances/w1/queues").has("dq.w1"));

        assertEquals(201, branch.call("PUT", "/" + app + "/queues/" + extra + "?exchange=" + app + "-ex&exchange_type=topic&routing_key=k.%23").status());
        assertEquals("topic", branch.json("GET", "/" + app + "/queues/" + extra).path("exchange_type").asText());
        branch.call("PUT", "/" + app + "/instances/w1/queues/" + extra);
        assertEquals(app + "-ex", branch.json("GET", "/" + app + "/instances/w1/queues").path(extra).path("exchange").asText());
        assertEquals(200, branch.call("DELETE", "/" + app + "/queues/" + extra).status());
        assertFalse(branch.json("GET", "/" + app + "/instances/w1/queues").has(extra), "deleting a queue unbinds it at once");
    }

    @Test
    void startUpRefusalsAreClear() throws Exception {
        BranchProcess exposed = new BranchProcess(tmp.resolve("a"), "--bind", "0.0.0.0:" + BranchProcess.freePort());
        assertStartFails(exposed, 2, "without a token");
        BranchProcess wildcard = new BranchProcess(tmp.resolve("c"), "--cluster-bind", "0.0.0.0:7800");
        assertStartFails(wildcard, 2, "--cluster-bind needs an address the other branches can reach");
        BranchProcess open = new BranchProcess(tmp.resolve("d"), "--cluster-bind", "10.255.255.1:7800");
        assertStartFails(open, 2, "without a secret");
        assertStartFails(new BranchProcess(tmp.resolve("e"), "--peers", "somewhere"), 2, "--peers entries must be host:port");
        try (java.net.ServerSocket taken = new java.net.ServerSocket(0)) {
            BranchProcess clash = new BranchProcess(tmp.resolve("b"), "--broker-port", Integer.toString(taken.getLocalPort()));
            assertStartFails(clash, 1, "port " + taken.getLocalPort() + " on 127.0.0.1 is already in use");
        }
    }

    private static void assertStartFails(BranchProcess branch, int code, String message) throws Exception {
        Process process = branch.startExpectingExit();
        assertTrue(process.waitFor(60, java.util.concurrent.TimeUnit.SECONDS));
        assertEquals(code, process.exitValue(), branch.log());
        assertTrue(branch.log().contains(message), branch.log());
    }

    @Test
    void everyBadRequestIsAClearErrorAndChangesNothing() throws Exception {
        BranchProcess branch = rabbitBranch();
        branch.json("PUT", "/" + app);
        branch.json("POST", "/" + app + "/instances/w1");
        branch.awaitState(app, "w1", "RUNNING");
        JsonNode appsBefore = branch.json("GET", "/");
        JsonNode instancesBefore = branch.json("GET", "/" + app + "/instances");
        JsonNode appBefore = branch.json("GET", "/" + app);
        Object[][] cases = {
                {"PUT", "/..%2Fx", 400}, {"PUT", "/.hidden", 400}, {"PUT", "/ping", 400}, {"PUT", "/branches", 400},
                {"POST", "/" + app + "/instances/..%2Fx", 400}, {"POST", "/" + app + "/instances/" + "x".repeat(200), 400},
                {"POST", "/" + app + "/instances/w2?min=5&max=2", 400}, {"POST", "/" + app + "/instances/w2?max=zero", 400},
                {"POST", "/" + app + "/instances/w2?color=red", 400}, {"POST", "/" + app + "/instances/w1", 409},
                {"POST", "/" + app + "/instances/w2?queues=bad%20q", 400},
                {"PUT", "/" + app + "/instances/w1/autoscale?min=9&max=3", 400},
                {"PUT", "/" + app + "/instances/w1/autoscale?max=abc", 400},
                {"PUT", "/" + app + "?max_concurrency=0", 400}, {"PUT", "/" + app + "?color=red", 400},
                {"PUT", "/" + app + "?classpath=/no/such.jar", 400}, {"PUT", "/" + app + "?broker=redis://x", 400},
                {"GET", "/no-such-app", 404}, {"GET", "/no-such-app/instances", 404},
                {"GET", "/" + app + "/instances/nope", 404}, {"GET", "/" + app + "/instances/nope/stats", 404},
                {"DELETE", "/" + app + "/instances/nope", 404}, {"DELETE", "/" + app + "/instances/w1/queues/nope", 404},
                {"GET", "/" + app + "/queues/nope", 404}, {"DELETE", "/" + app + "/queues/nope", 404},
                {"DELETE", "/no-such-app", 404}, {"GET", "/branches/nope", 404},
                {"PATCH", "/" + app, 405}, {"GET", "/" + app + "/instances/!/w1", 405}, {"DELETE", "/", 405},
                {"POST", "/" + app + "/tasks/tasks.add", 400, "{\"args\": 5}"},
                {"POST", "/" + app + "/instances/w3", 400, "{not json"},
                {"POST", "/" + app + "/instances/w3", 400, "[1, 2]"},
                {"GET", "/" + app + "/instances/w1/log?lines=-1", 400},
        };
        for (Object[] c : cases) {
            BranchProcess.Reply reply = branch.call((String) c[0], (String) c[1], c.length > 3 ? (String) c[3] : null);
            String what = c[0] + " " + c[1] + " -> " + reply.status() + " " + reply.text();
            assertEquals((int) c[2], reply.status(), what);
            assertTrue(reply.json().path("error").isTextual(), "JSON error body: " + what);
            assertFalse(reply.text().contains("Exception") && reply.text().contains("\tat "), "no stack trace: " + what);
        }
        assertEquals(appsBefore, branch.json("GET", "/"));
        assertEquals(instancesBefore, branch.json("GET", "/" + app + "/instances"));
        assertEquals(appBefore, branch.json("GET", "/" + app));
        assertFalse(Files.exists(tmp.resolve("x")));
        assertNotEquals(0, branch.json("GET", "/" + app + "/instances/w1").path("pid").asLong());
    }
}
