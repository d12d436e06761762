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
    private volatile TaskState state = TaskState.PENDING;

    AsyncResult(String id) {
        this.id = id;
    }

    public String id() {
        return id;
    }

    /** The latest state reported for the task: PENDING until the worker has sent anything. */
    public TaskState state() {
        return state;
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
            return ready.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            throw new TimeoutException("no result for task " + id + " within " + timeout.toMillis() / 1000.0 + " s");
        } catch (ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        }
    }

    public CompletableFuture<TaskResult> future() {
        return ready.copy();
    }

    void update(TaskResult result) {
        state = result.state();
        if (result.state().isReady()) {
            ready.complete(result);
        }
    }
}
