package jcyme.branch;

import java.util.List;
import java.util.Map;

/**
 * What a create asks of a new instance; a null field takes the app's default.
 *
 * @param arguments    extra worker options, as one string
 * @param extraConfig  free-form settings kept with the instance
 * @param recycleAfterTasks, recycleAboveRssKib  the instance's own recycle thresholds (null: the app's)
 */
public record InstanceRequest(List<String> queues, Integer min, Integer max, String broker, String arguments,
                              Map<String, Object> extraConfig, Long recycleAfterTasks, Long recycleAboveRssKib) {

    public InstanceRequest {
        queues = queues == null ? null : List.copyOf(queues);
        extraConfig = extraConfig == null ? Map.of() : Map.copyOf(extraConfig);
    }

    /** A request without recycle thresholds of its own. */
    public InstanceRequest(List<String> queues, Integer min, Integer max, String broker, String arguments,
                           Map<String, Object> extraConfig) {
        this(queues, min, max, broker, arguments, extraConfig, null, null);
    }

    /** Every field left to the app's defaults. */
    public static InstanceRequest defaults() {
        return new InstanceRequest(null, null, null, null, null, null);
    }
}
