package jcyme.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.ResourceLock;

/**
 * An app's live configuration reaches its running workers on every branch; its {@code arguments}
 * are worker options checked by the worker's parser and applied at start.
 */
@ResourceLock(TestBroker.RABBITMQ)
class LiveConfigTest {
    @TempDir
    Path tmp;

    final String app = "cfg-" + UUID.randomUUID().toString().substring(0, 8);
    final List<BranchProcess> branches = new ArrayList<>();

    @AfterEach
    void cleanUp() throws Exception {
        for (BranchProcess branch : branches) {
            branch.close();
        }
        BranchProcess.killAllWith("-Djcyme.instance=" + app + "/");
    }

    @Test
    void appArgumentsAreCheckedByTheWorkersParserAndAppliedAtStart() throws Exception {
        BranchProcess branch = new BranchProcess(tmp.resolve("b"), "--broker", TestBroker.rabbitmq().url());
        branches.add(branch);
        branch.start();

        BranchProcess.Reply unknown = branch.call("PUT", "/" + app, "{\"arguments\": \"--no-such-option\"}");
        assertEquals(400, unknown.status(), unknown.text());
        assertTrue(unknown.json().path("error").asText().contains("--no-such-option"), unknown.text());
        assertEquals(404, branch.call("GET", "/" + app).status(), "a refused app is not stored");

        BranchProcess.Reply badValue = branch.call("PUT", "/" + app, "{\"arguments\": \"--prefetch-multiplier lots\"}");
        assertEquals(400, badValue.status(), badValue.text());
        assertTrue(badValue.json().path("error").asText().contains("--prefetch-multiplier"), badValue.text());

        // --work-dir too: the work-dir scrubber deletes old entries of that directory
        for (String option : List.of("-Q other", "--work-dir /tmp", "--work-dir=/tmp")) {
            BranchProcess.Reply owned = branch.call("PUT", "/" + app, "{\"arguments\": \"" + option + "\"}");
            assertEquals(400, owned.status(), option + ": " + owned.text());
            assertTrue(owned.json().path("error").asText().contains("set by the branch"), owned.text());
            assertEquals(404, branch.call("GET", "/" + app).status());
        }

        assertEquals(201, branch.call("PUT", "/" + app, "{\"arguments\": \"--prefetch-multiplier 1\", \"max_concurrency\": 3}").status());
        assertEquals("--prefetch-multiplier 1", branch.json("GET", "/" + app).path("arguments").asText());

        BranchProcess.Reply badInstance = branch.call("POST", "/" + app + "/instances/w0", "{\"arguments\": \"--pidfile /tmp/x\"}");
        assertEquals(400, badInstance.status(), badInstance.text());
        assertEquals(404, branch.call("GET", "/" + app + "/instances/w0").status(), "a refused instance is not stored");

        branch.json("POST", "/" + app + "/instances/w1");
        branch.awaitState(app, "w1", "RUNNING");
        assertEquals(3, branch.json("GET", "/" + app + "/instances/w1/stats").path("prefetch_count").asInt(), "max 3 x multiplier 1");

        branch.call("POST", "/" + app + "/instances/w2", "{\"arguments\": \"--prefetch-multiplier 2\"}");
        branch.awaitState(app, "w2", "RUNNING");
        assertEquals(6, branch.json("GET", "/" + app + "/instances/w2/stats").path("prefetch_count").asInt(),
                "the instance's arguments come after the app's");
    }

