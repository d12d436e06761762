package jcyme.branch;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import java.util.List;
import java.util.Map;

/** What the store keeps of an instance: its desired state. */
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
        Map<String, Object> extraConfig) {

    InstanceRecord {
        queues = queues == null ? List.of() : List.copyOf(queues);
        extraConfig = extraConfig == null ? Map.of() : Map.copyOf(extraConfig);
    }

    InstanceRecord withQueues(List<String> value) {
        return new InstanceRecord(name, app, value, min, max, enabled, broker, arguments, extraConfig);
    }

    InstanceRecord withAutoscale(int newMax, int newMin) {
        return new InstanceRecord(name, app, queues, newMin, newMax, enabled, broker, arguments, extraConfig);
    }

    InstanceRecord withEnabled(boolean value) {
        return new InstanceRecord(name, app, queues, min, max, value, broker, arguments, extraConfig);
    }
}
