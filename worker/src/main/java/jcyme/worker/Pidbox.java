package jcyme.worker;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.AlreadyClosedException;
import com.rabbitmq.client.BuiltinExchangeType;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.DefaultConsumer;
import com.rabbitmq.client.Envelope;
import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;
import jcyme.tasks.Json;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Remote control over the broker, as Celery's {@code celery.pidbox} mailbox: the second transport
 * in front of {@link ControlCommands}. Requests arrive on {@code <nodename>.celery.pidbox} (bound
 * to the fanout exchange {@code celery.pidbox}); a request meant for this node runs its command
 * and, when it asks for a reply, the reply goes to its {@code reply_to} exchange and key.
 */
final class Pidbox {
    private static final Logger log = LoggerFactory.getLogger(Pidbox.class);
    static final String EXCHANGE = "celery.pidbox";

    private final String nodename;
    private final ControlCommands commands;
    private final LamportClock clock;
    private final Set<String> replyExchanges = ConcurrentHashMap.newKeySet();
    private Channel channel;

    Pidbox(String nodename, ControlCommands commands, LamportClock clock) {
        this.nodename = nodename;
        this.commands = commands;
        this.clock = clock;
    }

    String queueName() {
        return nodename + "." + EXCHANGE;
    }

    /** Declares the mailbox exactly as Celery does (or RabbitMQ refuses a second declaration) and listens. */
    void start(Connection connection) throws IOException {
        channel = connection.createChannel();
        channel.exchangeDeclare(EXCHANGE, BuiltinExchangeType.FANOUT, false, false, null);
        Map<String, Object> arguments = new LinkedHashMap<>();
        arguments.put("x-expires", 10_000);
        arguments.put("x-message-ttl", 300_000);
        channel.queueDeclare(queueName(), false, false, true, arguments);
        channel.queueBind(queueName(), EXCHANGE, "");
        channel.basicConsume(queueName(), true, "jcyme.pidbox", new DefaultConsumer(channel) {
            @Override
            public void handleDelivery(String tag, Envelope envelope, AMQP.BasicProperties properties, byte[] body) {
                handle(properties, body);
            }
        });
    }

    void stop() {
        if (channel != null && channel.isOpen()) {
            try {
                channel.basicCancel("jcyme.pidbox");
            } catch (IOException | AlreadyClosedException e) {
                log.debug("pidbox cancel: {}", e.getMessage());
            }
        }
    }

    private void handle(AMQP.BasicProperties properties, byte[] body) {
        JsonNode request;
        try {
            request = Json.parse(body);
        } catch (RuntimeException e) {
            log.warn("ignored a control message that is not JSON");
            return;
        }
        Object senderClock = properties.getHeaders() == null ? null : properties.getHeaders().get("clock");
        if (senderClock instanceof Number n) {
            clock.adjust(n.longValue());
        }
        if (!isForMe(request)) {
            return;
        }
        String method = request.path("method").asText();
        log.debug("control command {} via pidbox", method);
        Object reply = commands.has(method) ? commands.dispatch(method, request.get("arguments"))
                : ControlCommands.error("KeyError('" + method + "')");
        JsonNode replyTo = request.get("reply_to");
        if (replyTo != null && replyTo.isObject() && !method.equals("shutdown")) {
            reply(replyTo.path("exchange").asText(), replyTo.path("routing_key").asText(), request.path("ticket").asText(), reply);
        }
    }

    /** Celery's filter: a destination list names nodes; else a glob or regex pattern; else everyone. */
    boolean isForMe(JsonNode request) {
        JsonNode destination = request.get("destination");
        if (destination != null && destination.isArray() && !destination.isEmpty()) {
            for (JsonNode node : destination) {
                if (node.asText().equals(nodename)) {
                    return true;
                }
            }
            return false;
        }
        String pattern = request.path("pattern").asText("");
        String matcher = request.path("matcher").asText("");
        if (pattern.isEmpty() || matcher.isEmpty()) {
            return true;
        }
        try {
            return switch (matcher) {
                case "glob" -> FileSystems.getDefault().getPathMatcher("glob:" + pattern).matches(Path.of(nodename));
                case "pcre" -> Pattern.compile(pattern).matcher(nodename).lookingAt();
                default -> false;
            };
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    private void reply(String exchange, String routingKey, String ticket, Object result) {
        ObjectNode body = JsonNodeFactory.instance.objectNode();
        body.set(nodename, Json.tree(result));
        Map<String, Object> headers = new LinkedHashMap<>();
        headers.put("ticket", ticket);
        headers.put("clock", clock.forward());
        AMQP.BasicProperties properties = new AMQP.BasicProperties.Builder()
                .contentType("application/json").contentEncoding("utf-8").deliveryMode(1).priority(0)
                .headers(headers).build();
        try {
            if (replyExchanges.add(exchange)) {
                channel.exchangeDeclare(exchange, BuiltinExchangeType.DIRECT, false, false, null);
            }
            channel.basicPublish(exchange, routingKey, properties, Json.bytes(body));
        } catch (IOException | AlreadyClosedException e) {
            replyExchanges.remove(exchange);
            log.warn("could not reply to a control command: {}", BrokerConsumer.reason(e));
        }
    }
}
