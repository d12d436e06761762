package jcyme.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import jcyme.client.BranchClient;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.ResourceAccessMode;
import org.junit.jupiter.api.parallel.ResourceLock;

/** {@code cyme status}, as Celery's: the instances that answer, "N nodes online.", or exit 69. */
@ResourceLock(value = TestBroker.RABBITMQ, mode = ResourceAccessMode.READ)
class CymeStatusTest {
    @TempDir
    Path tmp;

    final String app = "status-" + UUID.randomUUID().toString().substring(0, 8);
    BranchProcess branch;

    @AfterEach
    void cleanUp() throws Exception {
        if (branch != null) {
            branch.close();
        }
        BranchProcess.killAllWith("-Djcyme.instance=" + app + "/");
    }

    @Test
    void noInstanceIsExit69AndOneRunningIsOneNodeOnline() throws Exception {
        branch = new BranchProcess(tmp.resolve("instances"), "--broker", TestBroker.rabbitmq().url()).start();
        BranchClient client = BranchClient.of(branch.url());
        client.createApp(app);

        BranchProcess.Reply none = BranchProcess.cyme("status", "-u", branch.url());
        assertEquals(69, none.status(), none.text());
        assertEquals("No nodes replied within time constraint.", none.text().strip());

        client.createInstance(app, "w1", Map.of("queues", List.of(app + "-q")));
        Wait.until(Duration.ofSeconds(60), "w1 to be RUNNING", () -> client.instance(app, "w1").state().equals("RUNNING"), branch::log);
        BranchProcess.Reply one = BranchProcess.cyme("status", "-u", branch.url());
        assertEquals(0, one.status(), one.text());
        assertTrue(one.text().contains("->  " + app + "/w1 on "), one.text());
        assertTrue(one.text().endsWith("\n1 node online.\n"), one.text());

        client.disable(app, "w1");
        BranchProcess.Reply stopped = BranchProcess.cyme("status", "-u", branch.url());
        assertEquals(69, stopped.status(), "a stopped instance does not answer: " + stopped.text());
    }
}
