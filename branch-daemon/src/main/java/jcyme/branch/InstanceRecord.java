package jcyme.branch;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import java.util.List;
import java.util.Map;

/**
 * What the store keeps of an instance: its desired state.
 *
 * @param generation  bumped by each asked-for restart (and by enabling a stopped or FATAL instance):
 *                    a worker of an older generation is replaced
 * @param deleting    a tombstone: the instance is being removed (stop, then directory, then record)
 * @param recycleAfterTasks   overrides the app's {@code recycle_after_tasks} (null: the app's)
 * @param recycleAboveRssKib  overrides the app's {@code recycle_above_rss_kib} (null: the app's)
 */
@JsonIgnoreProperties(ignoreUnknown = true)
record InstanceRecord(
        String name,
        String app,
        List<String> queues,
        int min,
        int max,
        boolean enabled,
        String broker,
        String arguments,
        Map<String, Object> extraConfig,
        long generation,
        boolean deleting,
        Long recycleAfterTasks,
        Long recycleAboveRssKib) {

    InstanceRecord {
        queues = queues == null ? List.of() : List.copyOf(queues);
        extraConfig = extraConfig == null ? Map.of() : Map.copyOf(extraConfig);
    }

    InstanceRecord withQueues(List<String> value) {
        return new InstanceRecord(name, app, value, min, max, enabled, broker, arguments, extraConfig, generation, deleting, recycleAfterTasks, recycleAboveRssKib);
    }

    InstanceRecord withAutoscale(int newMax, int newMin) {
        return new InstanceRecord(name, app, queues, newMin, newMax, enabled, broker, arguments, extraConfig, generation, deleting, recycleAfterTasks, recycleAboveRssKib);
    }

    InstanceRecord withEnabled(boolean value) {
        return new InstanceRecord(name, app, queues, min, max, value, broker, arguments, extraConfig, generation, deleting, recycleAfterTasks, recycleAboveRssKib);
    }

    /** Enabled, at a new generation: whatever runs is replaced and a FATAL instance starts afresh. */
    InstanceRecord restarted() {
        return new InstanceRecord(name, app, queues, min, max, true, broker, arguments, extraConfig, generation + 1, deleting, recycleAfterTasks, recycleAboveRssKib);
    }

    InstanceRecord tombstone() {
        return new InstanceRecord(name, app, queues, min, max, false, broker, arguments, extraConfig, generation, true, recycleAfterTasks, recycleAboveRssKib);
    }
}
