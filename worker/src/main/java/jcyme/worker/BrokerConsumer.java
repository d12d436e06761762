package jcyme.worker;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.AlreadyClosedException;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.DefaultConsumer;
import com.rabbitmq.client.Envelope;
import com.rabbitmq.client.Recoverable;
import com.rabbitmq.client.RecoveryListener;
import com.rabbitmq.client.ShutdownSignalException;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import jcyme.tasks.BrokerUrl;
import jcyme.tasks.CeleryQueue;
import jcyme.tasks.InvalidMessageException;
import jcyme.tasks.TaskMessage;
import jcyme.tasks.TaskResult;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The worker's side of the broker: one connection that reconnects by itself, a channel that
 * consumes the task queues (acks and qos go through it), and a {@link Publisher} for results and
 * task messages, with confirms. After a reconnect, deliveries from before it can no longer be
 * acked; the broker redelivers them.
 */
final class BrokerConsumer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(BrokerConsumer.class);

    /** What the worker does with what the broker delivers. */
    interface Handler {
        void onTask(Request request);

        /** The connection is gone: every unacked delivery will come again after the reconnect. */
        void onConnectionLost();
    }

    private final BrokerUrl broker;
    private final String connectionName;
    private final Handler handler;
    private final Duration maxBackoff;
    private final Map<String, CeleryQueue> queues = new LinkedHashMap<>();
    private final AtomicLong generation = new AtomicLong();
    private final Object taskLock = new Object();
    private Connection connection;
    private Channel taskChannel;
    private Publisher publisher;
    /** Where task messages were sent since the last failed publish: declared already. */
    private final Set<String> declaredTargets = ConcurrentHashMap.newKeySet();
    private volatile int prefetch;
    private final Acks acks;

    /** {@code onAckModeChange} is told when the acks widen or narrow their window, so prefetch can follow. */
    BrokerConsumer(BrokerUrl broker, String connectionName, Duration maxBackoff, WorkerConfig.Batching batching,
                   ScheduledExecutorService timer, Runnable onAckModeChange, Handler handler) {
        this.broker = broker;
        this.connectionName = connectionName;
        this.maxBackoff = maxBackoff;
        this.handler = handler;
        this.acks = new Acks(taskLock, (tag, multiple) -> taskChannel.basicAck(tag, multiple), batching.ackWindow(),
                batching.ackInterval(), timer, onAckModeChange);
    }

    /** Connects, retrying with backoff until it works; false when {@code cancel} opened first. */
    boolean connect(CountDownLatch cancel) throws InterruptedException {
        ConnectionFactory factory = broker.connectionFactory(maxBackoff.toMillis());
        long delay = 250;
        for (int attempt = 1; ; attempt++) {
            try {
                connection = Prepared.tasksConnection(broker, maxBackoff.toMillis()).orElse(null);
                if (connection == null) {
                    connection = factory.newConnection(connectionName);
                }
                break;
            } catch (IOException | TimeoutException e) {
                log.warn("cannot reach broker {} (attempt {}): {}; retrying in {} ms", broker, attempt, reason(e), delay);
                if (cancel.await(delay, TimeUnit.MILLISECONDS)) {
                    return false;
                }
                delay = Math.min(maxBackoff.toMillis(), delay * 2);
            }
        }
        try {
            taskChannel = connection.createChannel();
            publisher = new Publisher(connection);
        } catch (IOException e) {
            throw new IllegalStateException("cannot open a channel on " + broker + ": " + reason(e), e);
        }
        connection.addShutdownListener(this::onShutdown);
        ((Recoverable) connection).addRecoveryListener(new RecoveryListener() {
            @Override
            public void handleRecovery(Recoverable recoverable) {
                log.info("reconnected to broker {}; consuming {} again", broker, queueNames());
            }

            @Override
            public void handleRecoveryStarted(Recoverable recoverable) {
                acks.reset(generation.incrementAndGet());
            }
        });
        log.info("connected to broker {}", broker);
        return true;
    }

    private void onShutdown(ShutdownSignalException cause) {
        if (cause.isInitiatedByApplication()) {
            return;
        }
        acks.reset(generation.incrementAndGet());
        log.warn("lost the broker connection ({}); reconnecting, unacked tasks will be redelivered", reason(cause));
        handler.onConnectionLost();
    }

    long generation() {
        return generation.get();
    }

    /** Declares {@code queue} as Celery does and starts consuming it (no-op when already consumed). */
    boolean consume(CeleryQueue queue) throws IOException {
        synchronized (taskLock) {
            if (queues.containsKey(queue.name())) {
                return false;
            }
        }
        declare(queue); // on a channel of its own, outside the lock: declares of several queues may overlap
        synchronized (taskLock) {
            if (queues.containsKey(queue.name())) {
                return false;
            }
            taskChannel.basicConsume(queue.name(), false, consumerTag(queue.name()), new DefaultConsumer(taskChannel) {
                @Override
                public void handleDelivery(String tag, Envelope envelope, AMQP.BasicProperties props, byte[] body) {
                    deliver(envelope, props, body);
                }

                @Override
                public void handleCancel(String tag) {
                    log.warn("broker cancelled consumer of queue {} (queue deleted?)", queue.name());
                    synchronized (taskLock) {
                        queues.remove(queue.name());
                    }
                }
            });
            queues.put(queue.name(), queue);
            return true;
        }
    }

    /**
     * Declares on a channel of its own: a declaration the broker refuses (say, an exchange that
     * exists with another type) closes that channel, never the one that consumes.
     */
    private void declare(CeleryQueue queue) throws IOException {
        Channel channel = connection.createChannel();
        try {
            queue.declare(channel);
        } catch (IOException e) {
            throw new IOException("broker refused to declare queue " + queue.name() + ": " + reason(e), e);
        } finally {
            if (channel.isOpen()) {
                try {
                    channel.close();
                } catch (TimeoutException | IOException e) {
                    log.debug("closing declare channel: {}", e.getMessage());
                }
            }
        }
    }

    /** Stops consuming {@code queue}; false when it was not consumed. */
    boolean cancel(String queue) throws IOException {
        synchronized (taskLock) {
            if (queues.remove(queue) == null) {
                return false;
            }
            try {
                taskChannel.basicCancel(consumerTag(queue));
            } catch (AlreadyClosedException e) {
                log.debug("cancel of {} while disconnected: {}", queue, e.getMessage());
            }
            return true;
        }
    }

    /** Stops consuming every queue; deliveries already made stay unacked until acked or closed. */
    void cancelAll() {
        for (String queue : queueNames()) {
            try {
                cancel(queue);
            } catch (IOException | AlreadyClosedException e) {
                log.debug("cancel of {} failed: {}", queue, e.getMessage());
            }
        }
    }

    List<CeleryQueue> queues() {
        synchronized (taskLock) {
            return new ArrayList<>(queues.values());
        }
    }

    List<String> queueNames() {
        synchronized (taskLock) {
            return new ArrayList<>(queues.keySet());
        }
    }

    void setPrefetch(int count) {
        synchronized (taskLock) {
            if (count == prefetch) {
                return;
            }
            prefetch = count;
            try {
                taskChannel.basicQos(count, true);
            } catch (IOException | AlreadyClosedException e) {
                log.warn("could not set prefetch to {}: {}", count, reason(e));
            }
        }
    }

    int prefetch() {
        return prefetch;
    }

    /** What prefetch gains while acks are coalesced over a window (finished tasks hold those slots until their ack). */
    int ackWindowPrefetch() {
        return acks.extraPrefetch();
    }

    private void deliver(Envelope envelope, AMQP.BasicProperties props, byte[] body) {
        TaskMessage message;
        try {
            message = TaskMessage.decode(props, body);
        } catch (InvalidMessageException e) {
            log.error("rejected a message from {}: {}", envelope.getRoutingKey(), e.getMessage());
            reject(envelope.getDeliveryTag(), generation.get());
            return;
        }
        handler.onTask(new Request(message, envelope, generation.get(), props.getPriority()));
    }

    /**
     * Acknowledges a finished task whose outcome is confirmed, now or with the next flush of the
     * coalesced acks; false when the delivery is from before a reconnect.
     */
    boolean ack(Request request) {
        if (!acks.ready(request.envelope.getDeliveryTag(), request.channelGeneration)) {
            log.debug("not acking {}: delivered before a reconnect, the broker redelivers it", request.id());
            return false;
        }
        return true;
    }

    void reject(Request request) {
        reject(request.envelope.getDeliveryTag(), request.channelGeneration);
    }

    /** Gives a delivery back to its queue (nack with requeue), to be delivered again. */
    void requeue(Request request) {
        synchronized (taskLock) {
            if (request.channelGeneration != generation.get()) {
                return;
            }
            try {
                taskChannel.basicNack(request.envelope.getDeliveryTag(), false, true);
                acks.settled(request.envelope.getDeliveryTag());
            } catch (IOException | AlreadyClosedException e) {
                log.debug("requeue of {} lost with the connection: {}", request.id(), reason(e));
            }
        }
    }

    private void reject(long deliveryTag, long deliveredIn) {
        synchronized (taskLock) {
            if (deliveredIn != generation.get()) {
                return;
            }
            try {
                taskChannel.basicReject(deliveryTag, false);
                acks.settled(deliveryTag);
            } catch (IOException | AlreadyClosedException e) {
                log.debug("reject lost with the connection: {}", reason(e));
            }
        }
    }

    /** Publishes a result the way Celery's rpc backend does. */
    void publishResult(String replyTo, String correlationId, TaskResult result, Publisher.Confirmation confirmation) {
        publisher.publish("", replyTo, true, result.properties(correlationId), result.toBytes(), confirmation);
    }

    /** Publishes a task message (a retry, or what follows a task); its target queue is declared first. */
    void publishTask(CeleryQueue target, TaskMessage message, Publisher.Confirmation confirmation) {
        TaskMessage.Encoded encoded = message.encode();
        if (declaredTargets.add(target.name())) {
            try {
                declare(target);
            } catch (IOException | AlreadyClosedException e) {
                declaredTargets.remove(target.name());
                confirmation.failed("could not send task " + message.id() + " to " + target.name() + ": " + reason(e));
                return;
            }
        }
        String exchange = target.exchange();
        // a publish that fails may have met a queue or exchange deleted since: declare it again next time
        publisher.publish(exchange, exchange.isEmpty() ? target.name() : target.routingKey(), encoded.properties(),
                encoded.body(), confirmation.onFailure(() -> declaredTargets.remove(target.name())));
    }

    /** The consumed queue a delivery came from (to send a retry back to it). */
    CeleryQueue queueOf(Envelope envelope) {
        synchronized (taskLock) {
            for (CeleryQueue queue : queues.values()) {
                boolean direct = envelope.getExchange().isEmpty() && queue.name().equals(envelope.getRoutingKey());
                boolean routed = queue.exchange().equals(envelope.getExchange()) && queue.routingKey().equals(envelope.getRoutingKey());
                if (direct || routed) {
                    return queue;
                }
            }
        }
        return CeleryQueue.named(envelope.getRoutingKey());
    }

    /** A second connection for what must not wait behind tasks: events and remote control. */
    Connection openSideConnection(String name) throws IOException, TimeoutException {
        Connection prepared = Prepared.sideConnection(broker, maxBackoff.toMillis()).orElse(null);
        return prepared != null ? prepared : broker.connectionFactory(maxBackoff.toMillis()).newConnection(name);
    }

    String brokerDisplay() {
        return broker.display();
    }

    BrokerUrl broker() {
        return broker;
    }

    /** Closes after the broker has confirmed what was published (and those deliveries are acked). */
    @Override
    public void close() {
        if (publisher != null) {
            publisher.drain(5_000);
        }
        acks.flushAll();
        if (connection != null) {
            try {
                connection.close(5_000);
            } catch (IOException | AlreadyClosedException e) {
                log.debug("close: {}", e.getMessage());
            }
        }
    }

    /** Closes at once without waiting; unacked deliveries return to their queues. */
    void abort() {
        if (connection != null) {
            connection.abort(1_000);
        }
    }

    private static String consumerTag(String queue) {
        return "jcyme." + queue;
    }

    static String reason(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String message = root.getMessage() == null ? root.getClass().getSimpleName() : root.getMessage();
        return message.length() > 200 ? message.substring(0, 200) + "..." : message;
    }
}
