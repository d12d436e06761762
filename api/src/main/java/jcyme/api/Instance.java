package jcyme.api;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.List;
import java.util.Map;

/**
 * A worker instance of an app, with its supervised state.
 *
 * @param pool       Cyme's pool type of the instance: null, the branch does not choose one (the worker's own
 *                   {@code stats} show its pool as it is)
 * @param lastError  why its last start failed or its worker last ended badly (null: nothing to report)
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record Instance(
        String name,
        String app,
        String branch,
        List<String> queues,
        @JsonProperty("min_concurrency") int minConcurrency,
        @JsonProperty("max_concurrency") int maxConcurrency,
        @JsonProperty("is_enabled") boolean isEnabled,
        String broker,
        String pool,
        String arguments,
        @JsonProperty("extra_config") Map<String, Object> extraConfig,
        String state,
        Long pid,
        int restarts,
        @JsonProperty("started_at") String startedAt,
        String dir,
        @JsonProperty("last_error") String lastError) {

    public Instance {
        queues = queues == null ? List.of() : List.copyOf(queues);
        extraConfig = extraConfig == null ? Map.of() : Map.copyOf(extraConfig);
    }

    /** An instance without a recorded start failure. */
    public Instance(String name, String app, String branch, List<String> queues, int minConcurrency, int maxConcurrency,
                    boolean isEnabled, String broker, String pool, String arguments, Map<String, Object> extraConfig, String state,
                    Long pid, int restarts, String startedAt, String dir) {
        this(name, app, branch, queues, minConcurrency, maxConcurrency, isEnabled, broker, pool, arguments, extraConfig, state,
                pid, restarts, startedAt, dir, null);
    }
}
