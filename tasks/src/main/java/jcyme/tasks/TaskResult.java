package jcyme.tasks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.NullNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.rabbitmq.client.AMQP;

/**
 * A result in the shape of Celery's {@code rpc://} backend:
 * {@code {task_id, status, result, traceback, children}}; for error states {@code result} is a
 * {@link RemoteError}'s JSON.
 */
public record TaskResult(String taskId, TaskState state, JsonNode result, String traceback) {

    public static TaskResult success(String taskId, Object value) {
        return new TaskResult(taskId, TaskState.SUCCESS, Json.tree(value), null);
    }

    public static TaskResult failure(String taskId, TaskState state, RemoteError error, String traceback) {
        return new TaskResult(taskId, state, error.toJson(), traceback);
    }

    public RemoteError error() {
        return state.isException() ? RemoteError.fromJson(result) : null;
    }

    public byte[] toBytes() {
        ObjectNode body = JsonNodeFactory.instance.objectNode();
        body.put("task_id", taskId);
        body.put("status", state.name());
        body.set("result", result == null ? NullNode.instance : result);
        body.put("traceback", traceback);
        body.putArray("children");
        return Json.bytes(body);
    }

    /** Properties Celery's rpc backend uses: transient JSON, correlated with the task id. */
    public AMQP.BasicProperties properties(String correlationId) {
        return new AMQP.BasicProperties.Builder()
                .contentType(TaskMessage.CONTENT_TYPE)
                .contentEncoding("utf-8")
                .deliveryMode(1)
                .priority(0)
                .correlationId(correlationId == null ? taskId : correlationId)
                .build();
    }

    public static TaskResult parse(byte[] body) {
        JsonNode node = Json.parse(body);
        return new TaskResult(node.path("task_id").asText(), TaskState.valueOf(node.path("status").asText("PENDING")),
                node.get("result"), node.path("traceback").isTextual() ? node.get("traceback").asText() : null);
    }
}
