package jcyme.api;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.List;
import java.util.Map;

/** A worker instance of an app, with its supervised state. */
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
        String dir) {

    public Instance {
        queues = queues == null ? List.of() : List.copyOf(queues);
        extraConfig = extraConfig == null ? Map.of() : Map.copyOf(extraConfig);
    }
}
