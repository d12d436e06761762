package jcyme.tasks;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/** One invocation of a task: its id, name and JSON arguments. */
public record TaskCall(String id, String name, List<JsonNode> args, Map<String, JsonNode> kwargs, int retries) {

    public TaskCall {
        args = List.copyOf(args);
        kwargs = Map.copyOf(kwargs);
    }

    /** Positional argument {@code index}; a missing one is a clear {@link IllegalArgumentException}. */
    public JsonNode arg(int index) {
        if (index >= args.size()) {
            throw new IllegalArgumentException(
                    name + "() takes at least " + (index + 1) + " positional argument(s), " + args.size() + " given");
        }
        return args.get(index);
    }

    public long longArg(int index) {
        JsonNode node = arg(index);
        if (!node.isNumber()) {
            throw new IllegalArgumentException(name + "() argument " + index + " must be a number, got " + node);
        }
        return node.asLong();
    }

    public double doubleArg(int index) {
        JsonNode node = arg(index);
        if (!node.isNumber()) {
            throw new IllegalArgumentException(name + "() argument " + index + " must be a number, got " + node);
        }
        return node.asDouble();
    }

    public String stringArg(int index) {
        return arg(index).asText();
    }

    /** {@code throw call.retry(countdown, cause)}: run this task again later (at most {@link Retry#DEFAULT_MAX_RETRIES} times). */
    public Retry retry(Duration countdown, Throwable cause) {
        return new Retry(countdown, cause, Retry.DEFAULT_MAX_RETRIES);
    }
}
