package jcyme.worker;

import java.util.concurrent.atomic.AtomicLong;

/** Celery's logical clock: {@code forward} per local event, {@code adjust} on every message seen. */
final class LamportClock {
    private final AtomicLong value = new AtomicLong();

    long value() {
        return value.get();
    }

    long forward() {
        return value.incrementAndGet();
    }

    long adjust(long other) {
        return value.updateAndGet(current -> Math.max(current, other) + 1);
    }
}
