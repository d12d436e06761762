package jcyme.worker;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import jcyme.tasks.CeleryQueue;
import jcyme.tasks.TaskMessage;

/**
 * What follows a task, as Celery's message {@code embed} carries it: on success its
 * {@code callbacks} (each given the result as first argument) and the next step of its
 * {@code chain}; on failure its {@code errbacks} (given the failed task's id). Signatures are
 * {@code {task, args, kwargs, options, immutable}}.
 */
final class Canvas {
    private Canvas() {}

    /** A task message to publish, and where to. */
    record Next(CeleryQueue queue, TaskMessage message) {}

    static List<Next> onSuccess(TaskMessage parent, JsonNode result, String origin) {
        List<Next> next = new ArrayList<>();
        for (JsonNode callback : list(parent.embed().get("callbacks"))) {
            next.add(call(parent, callback, result, null, origin));
        }
        List<JsonNode> chain = list(parent.embed().get("chain"));
        if (!chain.isEmpty()) {
            ArrayNode rest = JsonNodeFactory.instance.arrayNode();
            chain.subList(0, chain.size() - 1).forEach(rest::add);
            next.add(call(parent, chain.get(chain.size() - 1), result, rest.isEmpty() ? null : rest, origin));
        }
        return next;
    }

    static List<Next> onFailure(TaskMessage parent, String origin) {
        List<Next> next = new ArrayList<>();
        for (JsonNode errback : list(parent.embed().get("errbacks"))) {
            next.add(call(parent, errback, JsonNodeFactory.instance.textNode(parent.id()), null, origin));
        }
        return next;
    }

    private static Next call(TaskMessage parent, JsonNode signature, JsonNode argument, ArrayNode chain, String origin) {
        if (!signature.path("task").isTextual()) {
            throw new IllegalArgumentException("a signature without a task name: " + signature);
        }
        JsonNode options = signature.path("options");
        ArrayNode args = JsonNodeFactory.instance.arrayNode();
        if (!signature.path("immutable").asBoolean(false)) {
            args.add(argument);
        }
        signature.path("args").forEach(args::add);
        ObjectNode kwargs = signature.path("kwargs").isObject() ? (ObjectNode) signature.get("kwargs").deepCopy()
                : JsonNodeFactory.instance.objectNode();
        ObjectNode embed = TaskMessage.defaultEmbed();
        embed.set("chain", chain);
        if (options.has("link")) embed.set("callbacks", asList(options.get("link")));
        if (options.has("link_error")) embed.set("errbacks", asList(options.get("link_error")));
        String id = options.path("task_id").isTextual() ? options.get("task_id").asText() : UUID.randomUUID().toString();
        String replyTo = options.path("reply_to").isTextual() ? options.get("reply_to").asText() : null;
        TaskMessage message = new TaskMessage(id, signature.get("task").asText(), args, kwargs, embed, 0, null, null,
                null, null, parent.rootId() == null ? parent.id() : parent.rootId(), parent.id(), null, origin,
                false, replyTo, id);
        return new Next(target(options), message);
    }

    private static CeleryQueue target(JsonNode options) {
        String queue = options.path("queue").isTextual() ? options.get("queue").asText()
                : options.path("queue").path("name").isTextual() ? options.get("queue").get("name").asText() : "celery";
        String exchange = options.path("exchange").isTextual() ? options.get("exchange").asText() : null;
        String routingKey = options.path("routing_key").isTextual() ? options.get("routing_key").asText() : null;
        return new CeleryQueue(queue, exchange, null, routingKey);
    }

    private static JsonNode asList(JsonNode node) {
        return node.isArray() ? node : JsonNodeFactory.instance.arrayNode().add(node);
    }

    private static List<JsonNode> list(JsonNode node) {
        List<JsonNode> list = new ArrayList<>();
        if (node != null && node.isArray()) {
            node.forEach(list::add);
        } else if (node != null && node.isObject()) {
            list.add(node);
        }
        return list;
    }
}
