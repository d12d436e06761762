package jcyme.branch;

import java.time.Instant;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * One structured fact about the fleet: an instance's transition, an exit, an autoscale change, a
 * bind, an app change, a branch joining or leaving — or, streamed but not kept, a task event.
 *
 * @param seq     its place in this branch's event log (0 for a streamed-only event)
 * @param kind    what happened, dotted: {@code instance.state}, {@code instance.exit}, {@code app.updated}, {@code task.succeeded}, ...
 * @param fields  the facts of that kind (app, instance, from, to, exit code, signal, queue, ...); values may be null
 */
public record BranchEvent(long seq, Instant time, String kind, String branch, Map<String, Object> fields) {
    private static final Set<String> OWN = Set.of("seq", "time", "kind", "branch");

    public BranchEvent {
        fields = Collections.unmodifiableMap(new LinkedHashMap<>(fields));
    }

    /** Fields in the order given, as name, value, name, value, ...; values may be null. */
    public static Map<String, Object> fields(Object... namesAndValues) {
        Map<String, Object> fields = new LinkedHashMap<>();
        for (int i = 0; i + 1 < namesAndValues.length; i += 2) {
            fields.put((String) namesAndValues[i], namesAndValues[i + 1]);
        }
        return fields;
    }

    /** True for an event the log keeps (it has a place in it). */
    public boolean kept() {
        return seq > 0;
    }

    /** The event as the API shows it: seq, time (ISO-8601), kind and branch, then the fields (none of which may replace those four). */
    public Map<String, Object> flattened() {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("seq", seq);
        out.put("time", time.toString());
        out.put("kind", kind);
        out.put("branch", branch);
        fields.forEach((name, value) -> {
            if (!OWN.contains(name)) {
                out.put(name, value);
            }
        });
        return out;
    }
}
