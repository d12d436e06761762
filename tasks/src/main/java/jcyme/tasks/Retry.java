package jcyme.tasks;

import java.time.Duration;

/**
 * Thrown by a task to run again later, as Celery's {@code self.retry()}: the worker republishes
 * the message with the same id, one more retry and an ETA {@code countdown} from now, reports
 * RETRY, and acknowledges the current delivery. Past {@code maxRetries} the task fails with
 * {@code cause} (or {@code MaxRetriesExceededError} when there is none).
 */
public final class Retry extends RuntimeException {
    public static final int DEFAULT_MAX_RETRIES = 3;

    private final Duration countdown;
    private final int maxRetries;

    public Retry(Duration countdown, Throwable cause, int maxRetries) {
        super("Retry in " + countdown.toMillis() / 1000.0 + "s" + (cause == null ? "" : ": " + cause), cause, false, false);
        if (countdown.isNegative() || maxRetries < 0) {
            throw new IllegalArgumentException("countdown and maxRetries must not be negative");
        }
        this.countdown = countdown;
        this.maxRetries = maxRetries;
    }

    public Duration countdown() {
        return countdown;
    }

    public int maxRetries() {
        return maxRetries;
    }
}
