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

    static TestBroker rabbitmq() {
        String url = System.getenv("JCYME_RABBITMQ_URL");
        if (url == null || url.isBlank()) {
            throw new IllegalStateException("JCYME_RABBITMQ_URL is not set: run the suite with bin/test, which starts RabbitMQ");
        }
        return new Rabbit(url);
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

        Rabbit(String url) {
            this.url = url;
        }

        @Override
        String url() {
            return url;
        }

        @Override
        void restart() throws Exception {
            Path script = Path.of(System.getProperty("jcyme.home", "."), "scripts", "rabbitmq.sh");
            Process process = new ProcessBuilder(script.toString(), "restart-app").inheritIO().start();
            if (!process.waitFor(120, TimeUnit.SECONDS) || process.exitValue() != 0) {
                throw new IllegalStateException("scripts/rabbitmq.sh restart-app failed");
            }
        }
    }
}
