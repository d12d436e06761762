package jcyme.worker;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.ShutdownSignalException;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.TimeoutException;
import jcyme.tasks.BrokerUrl;

/** The worker's {@code --purge}: every ready message of its queues dropped before it consumes. */
final class StartupPurge {
    /** How long the purge waits for the broker to connect and answer. */
    static final int TIMEOUT_MS = 10_000;

    /** What a purge did: messages dropped, and from how many of the queues (a queue the broker lacks has none). */
    record Purged(long messages, int queues) {}

    private StartupPurge() {}

    static Purged purge(BrokerUrl broker, List<String> queues) throws IOException, TimeoutException {
        ConnectionFactory factory = broker.connectionFactory(TIMEOUT_MS);
        factory.setAutomaticRecoveryEnabled(false);
        factory.setConnectionTimeout(TIMEOUT_MS);
        factory.setHandshakeTimeout(TIMEOUT_MS);
        long messages = 0;
        try (Connection connection = factory.newConnection("jcyme-worker-purge")) {
            for (String queue : queues) {
                try (Channel channel = connection.createChannel()) {
                    channel.queueDeclarePassive(queue);
                    messages += channel.queuePurge(queue).getMessageCount();
                } catch (IOException e) {
                    if (!notFound(e)) {
                        throw e;
                    }
                }
            }
        }
        return new Purged(messages, queues.size());
    }

    /** A passive declare of a queue the broker does not have closes the channel with 404; nothing to purge then. */
    private static boolean notFound(IOException e) {
        return e.getCause() instanceof ShutdownSignalException signal && !signal.isHardError()
                && signal.getReason() instanceof AMQP.Channel.Close close && close.getReplyCode() == AMQP.NOT_FOUND;
    }
}
