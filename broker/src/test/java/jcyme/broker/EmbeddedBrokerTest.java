package jcyme.broker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.GetResponse;
import com.rabbitmq.client.MessageProperties;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EmbeddedBrokerTest {

    private static Connection connect(EmbeddedBroker broker) throws Exception {
        ConnectionFactory factory = new ConnectionFactory();
        factory.setUri(broker.amqpUrl().replaceFirst("/$", "/%2F"));
        return factory.newConnection();
    }

    @Test
    void durableQueuesAndPersistentMessagesSurviveARestart(@TempDir Path data) throws Exception {
        try (EmbeddedBroker broker = EmbeddedBroker.start(0, data);
             Connection connection = connect(broker)) {
            Channel channel = connection.createChannel();
            channel.exchangeDeclare("ex", "direct", true);
            channel.queueDeclare("q", true, false, false, null);
            channel.queueBind("q", "ex", "key");
            channel.confirmSelect();
            for (int i = 0; i < 500; i++) {
                channel.basicPublish("ex", "key", MessageProperties.PERSISTENT_BASIC,
                        ("m" + i).getBytes(StandardCharsets.UTF_8));
            }
            channel.waitForConfirmsOrDie(10_000);
        }
        try (EmbeddedBroker broker = EmbeddedBroker.start(0, data);
             Connection connection = connect(broker)) {
            Channel channel = connection.createChannel();
            assertEquals(500, channel.queueDeclarePassive("q").getMessageCount());
            GetResponse first = channel.basicGet("q", false);
            assertEquals("m0", new String(first.getBody(), StandardCharsets.UTF_8), "order kept");
            channel.basicAck(first.getEnvelope().getDeliveryTag(), false);
            channel.confirmSelect();
            channel.basicPublish("ex", "key", MessageProperties.PERSISTENT_BASIC, new byte[] {1});
            channel.waitForConfirmsOrDie(10_000);
            assertEquals(500, channel.queueDeclarePassive("q").getMessageCount(), "binding survived: 499 + 1");
        }
    }

    @Test
    void aTakenPortIsAClearError() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            BrokerStartException e = assertThrows(BrokerStartException.class,
                    () -> EmbeddedBroker.start(taken.getLocalPort(), null));
            assertTrue(e.getMessage().contains("port " + taken.getLocalPort()), e.getMessage());
        }
    }

    @Test
    void oneDataDirectoryOneBroker(@TempDir Path data) throws Exception {
        try (EmbeddedBroker broker = EmbeddedBroker.start(0, data)) {
            BrokerStartException e = assertThrows(BrokerStartException.class, () -> EmbeddedBroker.start(0, data));
            assertTrue(e.getMessage().contains("another broker"), e.getMessage());
        }
    }

    @Test
    void celeryQueueArgumentsDoNotCloseTheConnection() throws Exception {
        try (EmbeddedBroker broker = EmbeddedBroker.start(0, null);
             Connection connection = connect(broker)) {
            Channel channel = connection.createChannel();
            channel.queueDeclare("reply", false, false, true, Map.of("x-expires", 86_400_000));
            channel.queueDeclare("pidbox", false, false, true, Map.of("x-expires", 10_000, "x-message-ttl", 300_000));
            channel.basicPublish("", "reply", null, new byte[] {42});
            GetResponse got = null;
            for (int i = 0; i < 100 && got == null; i++) {
                got = channel.basicGet("reply", true);
            }
            assertNotNull(got);
            assertTrue(connection.isOpen());
        }
    }
}
