package jcyme.http;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import jcyme.branch.BranchException;
import jcyme.branch.InstanceRequest;

/** Reads a create-instance request's parameters into an {@link InstanceRequest}; unknown or ill-typed fields are a 400. */
final class InstanceRequests {
    /** Fields the router consumed to choose the branch; not the instance's. */
    private static final Set<String> ROUTING = Set.of("branch", "placement");
    private static final Set<String> FIELDS = new TreeSet<>(List.of("queues", "min", "max", "arguments", "extra_config", "broker",
            "recycle_after_tasks", "recycle_above_rss_kib"));

    private InstanceRequests() {}

    @SuppressWarnings("unchecked")
    static InstanceRequest from(Map<String, Object> params) {
        Map<String, Object> fields = Params.normalize(params, List.of("queues"), List.of("extra_config"));
        for (String key : fields.keySet()) {
            if (!FIELDS.contains(key) && !ROUTING.contains(key)) {
                throw BranchException.invalid("unknown instance field '" + key + "' (known: " + String.join(", ", FIELDS) + ")");
            }
        }
        Object queues = fields.get("queues");
        if (queues != null && !(queues instanceof List<?>)) {
            throw BranchException.invalid("queues must be a list or a comma-separated string");
        }
        Object extra = fields.get("extra_config");
        if (extra != null && !(extra instanceof Map<?, ?>)) {
            throw BranchException.invalid("extra_config must be a JSON object");
        }
        return new InstanceRequest(queues == null ? null : ((List<Object>) queues).stream().map(String::valueOf).toList(),
                Params.integer(fields, "min"), Params.integer(fields, "max"), Params.text(fields, "broker"),
                Params.text(fields, "arguments"), (Map<String, Object>) extra, wide(fields, "recycle_after_tasks"),
                wide(fields, "recycle_above_rss_kib"));
    }

    private static Long wide(Map<String, Object> fields, String name) {
        Integer value = Params.integer(fields, name);
        return value == null ? null : value.longValue();
    }
}
