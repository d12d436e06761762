package jcyme.branch;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.TimeoutException;
import jcyme.api.App;
import jcyme.api.TaskDetail;
import jcyme.api.TaskPage;
import jcyme.tasks.AsyncResult;
import jcyme.tasks.TaskRequest;
import jcyme.tasks.TaskResult;

/** Tasks sent through the branch to an app's broker, their results, and the task history of the app's workers. */
public final class Tasks {
    private final Apps apps;
    private final Brokers brokers;
    private final TaskHistory history;

    Tasks(Apps apps, Brokers brokers, TaskHistory history) {
        this.apps = apps;
        this.brokers = brokers;
        this.history = history;
    }

    /**
     * The app's tasks from the history, newest first: {@code state} and {@code name} exact,
     * {@code worker} a node or instance name, {@code q} a {@link TaskQuery} search; at most
     * {@code limit} (default {@value TaskHistory#DEFAULT_LIMIT}, at most {@value TaskHistory#MAX_LIMIT}).
     */
    public TaskPage history(String appName, String state, String name, String worker, String q, Integer limit) {
        apps.stored(appName);
        state = state == null ? null : state.toUpperCase(java.util.Locale.ROOT);
        if (state != null && !TaskQuery.STATES.contains(state)) {
            throw BranchException.invalid("unknown state '" + state + "' (states: "
                    + String.join(", ", TaskQuery.STATES.stream().sorted().toList()) + ")");
        }
        int count = limit == null ? TaskHistory.DEFAULT_LIMIT : limit;
        if (count < 1 || count > TaskHistory.MAX_LIMIT) {
            throw BranchException.invalid("limit must be between 1 and " + TaskHistory.MAX_LIMIT + " (the listing limit), got " + count);
        }
        return history.list(appName, state, name, worker, TaskQuery.parse(q), count);
    }

    /** One of the app's tasks from the history, with its traceback and events; 404 when the history has none. */
    public TaskDetail historyOf(String appName, String id) {
        apps.stored(appName);
        return history.get(appName, id).orElseThrow(() -> BranchException.notFound("no task " + id + " of app '" + appName
                + "' in the task history"));
    }

    /** Publishes a task for the app; returns its id. */
    public String send(String appName, String task, JsonNode args, JsonNode kwargs, String queue, Double countdown) {
        App app = apps.stored(appName);
        if (task == null || task.isBlank()) {
            throw BranchException.invalid("task name is missing");
        }
        if (args != null && !args.isNull() && !args.isArray()) {
            throw BranchException.invalid("args must be a JSON array");
        }
        if (kwargs != null && !kwargs.isNull() && !kwargs.isObject()) {
            throw BranchException.invalid("kwargs must be a JSON object");
        }
        String target = queue != null ? queue : app.defaultQueues().isEmpty() ? "celery" : app.defaultQueues().get(0);
        Checks.name("queue", target);
        TaskRequest.Builder request = TaskRequest.of(task).queue(brokers.queueSpec(appName, target));
        if (args != null && args.isArray()) {
            request.args((ArrayNode) args);
        }
        if (kwargs != null && kwargs.isObject()) {
            request.kwargs((ObjectNode) kwargs);
        }
        if (countdown != null) {
            request.countdown(Duration.ofMillis(Math.round(countdown * 1000)));
        }
        try {
            return brokers.producer(brokers.brokerOf(app, null)).send(request.build()).id();
        } catch (IOException | com.rabbitmq.client.ShutdownSignalException e) {
            throw new BranchException(502, "could not publish to the broker: " + Checks.firstLine(e.getMessage()));
        }
    }

    /** The state and, once ready, the result of a task published through this branch; waits up to {@code wait} if given. */
    public TaskResult result(String appName, String id, Duration wait) {
        App app = apps.stored(appName);
        AsyncResult result = brokers.producer(brokers.brokerOf(app, null)).result(id);
        if (wait != null && !wait.isZero()) {
            try {
                return result.await(wait);
            } catch (TimeoutException e) {
                throw BranchException.timeout("task " + id + " did not finish within " + wait.toSeconds() + " s");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw BranchException.timeout("interrupted");
            }
        }
        return result.future().getNow(new TaskResult(id, result.state(), null, null));
    }
}
