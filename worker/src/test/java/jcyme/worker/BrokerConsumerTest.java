package jcyme.worker;

import static jcyme.worker.TestWorkers.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import jcyme.broker.EmbeddedBroker;
import jcyme.tasks.BrokerUrl;
import jcyme.tasks.CeleryQueue;
import jcyme.tasks.TaskMessage;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Task channels against a real broker: a held delivery moves the queues to a fresh channel, each
 * delivery is acked on the channel it came on, a retired channel closes once done, and the number
 * of retiring channels is capped. Every delivery not held is acked exactly once: a second ack of a
 * tag closes its channel, and a missing one shows as a message back in the queue after the close.
 */
class BrokerConsumerTest {
    /** Singles past a held tag before the queues move: small, so a few dozen deliveries show it. */
    private static final int SINGLES_BEFORE_ROTATION = 32;
    private static final int PREFETCH = 20;

    private static EmbeddedBroker broker;
    private static Connection producer;
    private static Channel channel;

    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
    private final BlockingQueue<Request> delivered = new LinkedBlockingQueue<>();
    private BrokerConsumer consumer;

    @BeforeAll
    static void start() throws Exception {
        broker = EmbeddedBroker.start(0, null);
        ConnectionFactory factory = new ConnectionFactory();
        factory.setUri(broker.amqpUrl());
        producer = factory.newConnection("test producer");
        channel = producer.createChannel();
    }

    @AfterAll
    static void stop() throws Exception {
        producer.close();
        broker.close();
    }

    @AfterEach
    void closeConsumer() {
        if (consumer != null) {
            consumer.abort();
        }
        timer.shutdownNow();
    }

    private BrokerConsumer consuming(String queue) throws Exception {
        consumer = new BrokerConsumer(BrokerUrl.parse(broker.amqpUrl()), "test consumer", Duration.ofSeconds(1),
                new WorkerConfig.Batching(16, Duration.ofHours(1), Duration.ZERO), timer, () -> { }, new BrokerConsumer.Handler() {
                    @Override
                    public void onTask(Request request) {
                        delivered.add(request);
                    }

                    @Override
                    public void onConnectionLost() {
                    }
                }, SINGLES_BEFORE_ROTATION);
        assertTrue(consumer.connect(new CountDownLatch(1)));
        consumer.setPrefetch(PREFETCH);
        consumer.consume(CeleryQueue.named(queue));
        return consumer;
    }

    private static void publish(String queue, int count) throws Exception {
        for (int i = 0; i < count; i++) {
            String id = UUID.randomUUID().toString();
            TaskMessage.Encoded encoded = new TaskMessage(id, "test.quick", JsonNodeFactory.instance.arrayNode(),
                    JsonNodeFactory.instance.objectNode(), TaskMessage.defaultEmbed(), 0, null, null, null, null, id, null, null,
                    "test", false, null, id).encode();
            channel.basicPublish("", queue, encoded.properties(), encoded.body());
        }
    }

    private Request next() throws InterruptedException {
        Request request = delivered.poll(TestWorkers.WAIT.toSeconds(), TimeUnit.SECONDS);
        assertNotNull(request, "a delivery");
        return request;
    }

    /**
     * Takes {@code count} deliveries; holds the first one of each of the first {@code channels}
     * task channels that deliver (a task with an ETA a day away) and acks the others. Returns those held.
     */
    private List<Request> holdFirstOfChannels(int channels, int count) throws Exception {
        List<Request> held = new ArrayList<>();
        List<BrokerConsumer.TaskChannel> seen = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            Request request = next();
            assertFalse(request.envelope.isRedeliver(), "nothing is delivered twice");
            if (!seen.contains(request.deliveredOn.channel()) && seen.size() < channels) {
                seen.add(request.deliveredOn.channel());
                held.add(request);
            } else {
                assertTrue(consumer.ack(request), "acked on the channel that delivered it");
            }
        }
        return held;
    }

    private static long ready(String queue) throws Exception {
        return channel.queueDeclarePassive(queue).getMessageCount();
    }

    @Test
    void aHeldDeliveryMovesTheQueuesToAFreshChannelAndTheOldOneClosesOnceItIsAcked() throws Exception {
        String queue = "q.rotate";
        consuming(queue);
        publish(queue, 300);
        Request held = holdFirstOfChannels(1, 200).get(0);
        assertEquals(1, consumer.rotations(), "one move, once the held tag had blocked " + SINGLES_BEFORE_ROTATION + " acks");
        assertEquals(2, consumer.taskChannels(), "the old channel stays open for its held task");
        Request later = next();
        assertNotEquals(held.deliveredOn.channel(), later.deliveredOn.channel(), "the fresh channel delivers now");
        assertTrue(consumer.ack(later));

        assertTrue(consumer.ack(held), "the held task is acked on its own channel, once due");
        await(() -> consumer.taskChannels() == 1, "the retired channel to close once nothing of it is outstanding");
        for (int i = 0; i < 99; i++) {
            assertTrue(consumer.ack(next()));
        }
        consumer.close();
        consumer = null;
        assertEquals(0, ready(queue), "after a warm close nothing is back in the queue: every task was acked");
        assertTrue(delivered.isEmpty(), "nothing was delivered twice");
    }

    @Test
    void retiringChannelsAreCappedAndAChannelDoneMakesRoom() throws Exception {
        String queue = "q.cap";
        consuming(queue);
        int channels = BrokerConsumer.MAX_RETIRING_CHANNELS + 1;
        publish(queue, channels * 150 + 200);
        List<Request> held = holdFirstOfChannels(channels, channels * 150);
        assertEquals(BrokerConsumer.MAX_RETIRING_CHANNELS, consumer.rotations(), "no move past the cap");
        assertEquals(channels, held.size(), "one held task on each channel");
        assertEquals(channels, consumer.taskChannels());
        for (int i = 0; i < 100; i++) {
            assertTrue(consumer.ack(next()), "acked one by one around the held tag");
        }
        assertEquals(BrokerConsumer.MAX_RETIRING_CHANNELS, consumer.rotations());

        assertTrue(consumer.ack(held.get(1)));
        await(() -> consumer.rotations() == channels, "a retired channel done: the blocked consuming one moves");
        assertEquals(channels, consumer.taskChannels());
        for (int i = 0; i < 100; i++) {
            assertTrue(consumer.ack(next()));
        }
        consumer.close();
        consumer = null;
        assertEquals(channels - 1, ready(queue), "only the tasks still held are back in the queue");
    }
}
