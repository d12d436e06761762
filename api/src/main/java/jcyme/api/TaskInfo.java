package jcyme.api;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;

/**
 * A task as the branch's task history knows it from its Celery events. {@code args}, {@code kwargs},
 * {@code result} and {@code exception} are the worker's repr strings; times are ISO-8601 or null.
 *
 * @param worker    the worker's node name ({@code w1@host})
 * @param instance  the instance that node name belongs to, or null for a worker the cluster does not run
 * @param runtime   seconds the last run took, or null
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record TaskInfo(
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
        String exception) {}
