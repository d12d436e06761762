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
import com.rabbitmq.client.impl.DefaultExceptionHandler;
import com.rabbitmq.client.impl.recovery.AutorecoveringChannel;
import com.rabbitmq.client.impl.recovery.RecordedBinding;
import com.rabbitmq.client.impl.recovery.RecordedConsumer;
import com.rabbitmq.client.impl.recovery.RecordedEntity;
import com.rabbitmq.client.impl.recovery.RecordedExchange;
import com.rabbitmq.client.impl.recovery.RecordedQueue;
import com.rabbitmq.client.impl.recovery.TopologyRecoveryFilter;
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
 * acked; the broker redelivers them. Each consumed queue is declared on a channel of its own that
 * stays open while it is consumed, so that the reconnect declares it again before consuming it;
 * what was declared on a channel closed since is not replayed (see {@link #connectionFactory}).
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
    /** The channel each consumed queue was declared on, open while it is consumed; guarded by {@code taskLock}. */
    private final Map<String, Channel> declaredOn = new LinkedHashMap<>();
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
        ConnectionFactory factory = connectionFactory(broker, maxBackoff.toMillis());
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
                declaredTargets.clear(); // a broker that lost its queues gets them declared again
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

    /** Declares {@code queue} as Celery does and starts consuming it (no-op when already consumed). */
    boolean consume(CeleryQueue queue) throws IOException {
        if (isConsumed(queue.name())) {
            return false;
        }
        Channel declaration = declare(queue); // outside the lock: declares of several queues may overlap
        boolean consumed = false;
        try {
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
                            forget(queue.name());
                        }
                        // the client keeps a consumer the broker cancelled, and would consume the queue again after a reconnect
                        if (taskChannel instanceof AutorecoveringChannel recovering) {
                            recovering.deleteRecordedConsumer(tag);
                        }
                    }
                });
                queues.put(queue.name(), queue);
                declaredOn.put(queue.name(), declaration);
                consumed = true;
                return true;
            }
        } finally {
            if (!consumed) {
                close(declaration);
            }
        }
    }

    /**
     * Declares on a channel of its own, returned open: a declaration the broker refuses (say, an
     * exchange that exists with another type) closes that channel, never the one that consumes.
     */
    private Channel declare(CeleryQueue queue) throws IOException {
        Channel channel = connection.createChannel();
        try {
            queue.declare(channel);
            return channel;
        } catch (IOException | RuntimeException e) {
            close(channel);
            throw refused(queue, e);
        }
    }

    private static IOException refused(CeleryQueue queue, Exception e) {
        return new IOException("broker refused to declare queue " + queue.name() + ": " + reason(e), e);
    }

    /** Aborts rather than closes: that also forgets a channel the broker closed, which a reconnect would open again. */
    private static void close(Channel channel) {
        try {
            channel.abort();
        } catch (IOException | RuntimeException e) {
            log.debug("closing a declaration channel: {}", e.getMessage());
        }
    }

    /** No longer consumed (under {@code taskLock}): what it was declared on closes, so a reconnect does not declare it again. */
    private void forget(String queue) {
        queues.remove(queue);
        Channel declaration = declaredOn.remove(queue);
        if (declaration != null) {
            close(declaration);
        }
    }

    /** Stops consuming {@code queue}; false when it was not consumed. */
    boolean cancel(String queue) throws IOException {
        synchronized (taskLock) {
            if (!queues.containsKey(queue)) {
                return false;
            }
            forget(queue);
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

    private boolean isConsumed(String queue) {
        synchronized (taskLock) {
            return queues.containsKey(queue);
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
            } catch (AlreadyClosedException e) {
                log.debug("prefetch {} is set once the broker is back: {}", count, reason(e)); // the client applies it on recovery
            } catch (IOException e) {
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
        long deliveredIn = acks.delivered(envelope.getDeliveryTag());
        TaskMessage message;
        try {
            message = TaskMessage.decode(props, body);
        } catch (InvalidMessageException e) {
            log.error("rejected a message from {}: {}", envelope.getRoutingKey(), e.getMessage());
            reject(envelope.getDeliveryTag(), deliveredIn);
            return;
        }
        handler.onTask(new Request(message, envelope, deliveredIn, props.getPriority()));
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
        long tag = request.envelope.getDeliveryTag();
        settle(tag, request.channelGeneration, "requeue of " + request.id(), () -> taskChannel.basicNack(tag, false, true));
    }

    private void reject(long deliveryTag, long deliveredIn) {
        settle(deliveryTag, deliveredIn, "reject", () -> taskChannel.basicReject(deliveryTag, false));
    }

    private void settle(long tag, long deliveredIn, String what, Acks.Settlement settlement) {
        try {
            acks.settle(tag, deliveredIn, settlement);
        } catch (IOException | AlreadyClosedException e) {
            log.debug("{} lost with the connection: {}", what, reason(e));
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
                declareTarget(target);
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

    /**
     * Declares where a task is sent: a queue it consumes on the channel it was declared on (the
     * one a reconnect declares it again on; a declaration on another channel would move it to a
     * channel closed since, and the reconnect would skip it), any other on a channel of its own.
     */
    private void declareTarget(CeleryQueue target) throws IOException {
        Channel consumedOn;
        synchronized (taskLock) {
            consumedOn = declaredOn.get(target.name());
        }
        if (consumedOn == null || !consumedOn.isOpen()) {
            close(declare(target));
            return;
        }
        try {
            target.declare(consumedOn);
        } catch (IOException | RuntimeException e) {
            throw refused(target, e);
        }
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
        return prepared != null ? prepared : connectionFactory(broker, maxBackoff.toMillis()).newConnection(name);
    }

    /**
     * The factory of the worker's connections: {@link BrokerUrl#connectionFactory}, whose automatic
     * recovery declares again only what was declared on channels still open (a channel closed since
     * can declare nothing: the client would log an ERROR and a stack trace for each of its queues,
     * exchanges and bindings), and whose lost connection the worker tells once itself (the
     * client's own reports of the reset socket and of each failed reconnect attempt go to DEBUG).
     */
    static ConnectionFactory connectionFactory(BrokerUrl broker, long maxBackoffMs) {
        ConnectionFactory factory = broker.connectionFactory(maxBackoffMs);
        factory.setTopologyRecoveryFilter(new TopologyRecoveryFilter() {
            @Override
            public boolean filterExchange(RecordedExchange exchange) {
                return onOpenChannel(exchange);
            }

            @Override
            public boolean filterQueue(RecordedQueue queue) {
                return onOpenChannel(queue);
            }

            @Override
            public boolean filterBinding(RecordedBinding binding) {
                return onOpenChannel(binding);
            }

            @Override
            public boolean filterConsumer(RecordedConsumer consumer) {
                return onOpenChannel(consumer);
            }

            private boolean onOpenChannel(RecordedEntity entity) {
                return entity.getChannel().isOpen();
            }
        });
        factory.setExceptionHandler(new DefaultExceptionHandler() {
            @Override
            public void handleUnexpectedConnectionDriverException(Connection connection, Throwable exception) {
                if (exception instanceof IOException) {
                    log.debug("connection {} lost: {}", connection.getClientProvidedName(), reason(exception));
                } else {
                    super.handleUnexpectedConnectionDriverException(connection, exception);
                }
            }

            @Override
            public void handleConnectionRecoveryException(Connection connection, Throwable exception) {
                log.debug("reconnect attempt failed: {}", reason(exception));
            }
        });
        return factory;
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
