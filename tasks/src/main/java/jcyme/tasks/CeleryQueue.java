package jcyme.tasks;

import com.rabbitmq.client.Channel;
import java.io.IOException;

/**
 * A task queue declared the way Celery declares it: a durable queue without arguments, bound to a
 * durable, non-auto-delete exchange (by default a {@code direct} exchange named like the queue)
 * with a routing key (by default the queue name). Declaring it identically on both sides keeps
 * RabbitMQ from rejecting the second declaration.
 */
public record CeleryQueue(String name, String exchange, String exchangeType, String routingKey) {

    public CeleryQueue {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("queue name must not be empty");
        }
        exchange = exchange == null ? name : exchange;
        exchangeType = exchangeType == null || exchangeType.isBlank() ? "direct" : exchangeType;
        routingKey = routingKey == null ? name : routingKey;
    }

    public static CeleryQueue named(String name) {
        return new CeleryQueue(name, null, null, null);
    }

    public void declare(Channel channel) throws IOException {
        channel.queueDeclare(name, true, false, false, null);
        if (!exchange.isEmpty()) {
            channel.exchangeDeclare(exchange, exchangeType, true, false, null);
            channel.queueBind(name, exchange, routingKey);
            if (exchange.equals(name) && !isRabbitMq(channel)) {
                // Qpid delivers a publish to the default exchange with key X (how Celery sends
                // tasks) to an exchange named X, with an empty key: this binding catches it
                channel.queueBind(name, exchange, "");
            }
        }
    }

    private static boolean isRabbitMq(Channel channel) {
        Object product = channel.getConnection().getServerProperties().get("product");
        return product != null && product.toString().equals("RabbitMQ");
    }
}
