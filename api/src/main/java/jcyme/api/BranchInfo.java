package jcyme.api;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.List;
import java.util.Map;

/** What a branch says about itself (and gossips to the others): {@code instance_states} counts its instances by state. */
@JsonIgnoreProperties(ignoreUnknown = true)
public record BranchInfo(
        String id,
        String url,
        String host,
        String version,
        @JsonProperty("instance_dir") String instanceDir,
        @JsonProperty("sup_interval") double supInterval,
        int instances,
        @JsonProperty("instance_states") Map<String, Integer> instanceStates,
        List<Double> load,
        @JsonProperty("disk_used_pct") double diskUsedPct,
        @JsonProperty("started_at") String startedAt) {}
