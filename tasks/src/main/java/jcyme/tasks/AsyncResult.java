package jcyme.tasks;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** The pending result of one task sent by a {@link TaskProducer}, delivered over the rpc backend. */
public final class AsyncResult {
    private final String id;
    private final CompletableFuture<TaskResult> ready = new CompletableFuture<>();
    private final Runnable onDelivered;
    private volatile TaskState state = TaskState.PENDING;

    AsyncResult(String id) {
        this(id, () -> {});
    }

    /** @param onDelivered told each time the final result is handed to a caller (its producer then may forget it) */
    AsyncResult(String id, Runnable onDelivered) {
        this.id = id;
        this.onDelivered = onDelivered;
    }

    public String id() {
        return id;
    }

    /** The latest state reported for the task: PENDING until the worker has sent anything. */
    public TaskState state() {
        TaskState now = state;
        if (now.isReady()) {
            onDelivered.run();
        }
        return now;
    }

    /** Waits for the final result and returns its value; FAILURE or REVOKED throw. */
    public JsonNode get(Duration timeout) throws TaskFailedException, TimeoutException, InterruptedException {
        TaskResult result = await(timeout);
        if (result.state() != TaskState.SUCCESS) {
            throw new TaskFailedException(id, result.state(), result.error(), result.traceback());
        }
        return result.result();
    }

    /** Waits for the final result, whatever its state. */
    public TaskResult await(Duration timeout) throws TimeoutException, InterruptedException {
        try {
            TaskResult result = ready.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            onDelivered.run();
            return result;
        } catch (TimeoutException e) {
            throw new TimeoutException("no result for task " + id + " within " + timeout.toMillis() / 1000.0 + " s");
        } catch (ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        }
    }

    /** The final result, when it comes (reading it counts as its delivery). */
    public CompletableFuture<TaskResult> future() {
        return ready.copy().whenComplete((result, error) -> onDelivered.run());
    }

    /** Whether the final result is here. */
    boolean isReady() {
        return ready.isDone();
    }

    void update(TaskResult result) {
        state = result.state();
        if (result.state().isReady()) {
            ready.complete(result);
        }
    }
}
