package jcyme.tasks;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.DefaultConsumer;
import com.rabbitmq.client.Envelope;
import java.io.IOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.function.Consumer;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeoutException;

/**
 * Sends tasks in Celery's protocol v2 and collects their results from a private reply queue, as
 * Celery's {@code rpc://} backend does. Messages are persistent and every send waits for the
 * broker's publisher confirm, so a returned {@link AsyncResult} means the broker has the task.
 * Thread-safe.
 *
 * <p>Results are kept for a while, not forever ({@link #retainResults}): a final result is
 * forgotten {@link #DEFAULT_RESULT_TTL} after it was first handed to a caller, or after it arrived
 * if no caller asks for it (also a result for an id this producer never sent); an id looked up
 * but never sent is forgotten that long after it was last asked about; a task sent and still
 * pending is kept until its result comes. Past {@link #DEFAULT_MAX_RESULTS} the oldest are
 * forgotten first, pending ones too. A forgotten id reads as PENDING again.
 */
public final class TaskProducer implements AutoCloseable {
    private static final Duration CONFIRM_TIMEOUT = Duration.ofSeconds(30);
    /** How long a result is kept after it was delivered to a caller (or arrived unasked for). */
    public static final Duration DEFAULT_RESULT_TTL = Duration.ofMinutes(10);
    /** How many task ids a producer keeps results for at most. */
    public static final int DEFAULT_MAX_RESULTS = 10_000;

    private final Connection connection;
    private final boolean ownsConnection;
    private final Channel publishChannel;
    private final Channel replyChannel;
    private final String replyQueue = UUID.randomUUID().toString();
    private final String origin = "gen" + ProcessHandle.current().pid() + "@" + hostname();
    private final Results results = new Results(DEFAULT_RESULT_TTL, DEFAULT_MAX_RESULTS, System::nanoTime);
    private final Set<CeleryQueue> declared = new HashSet<>();
    private final List<Consumer<TaskResult>> listeners = new CopyOnWriteArrayList<>();

    private TaskProducer(Connection connection, boolean ownsConnection) throws IOException {
        this.connection = connection;
        this.ownsConnection = ownsConnection;
        this.publishChannel = connection.createChannel();
        publishChannel.confirmSelect();
        this.replyChannel = connection.createChannel();
        replyChannel.queueDeclare(replyQueue, false, false, true, null);
        replyChannel.basicConsume(replyQueue, true, new DefaultConsumer(replyChannel) {
            @Override
            public void handleDelivery(String tag, Envelope envelope, AMQP.BasicProperties props, byte[] body) {
                onReply(body);
            }
        });
    }

    /** Connects to {@code brokerUrl} (Celery form, e.g. {@code amqp://guest:guest@127.0.0.1:5672//}). */
    public static TaskProducer connect(String brokerUrl) throws IOException {
        try {
            Connection connection = BrokerUrl.parse(brokerUrl).connectionFactory(5_000).newConnection("jcyme-producer");
            return new TaskProducer(connection, true);
        } catch (TimeoutException e) {
            throw new IOException("broker " + BrokerUrl.parse(brokerUrl).display() + " did not answer", e);
        }
    }

    /** Uses an open connection; closing the producer leaves it open. */
    public static TaskProducer over(Connection connection) throws IOException {
        return new TaskProducer(connection, false);
    }

    /** Publishes one task and waits for the broker to confirm it. */
    public AsyncResult send(TaskRequest request) throws IOException {
        return sendAll(List.of(request)).get(0);
    }

