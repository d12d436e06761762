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
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
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
 *
 * <p>Each task channel has its own {@link Acks}. When a task held unacked for long (an ETA a day
 * away, a long task) keeps the consuming channel's acks from coalescing ({@link Acks} tells it),
 * the queues are consumed on a fresh channel and the old channel's consumers are cancelled: what it
 * delivered is finished and acked there, and it closes once nothing of it is outstanding. At most
 * {@link #MAX_RETIRING_CHANNELS} such channels stay open; past that the consuming channel acks
 * around its held tags one by one.
 */
final class BrokerConsumer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(BrokerConsumer.class);
    /** Channels that stopped consuming but stay open for what they delivered, at most; past it no fresh channel opens. */
    static final int MAX_RETIRING_CHANNELS = 4;

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
    private final WorkerConfig.Batching batching;
    private final ScheduledExecutorService timer;
    private final Runnable onAckModeChange;
    private final int singlesBeforeRotation;
    private Connection connection;
    /** The channel that consumes the task queues; set under {@code taskLock}. */
    private volatile TaskChannel consuming;
    /** Channels whose consumers are cancelled, open until what they delivered is acked; guarded by {@code taskLock}. */
    private final List<TaskChannel> retiring = new ArrayList<>();
    private int channelsOpened;
    private long rotations;
    private boolean closing;
    private final AtomicBoolean rotationPending = new AtomicBoolean();
    /** Opens and closes task channels: round trips to the broker that no task or ack waits for. */
    private final ExecutorService channelWork = Executors.newSingleThreadExecutor(work -> {
        Thread thread = new Thread(work, "task-channels");
        thread.setDaemon(true);
        return thread;
    });
    private Publisher publisher;
    /** Where task messages were sent since the last failed publish: declared already. */
    private final Set<String> declaredTargets = ConcurrentHashMap.newKeySet();
    private volatile int prefetch;

    /** {@code onAckModeChange} is told when the acks widen or narrow their window, so prefetch can follow. */
    BrokerConsumer(BrokerUrl broker, String connectionName, Duration maxBackoff, WorkerConfig.Batching batching,
                   ScheduledExecutorService timer, Runnable onAckModeChange, Handler handler) {
        this(broker, connectionName, maxBackoff, batching, timer, onAckModeChange, handler, Acks.SINGLES_BEFORE_BLOCKED);
    }

    /** {@code singlesBeforeRotation}: acks sent one by one past one held tag before the queues move to a fresh channel. */
    BrokerConsumer(BrokerUrl broker, String connectionName, Duration maxBackoff, WorkerConfig.Batching batching,
                   ScheduledExecutorService timer, Runnable onAckModeChange, Handler handler, int singlesBeforeRotation) {
        this.broker = broker;
        this.connectionName = connectionName;
        this.maxBackoff = maxBackoff;
        this.handler = handler;
        this.batching = batching;
        this.timer = timer;
        this.onAckModeChange = onAckModeChange;
        this.singlesBeforeRotation = singlesBeforeRotation;
    }

    /** Where a request was delivered: the task channel, and the connection's generation then. */
    record DeliveredOn(TaskChannel channel, long generation) {}

    /**
     * A channel that consumes the task queues, or did: its consumers and the acks of what it
     * delivered. Its consumer tags carry its serial, so that those of a fresh channel never meet
     * the old one's in the client's records (which are per connection).
     */
    final class TaskChannel {
        final Channel channel;
        final Acks acks;
        final int serial;
        /** Queue to consumer tag, of the consumers not cancelled; guarded by {@code taskLock}. */
        final Map<String, String> consumers = new LinkedHashMap<>();
        /** Consumers cancelled whose cancel-ok has not come yet: deliveries may still be on their way; guarded by {@code taskLock}. */
        final Set<String> ending = new HashSet<>();
        /** Its consumers are cancelled; set under {@code taskLock}, read without it on each ack. */
        volatile boolean retired;
        /** Guarded by {@code taskLock}. */
        boolean closed;

        private TaskChannel(Channel channel, int serial) {
            this.channel = channel;
            this.serial = serial;
            this.acks = new Acks(new Object(), channel::basicAck, batching.ackWindow(), batching.ackInterval(), timer,
                    onAckModeChange, singlesBeforeRotation, () -> requestRotation(this));
        }

        /** Retired, every delivery it made registered, and all of them acked or settled. */
        private boolean done() {
            return retired && ending.isEmpty() && acks.idle();
        }
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
            consuming = openTaskChannel();
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
                resetAcks();
            }
        });
        log.info("connected to broker {}", broker);
        return true;
    }

    private void onShutdown(ShutdownSignalException cause) {
        if (cause.isInitiatedByApplication()) {
            return;
        }
        resetAcks();
        log.warn("lost the broker connection ({}); reconnecting, unacked tasks will be redelivered", reason(cause));
        handler.onConnectionLost();
    }

    /**
     * The channel is gone with the connection: no tag of before means anything on the recovered
     * one. The consuming channel is recovered with its consumers; retired ones close (the broker
     * gives back what they delivered).
     */
    private void resetAcks() {
        long next = generation.incrementAndGet();
        List<TaskChannel> gone;
        synchronized (taskLock) {
            gone = new ArrayList<>(retiring);
            retiring.clear();
            gone.forEach(channel -> channel.closed = true);
        }
        consuming.acks.reset(next);
        for (TaskChannel channel : gone) {
            channel.acks.reset(next);
            closeLater(channel);
        }
    }

    private TaskChannel openTaskChannel() throws IOException {
        Channel channel = connection.createChannel();
        synchronized (taskLock) {
            return new TaskChannel(channel, channelsOpened++);
        }
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
                consumeOn(consuming, queue.name());
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

    /** Starts a consumer of {@code queue} on {@code on} (under {@code taskLock}). */
    private void consumeOn(TaskChannel on, String queue) throws IOException {
        String consumerTag = "jcyme." + queue + "." + on.serial;
        on.channel.basicConsume(queue, false, consumerTag, new DefaultConsumer(on.channel) {
            @Override
            public void handleDelivery(String tag, Envelope envelope, AMQP.BasicProperties props, byte[] body) {
                deliver(on, envelope, props, body);
            }

            @Override
            public void handleCancelOk(String tag) {
                consumerEnded(on, tag);
            }

            @Override
            public void handleCancel(String tag) {
                log.warn("broker cancelled consumer of queue {} (queue deleted?)", queue);
                synchronized (taskLock) {
                    if (on.consumers.remove(queue) != null && on == consuming) {
                        forget(queue);
                    }
                }
                consumerEnded(on, tag);
                // the client keeps a consumer the broker cancelled, and would consume the queue again after a reconnect
                if (on.channel instanceof AutorecoveringChannel recovering) {
                    recovering.deleteRecordedConsumer(tag);
                }
            }
        });
        on.consumers.put(queue, consumerTag);
    }

    /** A consumer's last delivery has been registered (its cancel-ok comes after them): a retired channel may be done. */
    private void consumerEnded(TaskChannel on, String tag) {
        synchronized (taskLock) {
            on.ending.remove(tag);
        }
        closeIfDone(on);
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
            String consumerTag = consuming.consumers.remove(queue);
            try {
                consuming.channel.basicCancel(consumerTag);
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
                consuming.channel.basicQos(count, true);
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
        return consuming.acks.extraPrefetch();
    }

    /** Task channels open: the consuming one and those retired but not yet done. */
    int taskChannels() {
        synchronized (taskLock) {
            return 1 + retiring.size();
        }
    }

    /** How many times the task queues moved to a fresh channel. */
    long rotations() {
        synchronized (taskLock) {
            return rotations;
        }
    }

    private void deliver(TaskChannel on, Envelope envelope, AMQP.BasicProperties props, byte[] body) {
        DeliveredOn deliveredOn = new DeliveredOn(on, on.acks.delivered(envelope.getDeliveryTag()));
        TaskMessage message;
        try {
            message = TaskMessage.decode(props, body);
        } catch (InvalidMessageException e) {
            log.error("rejected a message from {}: {}", envelope.getRoutingKey(), e.getMessage());
            reject(envelope.getDeliveryTag(), deliveredOn);
            return;
        }
        handler.onTask(new Request(message, envelope, deliveredOn, props.getPriority()));
    }

    /**
     * Acknowledges a finished task whose outcome is confirmed, on the channel that delivered it,
     * now or with the next flush of the coalesced acks; false when the delivery is from before a reconnect.
     */
    boolean ack(Request request) {
        TaskChannel on = request.deliveredOn.channel();
        if (!on.acks.ready(request.envelope.getDeliveryTag(), request.deliveredOn.generation())) {
            log.debug("not acking {}: delivered before a reconnect, the broker redelivers it", request.id());
            return false;
        }
        closeIfDone(on);
        return true;
    }

    void reject(Request request) {
        reject(request.envelope.getDeliveryTag(), request.deliveredOn);
    }

    /** Gives a delivery back to its queue (nack with requeue), to be delivered again. */
    void requeue(Request request) {
        long tag = request.envelope.getDeliveryTag();
        Channel channel = request.deliveredOn.channel().channel;
        settle(tag, request.deliveredOn, "requeue of " + request.id(), () -> channel.basicNack(tag, false, true));
    }

    private void reject(long deliveryTag, DeliveredOn deliveredOn) {
        Channel channel = deliveredOn.channel().channel;
        settle(deliveryTag, deliveredOn, "reject", () -> channel.basicReject(deliveryTag, false));
    }

    private void settle(long tag, DeliveredOn deliveredOn, String what, Acks.Settlement settlement) {
        try {
            deliveredOn.channel().acks.settle(tag, deliveredOn.generation(), settlement);
        } catch (IOException | AlreadyClosedException e) {
            log.debug("{} lost with the connection: {}", what, reason(e));
        }
        closeIfDone(deliveredOn.channel());
    }

    /** {@code on}'s acks are blocked by a held tag: the queues move to a fresh channel, unless one is moving already. */
    private void requestRotation(TaskChannel on) {
        if (!rotationPending.compareAndSet(false, true)) {
            return;
        }
        try {
            channelWork.execute(() -> {
                try {
                    rotate(on);
                } finally {
                    rotationPending.set(false);
                }
            });
        } catch (RejectedExecutionException closing) {
            rotationPending.set(false);
        }
    }

    /**
     * Consumes every queue on a fresh channel (with the same prefetch), then cancels the consumers
     * of {@code blocked}, which finishes and acks what it delivered and then closes. Nothing moves
     * when {@code blocked} no longer consumes, or {@link #MAX_RETIRING_CHANNELS} are retiring already.
     */
    private void rotate(TaskChannel blocked) {
        TaskChannel fresh = null;
        synchronized (taskLock) {
            if (closing || blocked != consuming || queues.isEmpty() || retiring.size() >= MAX_RETIRING_CHANNELS) {
                return;
            }
            try {
                fresh = openTaskChannel();
                if (prefetch > 0) {
                    fresh.channel.basicQos(prefetch, true);
                }
                for (String queue : queues.keySet()) {
                    consumeOn(fresh, queue);
                }
            } catch (IOException | RuntimeException e) {
                log.warn("could not consume on a fresh task channel ({}); acks past a held task go one by one", reason(e));
                if (fresh != null) {
                    retire(fresh); // what it delivered meanwhile is acked there
                }
                return;
            }
            consuming = fresh;
            rotations++;
            retire(blocked);
            log.debug("task queues moved to channel {}: {} channel(s) retiring", fresh.serial, retiring.size());
        }
        closeIfDone(blocked);
        onAckModeChange.run(); // the fresh channel's acks start narrow
    }

    /** Cancels {@code on}'s consumers (under {@code taskLock}): it delivers nothing more, and closes once done. */
    private void retire(TaskChannel on) {
        for (String consumerTag : on.consumers.values()) {
            on.ending.add(consumerTag);
            try {
                on.channel.basicCancel(consumerTag);
            } catch (IOException | RuntimeException e) {
                on.ending.remove(consumerTag); // the broker cancelled it, or the channel is gone: nothing more comes
                log.debug("cancel of {} on a retiring channel: {}", consumerTag, reason(e));
            }
        }
        on.consumers.clear();
        on.retired = true;
        on.acks.retire();
        retiring.add(on);
    }

    private void closeIfDone(TaskChannel on) {
        if (!on.retired) {
            return;
        }
        synchronized (taskLock) {
            if (on.closed || !on.done()) {
                return;
            }
            on.closed = true;
            retiring.remove(on);
        }
        closeLater(on);
        TaskChannel now = consuming;
        if (now.acks.blocked()) {
            requestRotation(now); // it was blocked while the retiring channels were at their cap
        }
    }

    /** Closes a channel no longer needed, off the thread that found it so (a close waits for the broker). */
    private void closeLater(TaskChannel on) {
        try {
            channelWork.execute(() -> close(on.channel));
        } catch (RejectedExecutionException stopping) {
            close(on.channel); // the connection closes anyway
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
        List<TaskChannel> open;
        synchronized (taskLock) {
            closing = true;
            open = new ArrayList<>(retiring);
        }
        if (consuming != null) {
            consuming.acks.flushAll();
        }
        for (TaskChannel channel : open) {
            channel.acks.flushAll();
        }
        channelWork.shutdown();
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
        channelWork.shutdownNow();
        if (connection != null) {
            connection.abort(1_000);
        }
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
