package jcyme.tasks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * An error as Celery's JSON result carries it: {@code {exc_type, exc_message: [..], exc_module}}.
 * Python clients rebuild it as an exception of that type.
 */
public record RemoteError(String type, String message, String module) {

    public static final String CELERY = "celery.exceptions";
    public static final String BILLIARD = "billiard.exceptions";

    public static RemoteError notRegistered(String task) {
        return new RemoteError("NotRegistered", task, CELERY);
    }

    /** reason: {@code revoked}, {@code expired} or {@code terminated}. */
    public static RemoteError revoked(String reason) {
        return new RemoteError("TaskRevokedError", reason, CELERY);
    }

    public static RemoteError of(Throwable error) {
        Class<?> type = error.getClass();
        String message = error.getMessage() == null ? "" : error.getMessage();
        return new RemoteError(type.getSimpleName(), message, type.getPackageName());
    }

    public ObjectNode toJson() {
        ObjectNode node = JsonNodeFactory.instance.objectNode();
        node.put("exc_type", type);
        node.putArray("exc_message").add(message);
        node.put("exc_module", module);
        return node;
    }

    public static RemoteError fromJson(JsonNode node) {
        JsonNode message = node.path("exc_message");
        String text;
        if (message.isArray()) {
            text = message.size() == 1 ? message.get(0).asText() : joined((ArrayNode) message);
        } else {
            text = message.isMissingNode() || message.isNull() ? "" : message.asText();
        }
        return new RemoteError(node.path("exc_type").asText("Exception"), text, node.path("exc_module").asText(null));
    }

    private static String joined(ArrayNode array) {
        StringBuilder out = new StringBuilder();
        array.forEach(item -> out.append(out.length() == 0 ? "" : ", ").append(item.asText()));
        return out.toString();
    }

    /** {@code ZeroDivisionError('division by zero')}, as Celery's events show errors. */
    public String repr() {
        return type + "('" + message.replace("'", "\\'") + "')";
    }

    @Override
    public String toString() {
        return (module == null ? "" : module + ".") + type + ": " + message;
    }
}
