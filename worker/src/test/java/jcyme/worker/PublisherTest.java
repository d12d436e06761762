package jcyme.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.AlreadyClosedException;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.ConfirmListener;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ReturnListener;
import com.rabbitmq.client.ShutdownListener;
import com.rabbitmq.client.ShutdownSignalException;
import java.lang.reflect.Proxy;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;

/**
 * The publisher's bookkeeping of confirms, returns, nacks and closing channels, against channels
 * the test drives as the broker would (the connection's reader thread is the test's thread).
 */
class PublisherTest {
    static final Duration WAIT = Duration.ofSeconds(10);
    private static final AMQP.BasicProperties REPLY = new AMQP.BasicProperties.Builder().correlationId("task-1").build();

    /** One channel as the broker drives it: publishes are numbered from 1, listeners are called by the test. */
    static final class FakeChannel {
        final int number;
        final List<String> published = new CopyOnWriteArrayList<>();
        volatile ConfirmListener confirms;
        volatile ReturnListener returns;
        volatile ShutdownListener shutdown;
        volatile boolean open = true;
        volatile boolean aborted;
        /** Publishes throw, as on a channel closing before its shutdown is told. */
        volatile boolean refuse;
        volatile long waitForConfirmsMillis = -1;
        private long next = 1;
        final Channel proxy;

        FakeChannel(int number) {
            this.number = number;
            proxy = (Channel) Proxy.newProxyInstance(getClass().getClassLoader(), new Class<?>[] {Channel.class}, (self, method, args) -> {
                switch (method.getName()) {
                    case "getNextPublishSeqNo": return next;
                    case "basicPublish":
                        if (!open || refuse) throw new AlreadyClosedException(new ShutdownSignalException(false, false, null, self));
                        published.add((String) args[1]);
                        next++;
                        return null;
                    case "isOpen": return open;
                    case "abort": aborted = true; open = false; return null;
                    case "confirmSelect": return null;
                    case "addConfirmListener": confirms = (ConfirmListener) args[0]; return null;
                    case "addReturnListener": returns = (ReturnListener) args[0]; return null;
                    case "addShutdownListener": shutdown = (ShutdownListener) args[0]; return null;
                    case "waitForConfirms":
                        waitForConfirmsMillis = (Long) args[0];
                        throw new TimeoutException("no confirm in time");
                    case "getChannelNumber": return number;
                    case "toString": return "channel " + number;
                    case "hashCode": return number;
                    case "equals": return self == args[0];
                    default: throw new UnsupportedOperationException(method.getName());
                }
            });
        }

        void ack(long seq, boolean multiple) throws Exception {
            confirms.handleAck(seq, multiple);
        }

        void nack(long seq, boolean multiple) throws Exception {
            confirms.handleNack(seq, multiple);
        }

        void returned(String routingKey, AMQP.BasicProperties properties) throws Exception {
            returns.handleReturn(312, "NO_ROUTE", "", routingKey, properties, new byte[0]);
        }

        /** The broker closes the channel: a channel error, or ({@code connection}) the connection lost. */
        void close(boolean connection) {
            open = false;
            shutdown.shutdownCompleted(new ShutdownSignalException(connection, false, null, proxy));
        }
    }

    /** A connection whose channels are fakes, kept in the order opened. */
    private final List<FakeChannel> channels = new CopyOnWriteArrayList<>();
    private final Connection connection = (Connection) Proxy.newProxyInstance(getClass().getClassLoader(),
            new Class<?>[] {Connection.class}, (self, method, args) -> {
                if (method.getName().equals("createChannel")) {
                    FakeChannel channel = new FakeChannel(channels.size() + 1);
                    channels.add(channel);
                    return channel.proxy;
                }
                throw new UnsupportedOperationException(method.getName());
            });
    private final Publisher publisher = new Publisher(connection);

    /** What each confirmation was told, by name, with the thread it was told on. */
    private final Map<String, List<String>> told = new ConcurrentHashMap<>();

    private Publisher.Confirmation confirmation(String name) {
        return new Publisher.Confirmation() {
            @Override
            public void confirmed() {
                tell("confirmed");
            }

            @Override
            public void failed(String reason) {
                tell("failed");
            }

            @Override
            public void unroutable(String reason) {
                tell("unroutable");
            }

            private void tell(String what) {
                told.computeIfAbsent(name, k -> new CopyOnWriteArrayList<>()).add(what + " on " + Thread.currentThread().getName());
            }
        };
    }

    private void publish(String name) {
        publisher.publish("", name, REPLY, new byte[0], confirmation(name));
    }

    private void publishMandatory(String name, String routingKey) {
        publisher.publish("", routingKey, true, REPLY, new byte[0], confirmation(name));
    }

