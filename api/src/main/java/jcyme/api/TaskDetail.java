package jcyme.api;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import java.util.List;
import java.util.Map;

/** One task with everything the history keeps: also its traceback and its Celery events, oldest first. */
@JsonIgnoreProperties(ignoreUnknown = true)
public record TaskDetail(
        String id,
        String name,
        String state,
        String worker,
        String instance,
        String received,
        String started,
        String finished,
        Double runtime,
        int retries,
        String args,
        String kwargs,
        String result,
        String exception,
        String traceback,
        List<Map<String, Object>> events) {

    public TaskDetail {
        events = events == null ? List.of() : List.copyOf(events);
    }
}