    @Test
    void aPushedConfigReachesEveryWorkerOnEveryBranchOnce() throws Exception {
        int portA = ClusterTest.clusterPort();
        int portB = ClusterTest.clusterPort();
        String peers = "127.0.0.1:" + portA + ",127.0.0.1:" + portB;
        String cluster = "cfg-" + UUID.randomUUID().toString().substring(0, 8);
        BranchProcess a = new BranchProcess(tmp.resolve("a"), "--id", "a", "--broker", TestBroker.rabbitmq().url(),
                "--cluster", cluster, "--cluster-bind", "127.0.0.1:" + portA, "--peers", peers, "--cluster-secret", "s3cret");
        BranchProcess b = new BranchProcess(tmp.resolve("b"), "--id", "b", "--broker", TestBroker.rabbitmq().url(),
                "--cluster", cluster, "--cluster-bind", "127.0.0.1:" + portB, "--peers", peers, "--cluster-secret", "s3cret");
        branches.add(a);
        branches.add(b);
        ClusterTest.startAll(branches);
        ClusterTest.awaitMembers(a, "[\"a\",\"b\"]", Duration.ofSeconds(30));

        assertEquals(201, a.call("PUT", "/" + app, "{\"extra_config\": {\"level\": 0}, \"default_queues\": [\"" + app + "\"]}").status());
        Wait.until(Duration.ofSeconds(20), "the app on b", () -> b.call("GET", "/" + app).status() == 200, () -> b.log());
        a.json("POST", "/" + app + "/instances/wa");
        b.json("POST", "/" + app + "/instances/wb");
        a.awaitState(app, "wa", "RUNNING");
        b.awaitState(app, "wb", "RUNNING");

        JsonNode initial = call(a, "tasks.config");
        assertEquals("initial", initial.path("config_id").asText(), initial.toString());
        assertEquals(0, initial.path("config").path("level").asInt(-1), initial.toString());
        JsonNode before = a.json("GET", "/" + app + "/config");
        assertEquals("initial", before.path("config_id").asText(), before.toString());
        assertEquals("initial", before.path("instances").path("wa").asText(), before.toString());

        JsonNode pushed = put(a, "/" + app + "/config", "{\"config_id\": \"c1\", \"config\": {\"level\": 1}}");
        assertTrue(pushed.path("changed").asBoolean(), pushed.toString());
        awaitHeld(a, "wa", "c1");
        awaitHeld(b, "wb", "c1");
        JsonNode seen = call(a, "tasks.config");
        assertEquals("c1", seen.path("config_id").asText(), seen.toString());
        assertEquals(1, seen.path("config").path("level").asInt(), seen.toString());

        JsonNode again = put(a, "/" + app + "/config", "{\"config_id\": \"c1\", \"config\": {\"level\": 99}}");
        assertFalse(again.path("changed").asBoolean(), again.toString());
        assertEquals("c1", again.path("config_id").asText());
        assertEquals(1, a.json("GET", "/" + app + "/config").path("config").path("level").asInt(), "the second c1 changed nothing");

        BranchProcess.Reply bad = a.call("PUT", "/" + app + "/config", "{\"config\": {\"level\": 2}}");
        assertEquals(400, bad.status(), bad.text());

        put(b, "/" + app + "/config", "{\"config_id\": \"c2\", \"config\": {\"level\": 2}}");
        awaitHeld(a, "wa", "c2");
        awaitHeld(a, "wb", "c2"); // asked of branch a: the view spans the cluster
        JsonNode seenOnB = call(b, "tasks.config");
        assertEquals("c2", seenOnB.path("config_id").asText(), seenOnB.toString());
        assertEquals(2, seenOnB.path("config").path("level").asInt(), seenOnB.toString());

        List<String> hooks = new ArrayList<>();
        call(a, "tasks.lifecycle").forEach(c -> hooks.add(c.asText()));
        assertEquals(List.of("birth(initial)", "death", "birth(c1)", "death", "birth(c2)"), hooks);

        a.json("POST", "/" + app + "/instances/wa2");
        a.awaitState(app, "wa2", "RUNNING");
        assertEquals("c2", a.json("GET", "/" + app + "/config").path("instances").path("wa2").asText(),
                "an instance started later starts with the current config");

        BranchProcess.Reply cli = BranchProcess.cyme("-u", a.url(), "apps", "config", app, "c3", "{\"level\": 3}");
        assertEquals(0, cli.status(), cli.text());
        assertTrue(cli.text().contains("c3"), cli.text());
        awaitHeld(a, "wa2", "c3");
        BranchProcess.Reply badJson = BranchProcess.cyme("-u", a.url(), "apps", "config", app, "c4", "{nope");
        assertTrue(badJson.status() != 0 && badJson.text().startsWith("cyme: ") && badJson.text().strip().lines().count() == 1, badJson.text());
        assertEquals("c3", a.json("GET", "/" + app + "/config").path("config_id").asText(), "a refused push changes nothing");
    }

    /** Runs {@code task} on the app's queue (any of its workers) and returns its result. */
    private JsonNode call(BranchProcess branch, String task) {
        BranchProcess.Reply sent = branch.call("POST", "/" + app + "/tasks/" + task, "{\"queue\": \"" + app + "\"}");
        assertEquals(202, sent.status(), sent.text());
        JsonNode result = branch.json("GET", "/" + app + "/query/" + sent.json().path("id").asText() + "/wait?timeout=30");
        assertEquals("SUCCESS", result.path("state").asText(), result.toString());
        return result.path("result");
    }

    private static JsonNode put(BranchProcess branch, String path, String body) {
        BranchProcess.Reply reply = branch.call("PUT", path, body);
        assertEquals(200, reply.status(), reply.text());
        return reply.json();
    }

    private void awaitHeld(BranchProcess branch, String instance, String configId) {
        Wait.until(Duration.ofSeconds(30), instance + " to hold " + configId,
                () -> configId.equals(branch.json("GET", "/" + app + "/config").path("instances").path(instance).asText()),
                () -> branch.json("GET", "/" + app + "/config").toString());
    }
}
