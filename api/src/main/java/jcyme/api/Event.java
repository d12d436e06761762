package jcyme.api;

import com.fasterxml.jackson.annotation.JsonAnyGetter;
import com.fasterxml.jackson.annotation.JsonAnySetter;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One event of a branch's event log, as {@code GET /events} and {@code GET /events/stream} show it:
 * {@code seq}, {@code time} (ISO-8601), {@code kind} and {@code branch}, with the kind's fields
 * (app, instance, from, to, exit_code, signal, queue, ...) flattened beside them.
 *
 * @param seq  its place in the branch's log; 0 for an event that is streamed but not kept (task and worker events)
 */
public record Event(long seq, String time, String kind, String branch, @JsonAnySetter @JsonAnyGetter Map<String, Object> fields) {
    public Event {
        fields = fields == null ? new LinkedHashMap<>() : fields;
    }

    /** A field as text, or null when absent or null. */
    public String text(String field) {
        Object value = fields.get(field);
        return value == null ? null : value.toString();
    }
}
