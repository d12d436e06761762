package jcyme.tasks;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * Lifecycle hooks of a task class that keeps state built from the app's live configuration
 * (MAUS's {@code birth}/{@code death}). The worker calls them on one thread, in order: {@code birth}
 * with the configuration at start, then for each new configuration {@code death()} followed by
 * {@code birth(config)}, and {@code death()} when the worker stops. No call of the task's
 * {@link Task#run} is under way while they run.
 */
public interface ConfigAware {

    /** A configuration arrived (the initial one at start); {@code configId} names it. */
    void birth(String configId, JsonNode config) throws Exception;

    /** The current configuration is about to be replaced, or the worker stops. */
    void death() throws Exception;
}