    private List<String> told(String name) {
        return told.getOrDefault(name, List.of());
    }

    private static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            Thread.sleep(1);
        }
    }

    @Test
    void aMultipleAckConfirmsEveryPublishUpToItOnTheConfirmsThread() throws Exception {
        publish("a");
        publish("b");
        publish("c");
        FakeChannel channel = channels.get(0);
        channel.ack(2, true);
        await("a and b confirmed", () -> told("a").size() == 1 && told("b").size() == 1);
        assertEquals(List.of("confirmed on confirms"), told("a"));
        assertEquals(List.of("confirmed on confirms"), told("b"));
        assertEquals(List.of(), told("c"), "3 is not confirmed yet");
        channel.ack(3, false);
        await("c confirmed", () -> told("c").size() == 1);
        assertEquals(1, channels.size(), "one channel for all");
    }

    @Test
    void aNackFailsThePublishAndANackedMandatoryOneIsUnroutable() throws Exception {
        publish("a");
        publishMandatory("b", "reply-b");
        FakeChannel channel = channels.get(0);
        channel.nack(2, true);
        await("both told", () -> told("a").size() == 1 && told("b").size() == 1);
        assertEquals(List.of("failed on confirms"), told("a"));
        assertEquals(List.of("unroutable on confirms"), told("b"), "Qpid nacks what RabbitMQ returns");
    }

    @Test
    void aReturnedMandatoryPublishIsUnroutableAndATwinInFlightStillConfirmed() throws Exception {
        // two deliveries of one task id answer to the same reply queue with the same correlation id
        publishMandatory("first", "reply");
        publishMandatory("second", "reply");
        FakeChannel channel = channels.get(0);
        channel.returned("reply", REPLY); // the broker returns the first (its reply queue was gone for a moment)
        channel.ack(1, false);
        channel.ack(2, false);
        await("both told", () -> told("first").size() == 1 && told("second").size() == 1);
        assertEquals(List.of("unroutable on confirms"), told("first"));
        assertEquals(List.of("confirmed on confirms"), told("second"));
    }

    @Test
    void aChannelClosingWithPublishesInFlightFailsEachOnceAndTheNextPublishOpensAnother() throws Exception {
        publish("a");
        publish("b");
        FakeChannel first = channels.get(0);
        first.ack(1, false);
        first.close(false); // a channel error: b in flight
        await("b failed", () -> told("b").size() == 1);
        first.ack(2, false); // nothing may come after a close, and if it did it is not told twice
        publish("c");
        assertEquals(2, channels.size(), "a new channel for the next publish");
        assertTrue(first.aborted, "the closed channel is let go of, or the client opens it again with the next reconnect");
        channels.get(1).ack(1, false);
        await("c confirmed", () -> told("c").size() == 1);
        assertEquals(List.of("confirmed on confirms"), told("a"));
        assertEquals(List.of("failed on confirms"), told("b"));
        assertEquals(List.of("confirmed on confirms"), told("c"));
    }

    @Test
    void aPublishTheChannelRefusesFailsAtOnceAndIsNotToldAgainWhenTheChannelCloses() throws Exception {
        publish("a");
        FakeChannel channel = channels.get(0);
        channel.refuse = true; // closing: the shutdown is on its way
        publish("b");
        assertEquals(List.of("failed on " + Thread.currentThread().getName()), told("b"), "told at once, by the publishing thread");
        channel.close(false);
        await("a failed", () -> told("a").size() == 1);
        assertEquals(1, told("b").size(), "b is not told twice");
    }

    @Test
    void drainGivesUpAtItsDeadlineAndLaterConfirmsAreDropped() throws Exception {
        publish("a");
        FakeChannel channel = channels.get(0);
        long start = System.nanoTime();
        publisher.drain(200);
        long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertEquals(200, channel.waitForConfirmsMillis, "waits for confirms within the budget");
        assertTrue(millis < 2_000, "returned in " + millis + " ms");
        channel.ack(1, false);
        assertEquals(List.of(), told("a"), "after the drain no confirmation is told: its task is redelivered");
    }

    @Test
    void aLostConnectionFailsWhatIsInFlight() throws Exception {
        List<String> names = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            names.add("t" + i);
            publish("t" + i);
        }
        FakeChannel channel = channels.get(0);
        channel.ack(20, true);
        channel.close(true);
        await("every publish told", () -> names.stream().allMatch(name -> told(name).size() == 1));
        for (int i = 0; i < 50; i++) {
            assertEquals(List.of((i < 20 ? "confirmed" : "failed") + " on confirms"), told("t" + i));
        }
    }
}
