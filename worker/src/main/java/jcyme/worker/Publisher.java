package jcyme.worker;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.ConfirmListener;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ReturnListener;
import com.rabbitmq.client.ShutdownListener;
import com.rabbitmq.client.ShutdownSignalException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
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

        /** A mandatory publish the broker took but could route to no queue (it returned it). */
        default void unroutable(String reason) {
            confirmed();
        }

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

                @Override
                public void unroutable(String reason) {
                    self.unroutable(reason);
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
        publish(exchange, routingKey, false, properties, body, confirmation);
    }

    /**
     * Publishes; with {@code mandatory} a message no queue takes is returned by the broker and
     * {@code confirmation} hears {@link Confirmation#unroutable} (matched by routing key and correlation id).
     */
    void publish(String exchange, String routingKey, boolean mandatory, AMQP.BasicProperties properties, byte[] body,
                 Confirmation confirmation) {
        synchronized (lock) {
            Session current = null;
            long seq = 0;
            try {
                current = session();
                seq = current.channel.getNextPublishSeqNo();
                current.unconfirmed.put(seq, confirmation);
                if (mandatory) {
                    current.expectReturn(seq, routingKey, properties.getCorrelationId());
                }
                current.channel.basicPublish(exchange, routingKey, mandatory, properties, body);
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
        if (session != null) {
            // let go of it: one the client reopened after a reconnect numbers its publishes from 1
            // again, and one the broker closed would be reopened by the client's next reconnect
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
        channel.addReturnListener(opened);
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

    /**
     * One channel and what is still unconfirmed on it, by publish sequence number. The broker
     * sends a mandatory message's return before its ack, both on the connection's thread, so a
     * return marks the publish and the ack then reports it as unroutable. A return names no
     * sequence number: it is the oldest mandatory publish in flight with its routing key and
     * correlation id (two deliveries of one task answer with the same ones), as the broker
     * handles a channel's publishes in order.
     */
    private final class Session implements ConfirmListener, ReturnListener, ShutdownListener {
        final Channel channel;
        final ConcurrentNavigableMap<Long, Confirmation> unconfirmed = new ConcurrentSkipListMap<>();
        /** Mandatory publishes in flight: sequence number to routing key and correlation id. */
        private final ConcurrentNavigableMap<Long, String> mandatory = new ConcurrentSkipListMap<>();
        private final Map<Long, String> returned = new ConcurrentHashMap<>();
        private volatile boolean closed;

        Session(Channel channel) {
            this.channel = channel;
        }

        boolean isUsable() {
            return !closed && channel.isOpen();
        }

        void expectReturn(long seq, String routingKey, String correlationId) {
            mandatory.put(seq, routingKey + "\0" + correlationId);
        }

        @Override
        public void handleReturn(int replyCode, String replyText, String exchange, String routingKey,
                                 AMQP.BasicProperties properties, byte[] body) {
            String key = routingKey + "\0" + properties.getCorrelationId();
            for (Map.Entry<Long, String> each : mandatory.entrySet()) {
                if (each.getValue().equals(key) && mandatory.remove(each.getKey(), key)) {
                    returned.put(each.getKey(), replyText + " (" + replyCode + ") for '" + routingKey + "'");
                    return;
                }
            }
        }

        @Override
        public void handleAck(long seq, boolean multiple) {
            settle(seq, multiple, true);
        }

        @Override
        public void handleNack(long seq, boolean multiple) {
            settle(seq, multiple, false);
        }

        /**
         * Tells the confirmations up to {@code seq} (or just it): a returned message is unroutable,
         * and so is a nacked mandatory one (Qpid refuses what RabbitMQ returns); any other nack is a failure.
         */
        private void settle(long seq, boolean multiple, boolean acked) {
            List<Long> seqs = new ArrayList<>(multiple ? unconfirmed.headMap(seq, true).keySet() : List.of(seq));
            Map<Long, String> unroutable = new HashMap<>();
            for (Long each : seqs) {
                String why = returned.remove(each);
                if (mandatory.remove(each) != null && why == null && !acked) {
                    why = "the broker refused it (nack): no queue took it";
                }
                if (why != null) {
                    unroutable.put(each, why);
                }
            }
            dispatch(() -> {
                for (Long each : seqs) {
                    Confirmation confirmation = unconfirmed.remove(each);
                    if (confirmation == null) {
                        continue;
                    }
                    String why = unroutable.get(each);
                    if (why != null) {
                        confirmation.unroutable(why);
                    } else if (acked) {
                        confirmation.confirmed();
                    } else {
                        confirmation.failed("the broker refused the message (nack)");
                    }
                }
            });
        }

        @Override
        public void shutdownCompleted(ShutdownSignalException cause) {
            closed = true;
            String reason = BrokerConsumer.reason(cause);
            if (!cause.isInitiatedByApplication() && !cause.isHardError()) {
                log.warn("publishing channel closed: {}", reason); // a lost connection is told by the consumer
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
    }
}
