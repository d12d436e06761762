package jcyme.tasks;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * One invocation of a task: its id, name and JSON arguments, its own work directory
 * ({@code <instance>/work/<task-id>/}, created the first time the task asks for it and kept after it;
 * a retry of the same task id gets the same one), and the app's live configuration as it was when the task started.
 *
 * @param configId  the id of that configuration ({@code "initial"}: the app's {@code extra_config})
 * @param config    the configuration itself, a JSON object (empty when the app has none)
 */
public record TaskCall(String id, String name, List<JsonNode> args, Map<String, JsonNode> kwargs, int retries, Path workDir,
                       String configId, JsonNode config) {

    /** The id of the configuration a worker started without one. */
    public static final String INITIAL_CONFIG_ID = "initial";

    public TaskCall {
        args = List.copyOf(args);
        kwargs = Map.copyOf(kwargs);
        configId = configId == null ? INITIAL_CONFIG_ID : configId;
        config = config == null ? Json.MAPPER.createObjectNode() : config.deepCopy();
    }

    /** A call with a work directory but no live configuration. */
    public TaskCall(String id, String name, List<JsonNode> args, Map<String, JsonNode> kwargs, int retries, Path workDir) {
        this(id, name, args, kwargs, retries, workDir, null, null);
    }

    /** A call run outside a worker, without a work directory. */
    public TaskCall(String id, String name, List<JsonNode> args, Map<String, JsonNode> kwargs, int retries) {
        this(id, name, args, kwargs, retries, null, null, null);
    }

    /**
     * This task's own work directory, created when asked for (a task that never asks costs the disk
     * nothing); a call made outside a worker has none.
     *
     * @throws UncheckedIOException when the directory cannot be created
     */
    @Override
    public Path workDir() {
        if (workDir == null) {
            throw new IllegalStateException(name + "[" + id + "] has no work directory (it is not run by a worker)");
        }
        try {
            return Files.createDirectories(workDir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the work directory of " + name + "[" + id + "]: " + e, e);
        }
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
