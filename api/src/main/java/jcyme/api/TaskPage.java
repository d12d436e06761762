package jcyme.api;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import java.util.List;

/** Tasks of a history query, newest first, and how many matched in all. */
@JsonIgnoreProperties(ignoreUnknown = true)
public record TaskPage(List<TaskInfo> tasks, long total) {
    public TaskPage {
        tasks = tasks == null ? List.of() : List.copyOf(tasks);
    }
}
