package jcyme.supervisor;

import java.time.Instant;

/**
 * A snapshot of a supervised instance.
 *
 * @param generation  the generation of the process it runs or last ran
 * @param retryAt     in BACKOFF, when the next start may be made
 */
public record InstanceStatus(String name, InstanceState state, Long pid, int restarts, Instant startedAt, String lastError,
                             long generation, Instant retryAt) {}
