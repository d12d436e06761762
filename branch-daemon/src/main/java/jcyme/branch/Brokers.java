package jcyme.branch;

import java.io.IOException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeoutException;
import jcyme.api.App;
import jcyme.api.QueueSpec;
import jcyme.tasks.BrokerUrl;
import jcyme.tasks.CeleryQueue;
import jcyme.tasks.TaskProducer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Which broker an app or instance uses, how its queues are declared, and one producer per broker URL. */
final class Brokers implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Brokers.class);

    /** How long a purge waits for the broker to connect and answer. */
    static final int PURGE_TIMEOUT_MS = 5000;

    private final Store store;
    private final String branchBroker;
    private final Map<String, TaskProducer> producers = new ConcurrentHashMap<>();

    /** @param branchBroker  the branch's own broker: its embedded one or the one it was given */
    Brokers(Store store, String branchBroker) {
        this.store = store;
        this.branchBroker = branchBroker;
    }

    String branchBroker() {
        return branchBroker;
    }

    /** The instance's own broker, else the app's, else the branch's. */
    String brokerOf(App app, String instanceBroker) {
        if (instanceBroker != null && !instanceBroker.isEmpty()) return instanceBroker;
        if (app != null && app.broker() != null && !app.broker().isEmpty()) return app.broker();
        return branchBroker;
    }

    /** The app's declaration of a queue, or Celery's defaults for it. */
    CeleryQueue queueSpec(String app, String queue) {
        QueueSpec spec = store.queue(app, queue).orElse(QueueSpec.named(queue));
        return new CeleryQueue(spec.name(), spec.exchange(), spec.exchangeType(), spec.routingKey());
    }

    /** The {@code add_consumer} arguments of one of the app's queues. */
    Map<String, Object> binding(String app, String queue) {
        CeleryQueue spec = queueSpec(app, queue);
        Map<String, Object> args = new HashMap<>();
        args.put("queue", spec.name());
        args.put("exchange", spec.exchange());
        args.put("exchange_type", spec.exchangeType());
        args.put("routing_key", spec.routingKey());
        return args;
    }

    /** An open producer for the broker: the cached one, or a new one when the old connection was lost. */
    TaskProducer producer(String url) {
        return producers.compute(url, (u, current) -> {
            if (current != null && current.isOpen()) {
                return current;
            }
            if (current != null) {
                closeQuietly(current);
            }
            try {
                return TaskProducer.connect(u);
            } catch (IOException | com.rabbitmq.client.ShutdownSignalException e) {
                throw new BranchException(502, "cannot reach broker " + BrokerUrl.parse(u).display() + ": "
                        + Checks.firstLine(e.getMessage()));
            }
        });
    }

    /**
     * Removes every ready message of a queue on a broker and says how many there were: 404 when the
     * broker has no such queue, 502 when it cannot be reached.
     */
    int purge(String broker, String queue) {
        com.rabbitmq.client.ConnectionFactory factory = BrokerUrl.parse(broker).connectionFactory(PURGE_TIMEOUT_MS);
        factory.setAutomaticRecoveryEnabled(false);
        factory.setConnectionTimeout(PURGE_TIMEOUT_MS);
        factory.setHandshakeTimeout(PURGE_TIMEOUT_MS);
        com.rabbitmq.client.Connection connection;
        try {
            connection = factory.newConnection("jcyme-branch-purge");
        } catch (IOException | TimeoutException | RuntimeException e) {
            throw new BranchException(502, "cannot reach broker " + QueueDepths.label(broker) + ": " + Checks.firstLine(String.valueOf(e.getMessage())));
        }
        try (connection; com.rabbitmq.client.Channel channel = connection.createChannel()) {
            channel.queueDeclarePassive(queue);
            return channel.queuePurge(queue).getMessageCount();
        } catch (IOException e) {
            if (e.getCause() instanceof com.rabbitmq.client.ShutdownSignalException signal && !signal.isHardError()
                    && signal.getReason() instanceof com.rabbitmq.client.AMQP.Channel.Close close
                    && close.getReplyCode() == com.rabbitmq.client.AMQP.NOT_FOUND) {
                throw BranchException.notFound("broker " + QueueDepths.label(broker) + " has no queue '" + queue + "'");
            }
            throw new BranchException(502, "broker " + QueueDepths.label(broker) + " refused to purge '" + queue + "': "
                    + Checks.firstLine(String.valueOf(e.getMessage())));
        } catch (TimeoutException | RuntimeException e) {
            throw new BranchException(502, "broker " + QueueDepths.label(broker) + " refused to purge '" + queue + "': "
                    + Checks.firstLine(String.valueOf(e.getMessage())));
        }
    }

    /** Deletes queues on the branch's broker (best effort). */
    void deleteQueues(List<String> queues) {
        try (com.rabbitmq.client.Connection connection = BrokerUrl.parse(branchBroker).connectionFactory(1000).newConnection("jcyme-branch");
             com.rabbitmq.client.Channel channel = connection.createChannel()) {
            for (String queue : queues) {
                channel.queueDelete(queue);
            }
        } catch (IOException | TimeoutException | RuntimeException e) {
            log.debug("could not delete {}: {}", queues, e.getMessage());
        }
    }

    @Override
    public void close() {
        producers.values().forEach(Brokers::closeQuietly);
    }

    private static void closeQuietly(TaskProducer producer) {
        try {
            producer.close();
        } catch (IOException | RuntimeException e) {
            // gone already
        }
    }
}