    /** Publishes tasks in order and waits once for the broker to confirm all of them. */
    public List<AsyncResult> sendAll(List<TaskRequest> requests) throws IOException {
        List<AsyncResult> sent = new ArrayList<>(requests.size());
        synchronized (publishChannel) {
            for (TaskRequest request : requests) {
                if (declared.add(request.queue())) {
                    request.queue().declare(publishChannel);
                }
                AsyncResult result = results.sent(request.id());
                TaskMessage.Encoded message = request.toMessage(replyQueue, origin).encode();
                String exchange = request.queue().exchange();
                String routingKey = exchange.isEmpty() ? request.queue().name() : request.queue().routingKey();
                publishChannel.basicPublish(exchange, routingKey, message.properties(), message.body());
                sent.add(result);
            }
            try {
                publishChannel.waitForConfirmsOrDie(CONFIRM_TIMEOUT.toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while waiting for the broker to confirm", e);
            } catch (TimeoutException e) {
                throw new IOException("broker did not confirm " + requests.size() + " task(s) within "
                        + CONFIRM_TIMEOUT.toSeconds() + " s", e);
            }
        }
        return sent;
    }

    /**
     * Declares {@code queue} on the broker, on a channel of its own (a refused declaration closes
     * only that channel).
     */
    public void declare(CeleryQueue queue) throws IOException {
        Channel channel = connection.createChannel();
        try {
            queue.declare(channel);
            synchronized (publishChannel) {
                declared.add(queue);
            }
        } finally {
            if (channel.isOpen()) {
                try {
                    channel.close();
                } catch (TimeoutException e) {
                    // closing anyway
                }
            }
        }
    }

    /** The result handle of a task sent by this producer (PENDING for an id it does not know). */
    public AsyncResult result(String taskId) {
        return results.lookup(taskId);
    }

    /** Keeps final results {@code ttl} after their delivery, and at most {@code maxResults} ids. */
    public TaskProducer retainResults(Duration ttl, int maxResults) {
        results.limits(ttl, maxResults);
        return this;
    }

    /** How many task ids results are kept for now. */
    public int retainedResults() {
        return results.size();
    }

    /** The queue results come back on (the {@code reply_to} of every task sent). */
    public String replyQueue() {
        return replyQueue;
    }

    /**
     * Calls {@code listener} with every result message that arrives, on the producer's consumer
     * thread — a task run twice (at-least-once delivery) reports twice.
     */
    public void addResultListener(Consumer<TaskResult> listener) {
        listeners.add(listener);
    }

    private void onReply(byte[] body) {
        try {
            TaskResult result = TaskResult.parse(body);
            results.arrived(result);
            listeners.forEach(listener -> listener.accept(result));
        } catch (RuntimeException malformed) {
            // not a result this producer can read: nothing waits for it
        }
    }

    /** True while the connection and its channels are open (false while a lost connection recovers). */
    public boolean isOpen() {
        return connection.isOpen() && publishChannel.isOpen() && replyChannel.isOpen();
    }

    @Override
    public void close() throws IOException {
        try {
            if (ownsConnection) {
                connection.close();
            } else {
                replyChannel.close();
                publishChannel.close();
            }
        } catch (TimeoutException | com.rabbitmq.client.AlreadyClosedException e) {
            // already gone
        }
    }

    /**
     * The results a producer keeps, by task id, in insertion order: each entry has a deadline
     * after which a sweep forgets it (none while a sent task is pending), and past the maximum
     * the oldest go first.
     */
    static final class Results {
        private final LongSupplier clock;
        private final LinkedHashMap<String, Entry> entries = new LinkedHashMap<>();
        private long ttlNanos;
        private int max;
        private long nextSweep;

        private static final class Entry {
            final AsyncResult result;
            boolean sent;
            boolean delivered;
            long deadline = Long.MAX_VALUE;

            Entry(String id, Results owner) {
                this.result = new AsyncResult(id, () -> owner.delivered(this));
            }
        }

        Results(Duration ttl, int max, LongSupplier clock) {
            this.clock = clock;
            limits(ttl, max);
            this.nextSweep = clock.getAsLong();
        }

        synchronized void limits(Duration ttl, int max) {
            if (ttl.isNegative() || max < 1) {
                throw new IllegalArgumentException("ttl must be >= 0 and max >= 1");
            }
            this.ttlNanos = ttl.toNanos();
            this.max = max;
        }

        /** The entry for a task just sent: kept while it is pending. */
        synchronized AsyncResult sent(String id) {
            Entry entry = entry(id);
            entry.sent = true;
            if (!entry.result.isReady()) {
                entry.deadline = Long.MAX_VALUE;
            }
            return entry.result;
        }

        /** An id asked about: one not sent by us is kept only a while after it was last asked about. */
        synchronized AsyncResult lookup(String id) {
            Entry entry = entry(id);
            if (!entry.sent && !entry.result.isReady()) {
                entry.deadline = clock.getAsLong() + ttlNanos;
            }
            return entry.result;
        }

        /** A result message: a final one is kept for the TTL (from now, or from its delivery). */
        void arrived(TaskResult result) {
            Entry entry;
            synchronized (this) {
                entry = entry(result.taskId());
            }
            entry.result.update(result); // outside the lock: it completes callers' futures
            synchronized (this) {
                if (result.state().isReady() && !entry.delivered) {
                    entry.deadline = clock.getAsLong() + ttlNanos;
                }
            }
        }

        private synchronized void delivered(Entry entry) {
            if (!entry.delivered && entry.result.isReady()) {
                entry.delivered = true;
                entry.deadline = clock.getAsLong() + ttlNanos;
            }
        }

        synchronized int size() {
            sweep(true);
            return entries.size();
        }

        private Entry entry(String id) {
            Entry entry = entries.get(id);
            if (entry == null) {
                sweep(false);
                entry = new Entry(id, this);
                entries.put(id, entry);
                Iterator<Entry> oldest = entries.values().iterator();
                while (entries.size() > max && oldest.hasNext()) {
                    oldest.next();
                    oldest.remove();
                }
            }
            return entry;
        }

        /** Forgets expired entries; a full pass at most once a second unless forced. */
        private void sweep(boolean force) {
            long now = clock.getAsLong();
            if (!force && now - nextSweep < 0) {
                return;
            }
            nextSweep = now + Math.min(ttlNanos, TimeUnit.SECONDS.toNanos(1));
            entries.values().removeIf(entry -> entry.deadline != Long.MAX_VALUE && now - entry.deadline >= 0);
        }
    }

    private static String hostname() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (UnknownHostException e) {
            return "localhost";
        }
    }
}
