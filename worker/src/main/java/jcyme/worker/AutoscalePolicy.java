package jcyme.worker;

import java.time.Duration;
import java.time.Instant;

/**
 * Celery's autoscale rule. With {@code qty} tasks reserved or running and {@code procs} threads:
 * grow at once to {@code min(qty, max)}; shrink to {@code max(qty, min)} only when the last
 * scale-up is more than {@code keepalive} ago.
 */
record AutoscalePolicy(int min, int max, Duration keepalive) {

    AutoscalePolicy {
        if (min < 0 || max < 1 || min > max) {
            throw new IllegalArgumentException("autoscale needs 0 <= min <= max and max >= 1, got max=" + max + " min=" + min);
        }
    }

    /** The pool size to move to now (equal to {@code procs} when nothing should change). */
    int target(int qty, int procs, Instant lastScaleUp, Instant now) {
        int wanted = Math.min(qty, max);
        if (wanted > procs || procs < min) {
            return Math.max(wanted, min);
        }
        if (procs > max) {
            return max;
        }
        int floor = Math.max(qty, min);
        boolean idleLongEnough = lastScaleUp != null && Duration.between(lastScaleUp, now).compareTo(keepalive) > 0;
        if (floor < procs && idleLongEnough) {
            return floor;
        }
        return procs;
    }
}
