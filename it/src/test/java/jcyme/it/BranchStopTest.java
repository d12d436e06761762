package jcyme.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code bin/branch stop -D DIR} stops the branch with everything it runs: its instances and its embedded broker. */
class BranchStopTest {
    @TempDir
    Path tmp;
    private final String app = "stop-" + UUID.randomUUID().toString().substring(0, 8);
    private BranchProcess branch;

    @AfterEach
    void cleanUp() throws Exception {
        if (branch != null) {
            branch.close();
        }
        BranchProcess.killAllWith("-Djcyme.instance=" + app + "/");
        BranchProcess.killAllWith("-Djcyme.broker=" + tmp);
    }

    @Test
    void branchStopLeavesNoInstanceAndNoBrokerRunning() throws Exception {
        int brokerPort = BranchProcess.freePort();
        branch = new BranchProcess(tmp.resolve("instances"), "--no-cluster", "--broker-port", Integer.toString(brokerPort));
        branch.start();
        assertEquals(201, branch.call("PUT", "/" + app).status());
        assertEquals(201, branch.call("POST", "/" + app + "/instances/w1").status());
        branch.awaitState(app, "w1", "RUNNING");
        assertEquals(1, BranchProcess.processesWith("-Djcyme.broker=" + tmp).size(), "the embedded broker runs");

        Process stop = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", BranchProcess.lib() + "/*", "jcyme.cli.BranchMain", "stop", "-D", tmp.resolve("instances").toString())
                .redirectErrorStream(true).start();
        String output = new String(stop.getInputStream().readAllBytes());
        assertTrue(stop.waitFor(90, TimeUnit.SECONDS), output);
        assertEquals(0, stop.exitValue(), output);
        assertTrue(output.endsWith("stopped\n"), output);

        assertEquals(List.of(), BranchProcess.processesWith("-Djcyme.instance=" + app + "/"), "no worker left\n" + branch.log());
        assertEquals(List.of(), BranchProcess.processesWith("-Djcyme.broker=" + tmp), "no broker left\n" + branch.log());
        assertFalse(listening(brokerPort), "the broker's port is free");
        assertTrue(branch.log().contains("embedded broker stopped"), branch.log());
    }

    private static boolean listening(int port) {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress("127.0.0.1", port), 500);
            return true;
        } catch (java.io.IOException e) {
            return false;
        }
    }
}
