package jcyme.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.ResourceAccessMode;
import org.junit.jupiter.api.parallel.ResourceLock;

/**
 * The suite's RabbitMQ is found by what answers, not by its port: a running branch's embedded
 * broker (the quickstart holds 127.0.0.1:5672 with one) or any other program on the port is
 * refused with a clear message — by TestBroker and by scripts/rabbitmq.sh, which bin/test runs.
 */
@ResourceLock(value = TestBroker.RABBITMQ, mode = ResourceAccessMode.READ)
class TestRabbitMqCheckTest {
    @TempDir
    Path tmp;

    /** Runs scripts/rabbitmq.sh with {@code env}; the reply's status is its exit code. */
    static BranchProcess.Reply script(Map<String, String> env, String... args) throws Exception {
        Path script = Path.of(System.getProperty("jcyme.home", "..")).toAbsolutePath().resolve("scripts/rabbitmq.sh");
        java.util.List<String> command = new java.util.ArrayList<>(java.util.List.of(script.toString()));
        command.addAll(java.util.List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        builder.environment().putAll(env);
        Process process = builder.start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!process.waitFor(120, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new AssertionError("scripts/rabbitmq.sh " + command + " did not exit: " + output);
        }
        return new BranchProcess.Reply(process.exitValue(), output);
    }

    @Test
    void aRunningBranchsEmbeddedBrokerIsNotTakenForRabbitMQ() throws Exception {
        int brokerPort = BranchProcess.freePort();
        try (BranchProcess branch = new BranchProcess(tmp.resolve("instances"), "--no-cluster",
                "--broker-port", Integer.toString(brokerPort)).start()) {
            // the branch is the one this build assembled, and it answers
            String cmdline = Files.readString(Path.of("/proc", Long.toString(branch.pid()), "cmdline")).replace('\0', ' ');
            assertTrue(cmdline.contains(BranchProcess.lib().toString()), cmdline);
            assertEquals("pong", branch.json("GET", "/ping").path("ok").asText());

            String url = "amqp://guest:guest@127.0.0.1:" + brokerPort + "/";
            IllegalStateException refused = assertThrows(IllegalStateException.class, () -> TestBroker.rabbitmq(url));
            assertTrue(refused.getMessage().contains("is not RabbitMQ"), refused.getMessage());

            BranchProcess.Reply product = script(Map.of("JCYME_RABBITMQ_PORT", Integer.toString(brokerPort)), "product");
            assertEquals(0, product.status(), product.text());
            assertNotEquals("RabbitMQ", product.text().trim());
            BranchProcess.Reply check = script(Map.of("JCYME_RABBITMQ_PORT", Integer.toString(brokerPort)), "check");
            assertEquals(1, check.status(), check.text());
            assertTrue(check.text().contains("is held by something that is not RabbitMQ"), check.text());
            BranchProcess.Reply ensure = script(Map.of("JCYME_RABBITMQ_PORT", Integer.toString(brokerPort),
                    "JCYME_RABBITMQ_NODE", "jcyme-never@localhost"), "ensure");
            assertEquals(1, ensure.status(), ensure.text());
            assertTrue(ensure.text().contains("refusing to use 127.0.0.1:" + brokerPort), ensure.text());

            assertEquals("pong", branch.json("GET", "/ping").path("ok").asText(), "the branch is undisturbed");
        } finally {
            BranchProcess.killAllWith("-Djcyme.broker=" + tmp);
        }
    }

    @Test
    void aForeignProgramOnThePortIsRefused() throws Exception {
        try (ServerSocket foreign = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            Thread server = new Thread(() -> {
                while (!foreign.isClosed()) {
                    try (Socket client = foreign.accept()) {
                        client.getOutputStream().write("HTTP/1.1 400 Bad Request\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                    } catch (IOException e) {
                        // closed
                    }
                }
            });
            server.setDaemon(true);
            server.start();
            int port = foreign.getLocalPort();
            IllegalStateException refused = assertThrows(IllegalStateException.class,
                    () -> TestBroker.rabbitmq("amqp://guest:guest@127.0.0.1:" + port + "/"));
            assertTrue(refused.getMessage().contains("no RabbitMQ answers at"), refused.getMessage());
            BranchProcess.Reply check = script(Map.of("JCYME_RABBITMQ_PORT", Integer.toString(port)), "check");
            assertEquals(1, check.status(), check.text());
            assertTrue(check.text().contains("not RabbitMQ"), check.text());
        }
    }

    @Test
    void theSuitesRabbitMQIsItsOwnNode() throws Exception {
        // like every test of the suite's RabbitMQ, this one runs wherever the suite does, and fails saying why without it
        TestBroker broker = TestBroker.rabbitmq();
        String url = System.getenv("JCYME_RABBITMQ_URL");
        String node = System.getenv("JCYME_RABBITMQ_NODE");
        assertTrue(node != null && !node.isBlank(), "JCYME_RABBITMQ_NODE is not set: run the suite with bin/test, which starts its own RabbitMQ node");
        assertEquals(url, broker.url());
        int port = jcyme.tasks.BrokerUrl.parse(url).port();
        BranchProcess.Reply check = script(Map.of("JCYME_RABBITMQ_PORT", Integer.toString(port), "JCYME_RABBITMQ_NODE", node), "check");
        assertEquals(0, check.status(), check.text());
        BranchProcess.Reply other = script(Map.of("JCYME_RABBITMQ_PORT", Integer.toString(port),
                "JCYME_RABBITMQ_NODE", "jcyme-someone-else@localhost"), "check");
        assertEquals(1, other.status(), "another node's name does not claim this listener: " + other.text());
    }
}
