package jcyme.branch;

import java.time.Instant;
import java.util.Map;

/**
 * One structured fact about the fleet: an instance's transition, an exit, an autoscale change, a
 * bind, an app change, a branch joining or leaving — or, streamed but not kept, a task event.
 *
 * @param seq     its place in this branch's event log (0 for a streamed-only event)
 * @param kind    what happened, dotted: {@code instance.state}, {@code instance.exit}, {@code app.updated}, {@code task.succeeded}, ...
 * @param fields  the facts of that kind (app, instance, from, to, exit code, signal, queue, ...)
 */
public record BranchEvent(long seq, Instant time, String kind, String branch, Map<String, Object> fields) {
    public BranchEvent {
        fields = Map.copyOf(fields);
    }
}
