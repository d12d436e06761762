package jcyme.worker;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one registry of remote-control commands (Celery's names, arguments and reply shapes).
 * Transports — the local control socket, and the broker's pidbox — only decode a request, call
 * {@link #dispatch}, and send back what it returns.
 */
final class ControlCommands {
    private static final Logger log = LoggerFactory.getLogger(ControlCommands.class);

    @FunctionalInterface
    interface Command {
        Object handle(JsonNode arguments) throws Exception;
    }

    private final Map<String, Command> commands = new LinkedHashMap<>();

    ControlCommands register(String name, Command command) {
        commands.put(name, command);
        return this;
    }

    Set<String> names() {
        return commands.keySet();
    }

    boolean has(String method) {
        return commands.containsKey(method);
    }

    /** Runs {@code method}; errors become Celery's {@code {"error": "..."}} reply. */
    Object dispatch(String method, JsonNode arguments) {
        Command command = commands.get(method);
        if (command == null) {
            return error("unknown control command '" + method + "'");
        }
        try {
            return command.handle(arguments == null || arguments.isNull() ? JsonNodeFactory.instance.objectNode() : arguments);
        } catch (IllegalArgumentException e) {
            return error(e.getMessage());
        } catch (Exception e) {
            log.warn("control command {} failed: {}", method, e.toString());
            return error(e.getClass().getSimpleName() + "('" + e.getMessage() + "')");
        }
    }

    static ObjectNode ok(Object value) {
        ObjectNode reply = JsonNodeFactory.instance.objectNode();
        reply.putPOJO("ok", value);
        return reply;
    }

    static ObjectNode error(String message) {
        ObjectNode reply = JsonNodeFactory.instance.objectNode();
        reply.put("error", message);
        return reply;
    }
}
