package jcyme.worker;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.ConfirmListener;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ShutdownListener;
import com.rabbitmq.client.ShutdownSignalException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentNavigableMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Publishes on one channel with publisher confirms and tells each publish's {@link Confirmation}
 * whether the broker took it. A channel the broker closes (a channel-level error, or the
 * connection lost) fails whatever is still unconfirmed on it, and the next publish opens a new
 * one. Confirmations are told on a thread of their own, never on the connection's reader thread,
 * so they may take locks and talk to the broker.
 */
final class Publisher {
    private static final Logger log = LoggerFactory.getLogger(Publisher.class);

    /** Told exactly once what became of a publish. */
    interface Confirmation {
        void confirmed();

        void failed(String reason);

        /** This confirmation, running {@code action} first when the publish fails. */
        default Confirmation onFailure(Runnable action) {
            Confirmation self = this;
            return new Confirmation() {
                @Override
                public void confirmed() {
                    self.confirmed();
                }

                @Override
                public void failed(String reason) {
                    action.run();
                    self.failed(reason);
                }
            };
        }
    }

    private final Connection connection;
    private final ExecutorService callbacks = Executors.newSingleThreadExecutor(task -> {
        Thread thread = new Thread(task, "confirms");
        thread.setDaemon(true);
        return thread;
    });
    private final Object lock = new Object();
    private Session session;

    Publisher(Connection connection) {
        this.connection = connection;
    }

    /** Publishes; {@code confirmation} hears of it later, or at once when it cannot be sent. */
    void publish(String exchange, String routingKey, AMQP.BasicProperties properties, byte[] body,
                 Confirmation confirmation) {
        synchronized (lock) {
            Session current = null;
            long seq = 0;
            try {
                current = session();
                seq = current.channel.getNextPublishSeqNo();
                current.unconfirmed.put(seq, confirmation);
                current.channel.basicPublish(exchange, routingKey, properties, body);
            } catch (IOException | RuntimeException e) {
                // whoever removes the entry tells the confirmation: here, or the channel's shutdown
                if (current == null || current.unconfirmed.remove(seq) != null) {
                    confirmation.failed(BrokerConsumer.reason(e));
                }
            }
        }
    }

    /** Waits up to {@code millis} for outstanding confirms and for every confirmation to be told. */
    void drain(long millis) {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        synchronized (lock) {
            if (session != null && session.channel.isOpen()) {
                try {
                    session.channel.waitForConfirms(millis);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                } catch (TimeoutException | RuntimeException e) {
                    log.warn("{} publish(es) still unconfirmed at shutdown; their tasks return to the queue",
                            session.unconfirmed.size());
                }
            }
        }
        callbacks.shutdown();
        try {
            callbacks.awaitTermination(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** The open channel, or a new one in place of a closed one (guarded by {@code lock}). */
    private Session session() throws IOException {
        if (session != null && session.isUsable()) {
            return session;
        }
        if (session != null && session.channel.isOpen()) {
            // a channel the client reopened after a reconnect: its sequence numbers started over
            try {
                session.channel.abort();
            } catch (IOException | RuntimeException e) {
                log.debug("closing the previous publishing channel: {}", e.getMessage());
            }
        }
        Channel channel = connection.createChannel();
        if (channel == null) {
            throw new IOException("the broker has no channel left for publishing");
        }
        Session opened = new Session(channel);
        channel.confirmSelect();
        channel.addConfirmListener(opened);
        channel.addShutdownListener(opened);
        if (session != null) {
            log.info("publishing on a new channel; the previous one closed");
        }
        session = opened;
        return opened;
    }

    private void dispatch(Runnable task) {
        try {
            callbacks.execute(task);
        } catch (RejectedExecutionException shuttingDown) {
            log.debug("confirmation after shutdown dropped; the broker redelivers its task");
        }
    }

    /** One channel and what is still unconfirmed on it, by publish sequence number. */
    private final class Session implements ConfirmListener, ShutdownListener {
        final Channel channel;
        final ConcurrentNavigableMap<Long, Confirmation> unconfirmed = new ConcurrentSkipListMap<>();
        private volatile boolean closed;

        Session(Channel channel) {
            this.channel = channel;
        }

        boolean isUsable() {
            return !closed && channel.isOpen();
        }

        @Override
        public void handleAck(long seq, boolean multiple) {
            dispatch(() -> settled(seq, multiple).forEach(Confirmation::confirmed));
        }

        @Override
        public void handleNack(long seq, boolean multiple) {
            dispatch(() -> settled(seq, multiple).forEach(c -> c.failed("the broker refused the message (nack)")));
        }

        @Override
        public void shutdownCompleted(ShutdownSignalException cause) {
            closed = true;
            String reason = BrokerConsumer.reason(cause);
            if (!cause.isInitiatedByApplication()) {
                log.warn("publishing channel closed: {}", reason);
            }
            dispatch(() -> {
                List<Confirmation> lost = new ArrayList<>();
                for (Long seq : unconfirmed.keySet()) {
                    Confirmation confirmation = unconfirmed.remove(seq);
                    if (confirmation != null) {
                        lost.add(confirmation);
                    }
                }
                lost.forEach(c -> c.failed("channel closed before the broker confirmed: " + reason));
            });
        }

        private List<Confirmation> settled(long seq, boolean multiple) {
            List<Confirmation> done = new ArrayList<>();
            if (multiple) {
                Map<Long, Confirmation> upTo = unconfirmed.headMap(seq, true);
                for (Long each : upTo.keySet()) {
                    Confirmation confirmation = upTo.remove(each);
                    if (confirmation != null) {
                        done.add(confirmation);
                    }
                }
            } else {
                Confirmation confirmation = unconfirmed.remove(seq);
                if (confirmation != null) {
                    done.add(confirmation);
                }
            }
            return done;
        }
    }
}
