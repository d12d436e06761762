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
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.function.Consumer;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeoutException;

/**
 * Sends tasks in Celery's protocol v2 and collects their results from a private reply queue, as
 * Celery's {@code rpc://} backend does. Messages are persistent and every send waits for the
 * broker's publisher confirm, so a returned {@link AsyncResult} means the broker has the task.
 * Thread-safe.
 */
public final class TaskProducer implements AutoCloseable {
    private static final Duration CONFIRM_TIMEOUT = Duration.ofSeconds(30);

    private final Connection connection;
    private final boolean ownsConnection;
    private final Channel publishChannel;
    private final Channel replyChannel;
    private final String replyQueue = UUID.randomUUID().toString();
    private final String origin = "gen" + ProcessHandle.current().pid() + "@" + hostname();
    private final Map<String, AsyncResult> results = new ConcurrentHashMap<>();
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
                AsyncResult result = result(request.id());
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

    /** The result handle of a task sent by this producer. */
    public AsyncResult result(String taskId) {
        return results.computeIfAbsent(taskId, AsyncResult::new);
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
            result(result.taskId()).update(result);
            listeners.forEach(listener -> listener.accept(result));
        } catch (RuntimeException malformed) {
            // not a result this producer can read: nothing waits for it
        }
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

    private static String hostname() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (UnknownHostException e) {
            return "localhost";
        }
    }
}
