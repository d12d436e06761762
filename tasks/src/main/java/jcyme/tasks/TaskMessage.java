package jcyme.tasks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.LongString;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A task message in Celery's protocol v2: headers ({@code task}, {@code id}, {@code eta}, ...),
 * properties ({@code reply_to}, {@code correlation_id}) and the JSON body {@code [args, kwargs, embed]}.
 *
 * @param eta         not before this instant, or null
 * @param expires     revoke as expired after this instant, or null
 * @param hardLimit   hard time limit, or null
 * @param softLimit   soft time limit, or null
 * @param replyTo     queue for the rpc result, or null for no result
 */
public record TaskMessage(
        String id,
        String task,
        ArrayNode args,
        ObjectNode kwargs,
        ObjectNode embed,
        int retries,
        Instant eta,
        Instant expires,
        Duration hardLimit,
        Duration softLimit,
        String rootId,
        String parentId,
        String group,
        String origin,
        boolean ignoreResult,
        String replyTo,
        String correlationId) {

    public static final String CONTENT_TYPE = "application/json";

    /** Properties plus body, ready for {@code basicPublish}. */
    public record Encoded(AMQP.BasicProperties properties, byte[] body) {}

    public static TaskMessage decode(AMQP.BasicProperties properties, byte[] body) throws InvalidMessageException {
        Map<String, Object> headers = properties.getHeaders() == null ? Map.of() : properties.getHeaders();
        String task = text(headers.get("task"));
        String id = text(headers.get("id"));
        if (task == null || id == null) {
            throw new InvalidMessageException("not a protocol v2 task message: headers 'task' and 'id' are required");
        }
        if (properties.getContentType() != null && !properties.getContentType().equals(CONTENT_TYPE)) {
            throw new InvalidMessageException("unsupported content type " + properties.getContentType() + " (only JSON)");
        }
        JsonNode root;
        try {
            root = Json.parse(body);
        } catch (RuntimeException e) {
            throw new InvalidMessageException("body of task " + id + " is not JSON");
        }
        if (!root.isArray() || root.size() < 2 || !root.get(0).isArray() || !root.get(1).isObject()) {
            throw new InvalidMessageException("body of task " + id + " must be [args, kwargs, embed]");
        }
        JsonNode embed = root.size() > 2 && root.get(2).isObject() ? root.get(2) : JsonNodeFactory.instance.objectNode();
        Duration hard = null;
        Duration soft = null;
        if (headers.get("timelimit") instanceof List<?> limits && limits.size() == 2) {
            hard = seconds(limits.get(0));
            soft = seconds(limits.get(1));
        }
        try {
            return new TaskMessage(id, task, (ArrayNode) root.get(0), (ObjectNode) root.get(1), (ObjectNode) embed,
                    headers.get("retries") instanceof Number n ? n.intValue() : 0,
                    instant(headers.get("eta")), instant(headers.get("expires")), hard, soft,
                    text(headers.get("root_id")), text(headers.get("parent_id")), text(headers.get("group")),
                    text(headers.get("origin")), Boolean.TRUE.equals(headers.get("ignore_result")),
                    emptyToNull(properties.getReplyTo()), emptyToNull(properties.getCorrelationId()));
        } catch (IllegalArgumentException e) {
            throw new InvalidMessageException("task " + id + ": " + e.getMessage());
        }
    }

    public Encoded encode() {
        Map<String, Object> headers = new LinkedHashMap<>();
        headers.put("lang", "py");
        headers.put("task", task);
        headers.put("id", id);
        headers.put("shadow", null);
        headers.put("eta", eta == null ? null : CeleryTime.format(eta));
        headers.put("expires", expires == null ? null : CeleryTime.format(expires));
        headers.put("group", group);
        headers.put("group_index", null);
        headers.put("retries", retries);
        List<Object> timelimit = new ArrayList<>(2);
        timelimit.add(hardLimit == null ? null : hardLimit.toMillis() / 1000.0);
        timelimit.add(softLimit == null ? null : softLimit.toMillis() / 1000.0);
        headers.put("timelimit", timelimit);
        headers.put("root_id", rootId == null ? id : rootId);
        headers.put("parent_id", parentId);
        headers.put("argsrepr", Json.repr(args));
        headers.put("kwargsrepr", Json.repr(kwargs));
        headers.put("origin", origin);
        headers.put("ignore_result", ignoreResult);
        ArrayNode body = JsonNodeFactory.instance.arrayNode();
        body.add(args).add(kwargs).add(embed == null ? defaultEmbed() : embed);
        AMQP.BasicProperties.Builder props = new AMQP.BasicProperties.Builder()
                .contentType(CONTENT_TYPE)
                .contentEncoding("utf-8")
                .deliveryMode(2)
                .priority(0)
                .correlationId(correlationId == null ? id : correlationId)
                .replyTo(replyTo == null ? "" : replyTo)
                .headers(headers);
        if (expires != null) {
            long ms = Math.max(0, Duration.between(Instant.now(), expires).toMillis());
            props.expiration(Long.toString(ms));
        }
        return new Encoded(props.build(), Json.bytes(body));
    }

    /** The same message for its next attempt (Celery's retry: same id, one more retry, new ETA). */
    public TaskMessage retry(Instant newEta) {
        return new TaskMessage(id, task, args, kwargs, embed, retries + 1, newEta, expires, hardLimit, softLimit,
                rootId, id, group, origin, ignoreResult, replyTo, correlationId);
    }

    public static ObjectNode defaultEmbed() {
        ObjectNode embed = JsonNodeFactory.instance.objectNode();
        embed.putNull("callbacks");
        embed.putNull("errbacks");
        embed.putNull("chain");
        embed.putNull("chord");
        return embed;
    }

    public List<JsonNode> argList() {
        List<JsonNode> list = new ArrayList<>(args.size());
        args.forEach(list::add);
        return list;
    }

    public Map<String, JsonNode> kwargMap() {
        Map<String, JsonNode> map = new HashMap<>();
        kwargs.fields().forEachRemaining(e -> map.put(e.getKey(), e.getValue()));
        return map;
    }

    private static String text(Object value) {
        if (value == null) return null;
        if (value instanceof LongString || value instanceof String) return value.toString();
        return value.toString();
    }

    private static String emptyToNull(String s) {
        return s == null || s.isEmpty() ? null : s;
    }

    private static Instant instant(Object value) {
        String text = text(value);
        return text == null || text.isEmpty() ? null : CeleryTime.parse(text);
    }

    private static Duration seconds(Object value) {
        if (value instanceof Number n) {
            return Duration.ofMillis(Math.round(n.doubleValue() * 1000));
        }
        return null;
    }
}
