package jcyme.it;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import jcyme.broker.EmbeddedBroker;
import jcyme.tasks.BrokerUrl;

/** A real broker under test: the embedded one (in this JVM) or RabbitMQ (from JCYME_RABBITMQ_URL). */
abstract class TestBroker {
    /**
     * The lock of the classes that use the suite's RabbitMQ. Workers of different tests on one
     * broker share its {@code celeryev} exchange and node names ({@code w1@host}), and a branch
     * records the task events of every worker it knows by name: a class that reads task history,
     * events or task metrics holds it alone; the others hold it in READ mode, side by side.
     */
    static final String RABBITMQ = "jcyme.it.rabbitmq";

    abstract String url();

    /** Restarts the broker: every connection drops; durable queues and persistent messages stay. */
    abstract void restart() throws Exception;

    /** Messages ready in {@code queue}. */
    int messageCount(String queue) throws Exception {
        try (Connection connection = BrokerUrl.parse(url()).connectionFactory(1000).newConnection();
             Channel channel = connection.createChannel()) {
            return channel.queueDeclarePassive(queue).getMessageCount();
        }
    }

    private static TestBroker embedded;

    /** One embedded broker per test JVM, on a free port, persisting to a temp dir. */
    static synchronized TestBroker embedded() throws Exception {
        if (embedded == null) {
            Path data = Files.createTempDirectory("jcyme-it-broker");
            embedded = new Embedded(EmbeddedBroker.start(0, data), data);
        }
        return embedded;
    }

    private static final java.util.Map<String, TestBroker> checked = new java.util.concurrent.ConcurrentHashMap<>();

    /** The test RabbitMQ of JCYME_RABBITMQ_URL (bin/test starts its own node and sets it). */
    static TestBroker rabbitmq() {
        String url = System.getenv("JCYME_RABBITMQ_URL");
        if (url == null || url.isBlank()) {
            throw new IllegalStateException("JCYME_RABBITMQ_URL is not set: run the suite with bin/test, which starts RabbitMQ");
        }
        return rabbitmq(url);
    }

    /**
     * The RabbitMQ at {@code url}, once checked to be one: the AMQP server there must announce
     * itself as RabbitMQ (an embedded broker of a running branch, or anything else holding the
     * port, is refused with a clear message).
     */
    static TestBroker rabbitmq(String url) {
        return checked.computeIfAbsent(url, u -> {
            BrokerUrl parsed = BrokerUrl.parse(u);
            Object product;
            try (Connection connection = parsed.connectionFactory(5000).newConnection("jcyme-it-check")) {
                product = connection.getServerProperties().get("product");
            } catch (Exception e) {
                throw new IllegalStateException("no RabbitMQ answers at " + parsed.display() + " (" + e
                        + "): run the suite with bin/test, which starts its own RabbitMQ (scripts/rabbitmq.sh)", e);
            }
            if (product == null || !product.toString().equals("RabbitMQ")) {
                throw new IllegalStateException("the AMQP server at " + parsed.display() + " is not RabbitMQ (its product is '"
                        + product + "'; a branch's embedded broker?): point JCYME_RABBITMQ_URL at the test RabbitMQ that"
                        + " bin/test starts (scripts/rabbitmq.sh, port 5673)");
            }
            return new Rabbit(u, parsed.port());
        });
    }

    private static final class Embedded extends TestBroker {
        private EmbeddedBroker broker;
        private final Path data;

        Embedded(EmbeddedBroker broker, Path data) {
            this.broker = broker;
            this.data = data;
        }

        @Override
        String url() {
            return broker.amqpUrl();
        }

        @Override
        synchronized void restart() throws Exception {
            int port = broker.port();
            broker.close();
            broker = EmbeddedBroker.start(port, data);
        }
    }

    private static final class Rabbit extends TestBroker {
        private final String url;
        private final int port;

        Rabbit(String url, int port) {
            this.url = url;
            this.port = port;
        }

        @Override
        String url() {
            return url;
        }

        @Override
        void restart() throws Exception {
            // restarts the node bin/test started, found by its name and checked to own this port
            String node = System.getenv("JCYME_RABBITMQ_NODE");
            if (node == null || node.isBlank()) {
                throw new IllegalStateException("JCYME_RABBITMQ_NODE is not set: only the test RabbitMQ of bin/test is restarted");
            }
            Path script = Path.of(System.getProperty("jcyme.home", "."), "scripts", "rabbitmq.sh");
            ProcessBuilder builder = new ProcessBuilder(script.toString(), "restart-app").inheritIO();
            builder.environment().put("JCYME_RABBITMQ_PORT", Integer.toString(port));
            Process process = builder.start();
            if (!process.waitFor(120, TimeUnit.SECONDS) || process.exitValue() != 0) {
                throw new IllegalStateException("scripts/rabbitmq.sh restart-app failed");
            }
        }
    }
}
