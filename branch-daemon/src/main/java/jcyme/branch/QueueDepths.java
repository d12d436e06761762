package jcyme.branch;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.ShutdownSignalException;
import java.io.IOException;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeoutException;
import java.util.function.LongSupplier;
import jcyme.tasks.BrokerUrl;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Queue depth and consumer count, asked of the broker with a passive {@code queue.declare} (which
 * creates nothing), over one connection per broker kept between asks. An answer, and a broker
 * found down, is reused for {@link #FRESH_NANOS}: scrapes and dashboards polling every second
 * cost the broker one ask per queue per second at most.
 */
final class QueueDepths implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(QueueDepths.class);
    static final long FRESH_NANOS = 1_000_000_000L;
    private static final int TIMEOUT_MS = 1000;

    /** What one broker told: whether it answered, and the queues it has (a missing queue is absent). */
    record Probe(boolean up, Map<String, QueueDepth> queues) {}

    private record Cached<T>(long at, T value) {}

    private final LongSupplier nanoTime;
    private final Map<String, Connection> connections = new HashMap<>();
    private final Map<String, Cached<Boolean>> down = new HashMap<>();
    private final Map<String, Cached<Optional<QueueDepth>>> depths = new HashMap<>();

    QueueDepths(LongSupplier nanoTime) {
        this.nanoTime = nanoTime;
    }

    /** The queues' depths on a broker; a broker that cannot be reached is {@code up == false}, never an exception. */
    synchronized Probe probe(String broker, Collection<String> queues) {
        long now = nanoTime.getAsLong();
        Cached<Boolean> wasDown = down.get(broker);
        if (wasDown != null && now - wasDown.at() < FRESH_NANOS) {
            return new Probe(false, Map.of());
        }
        Map<String, QueueDepth> found = new LinkedHashMap<>();
        Channel channel = null;
        try {
            for (String queue : queues) {
                String key = broker + "\n" + queue;
                Cached<Optional<QueueDepth>> cached = depths.get(key);
                if (cached == null || now - cached.at() >= FRESH_NANOS) {
                    if (channel == null || !channel.isOpen()) {
                        channel = connection(broker).createChannel();
                    }
                    cached = new Cached<>(now, declarePassive(channel, queue));
                    depths.put(key, cached);
                }
                cached.value().ifPresent(depth -> found.put(queue, depth));
            }
            down.remove(broker);
            return new Probe(true, found);
        } catch (IOException | TimeoutException | RuntimeException e) {
            if (down.put(broker, new Cached<>(now, true)) == null) {
                log.warn("broker {} did not answer a queue depth ask: {}", label(broker), Checks.firstLine(String.valueOf(e.getMessage())));
            }
            drop(broker);
            return new Probe(false, Map.of());
        } finally {
            closeQuietly(channel);
        }
    }

    /** The queue's depth on this broker, or empty when the broker has no such queue. */
    private static Optional<QueueDepth> declarePassive(Channel channel, String queue) throws IOException {
        try {
            AMQP.Queue.DeclareOk ok = channel.queueDeclarePassive(queue);
            return Optional.of(new QueueDepth(queue, ok.getMessageCount(), ok.getConsumerCount()));
        } catch (IOException e) {
            if (e.getCause() instanceof ShutdownSignalException signal && !signal.isHardError()
                    && signal.getReason() instanceof AMQP.Channel.Close close && close.getReplyCode() == AMQP.NOT_FOUND) {
                return Optional.empty();
            }
            throw e;
        }
    }

    private Connection connection(String broker) throws IOException, TimeoutException {
        Connection connection = connections.get(broker);
        if (connection != null && connection.isOpen()) {
            return connection;
        }
        ConnectionFactory factory = BrokerUrl.parse(broker).connectionFactory(TIMEOUT_MS);
        factory.setAutomaticRecoveryEnabled(false);
        factory.setTopologyRecoveryEnabled(false);
        factory.setConnectionTimeout(TIMEOUT_MS);
        factory.setHandshakeTimeout(TIMEOUT_MS);
        factory.setChannelRpcTimeout(TIMEOUT_MS);
        connection = factory.newConnection("jcyme-branch-metrics");
        connections.put(broker, connection);
        return connection;
    }

    /** A broker as a label: scheme, host, port and virtual host, never the user or password. */
    static String label(String broker) {
        BrokerUrl url = BrokerUrl.parse(broker);
        return url.scheme() + "://" + url.host() + ":" + url.port() + "/" + (url.virtualHost().equals("/") ? "/" : url.virtualHost());
    }

    private void drop(String broker) {
        Connection connection = connections.remove(broker);
        if (connection != null) {
            connection.abort(TIMEOUT_MS);
        }
    }

    private static void closeQuietly(Channel channel) {
        if (channel != null && channel.isOpen()) {
            try {
                channel.close();
            } catch (IOException | TimeoutException | RuntimeException e) {
                // the connection went meanwhile
            }
        }
    }

    @Override
    public synchronized void close() {
        for (String broker : Map.copyOf(connections).keySet()) {
            drop(broker);
        }
    }
}
