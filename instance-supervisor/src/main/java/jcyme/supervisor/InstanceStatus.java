package jcyme.supervisor;

import java.time.Instant;

/** A snapshot of a supervised instance. */
public record InstanceStatus(String name, InstanceState state, Long pid, int restarts, Instant startedAt, String lastError) {}
