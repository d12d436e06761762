package jcyme.branch;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.TimeoutException;
import jcyme.api.App;
import jcyme.tasks.AsyncResult;
import jcyme.tasks.TaskRequest;
import jcyme.tasks.TaskResult;

/** Tasks sent through the branch to an app's broker, and their results. */
public final class Tasks {
    private final Apps apps;
    private final Brokers brokers;

    Tasks(Apps apps, Brokers brokers) {
        this.apps = apps;
        this.brokers = brokers;
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
