package jcyme.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import jcyme.api.QueueSpec;
import jcyme.client.BranchClient;
import jcyme.client.BranchException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.ResourceAccessMode;
import org.junit.jupiter.api.parallel.ResourceLock;

/** BranchClient and the cyme command line against a real branch. */
@ResourceLock(value = TestBroker.RABBITMQ, mode = ResourceAccessMode.READ)
class BranchClientTest {
    @TempDir
    Path tmp;

    final String app = "client-" + UUID.randomUUID().toString().substring(0, 8);

    @AfterEach
    void noWorkerOutlivesTheTest() {
        BranchProcess.processesWith("-Djcyme.instance=" + app + "/")
                .forEach(pid -> ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly));
    }

    @Test
    void typedClientDrivesABranch() throws Exception {
        try (BranchProcess process = new BranchProcess(tmp.resolve("instances"), "--broker", TestBroker.rabbitmq().url(),
                "--token", "s3cret").start()) {
            String url = "http://127.0.0.1:" + process.port;
            BranchException unauthorized = assertThrows(BranchException.class, () -> BranchClient.of(url).apps());
            assertEquals(401, unauthorized.status());
            BranchClient branch = BranchClient.of(url, "s3cret", Duration.ofSeconds(30));
            assertEquals("pong", BranchClient.of(url).ping(), "ping needs no token");

            branch.createApp(app);
            assertTrue(branch.apps().contains(app));
            branch.createInstance(app, "w1", Map.of("queues", List.of(app + "-q"), "min", 1, "max", 2));
            Wait.until(Duration.ofSeconds(60), "w1 running", () -> branch.instance(app, "w1").state().equals("RUNNING"));
            assertEquals(3, branch.setAutoscale(app, "w1", 5, 3).current());
            assertEquals(5, branch.stats(app, "w1").at("/autoscaler/max").asInt());
            branch.declareQueue(app, new QueueSpec(app + "-b", null, "direct", null, null));
            branch.addConsumer(app, "w1", app + "-b");
            assertTrue(branch.consumers(app, "w1").containsKey(app + "-b"));
            String id = branch.sendTask(app, "tasks.add", List.of(20, 22), Map.of(), app + "-b", null);
            assertEquals(42, branch.waitTask(app, id, 30).path("result").asInt());
            assertEquals("SUCCESS", branch.taskState(app, id));
            assertTrue(branch.log(app, "w1", 50).contains("succeeded"));
            assertEquals(List.of(branch.branches().get(0)), branch.branches());
            assertEquals(1, branch.branch(branch.branches().get(0)).instances());
            BranchException nowhere = assertThrows(BranchException.class,
                    () -> branch.createInstance(app, "w2", Map.of("branch", "nope", "max", 1)));
            assertEquals(404, nowhere.status());
            assertTrue(nowhere.getMessage().contains("no live branch 'nope'"), nowhere.getMessage());
            BranchException badPolicy = assertThrows(BranchException.class,
                    () -> branch.createInstance(app, "w2", Map.of("placement", "random")));
            assertEquals(400, badPolicy.status());
            assertEquals(List.of("w1"), branch.instances(app), "a refused placement creates nothing");

            BranchException missing = assertThrows(BranchException.class, () -> branch.instance(app, "nope"));
            assertEquals(404, missing.status());
            assertTrue(missing.getMessage().contains("no instance 'nope'"), missing.getMessage());

            BranchProcess.Reply cli = BranchProcess.cyme("instances", "list", app, "-u", url, "--token", "s3cret");
            String output = cli.text();
            assertEquals(0, cli.status(), output);
            assertTrue(output.matches("(?s)NAME\\s+BRANCH\\s+STATE.*\\nw1\\s+\\S+\\s+RUNNING\\s+\\d+\\s+" + app + "-q.*"), output);

            branch.deleteApp(app);
            assertEquals(List.of(), BranchProcess.processesWith("-Djcyme.instance=" + app + "/"));
        }
    }
}
