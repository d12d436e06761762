package jcyme.tasks;

/**
 * A unit of work a worker can run. Implementations are found with {@link java.util.ServiceLoader}:
 * list them in {@code META-INF/services/jcyme.tasks.Task} of the jar that holds them.
 *
 * <p>{@link #run} receives the positional and keyword arguments of the Celery message and returns
 * any value Jackson can serialise (or {@code null}). A thrown exception becomes a FAILURE result
 * carrying its type, module (the Java package) and message. A task that should stop promptly on
 * revoke-with-terminate or a time limit must respond to thread interruption.
 */
public interface Task {

    /** The name producers use, e.g. {@code tasks.add}. */
    String name();

    Object run(TaskCall call) throws Exception;
}
