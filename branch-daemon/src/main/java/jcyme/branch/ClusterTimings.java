package jcyme.branch;

import java.time.Duration;

/**
 * How fast the cluster notices a lost branch, heals a split, and gives up reaching a branch.
 *
 * @param failureTimeout  a branch silent this long is suspected and, once verified (an eighth of
 *                        it more), dropped from the view; heartbeats go out every quarter of it
 * @param mergeInterval   the longest pause between two looks for other cluster halves to merge
 *                        with (the shortest is two fifths of it); a healed split merges within
 *                        about 1.6 of it
 * @param connectTimeout  how long a forwarded request or a listing waits to connect to another branch
 */
public record ClusterTimings(Duration failureTimeout, Duration mergeInterval, Duration connectTimeout) {
    public static final ClusterTimings DEFAULTS = new ClusterTimings(Duration.ofSeconds(4), Duration.ofSeconds(5), Duration.ofSeconds(2));

    public ClusterTimings {
        require(failureTimeout, Duration.ofMillis(400), "cluster failure timeout");
        require(mergeInterval, Duration.ofMillis(250), "cluster merge interval");
        require(connectTimeout, Duration.ofMillis(50), "forward connect timeout");
    }

    private static void require(Duration value, Duration least, String what) {
        if (value == null || value.compareTo(least) < 0) {
            throw new IllegalArgumentException(what + " must be at least " + least.toMillis() + " ms, got "
                    + (value == null ? "none" : value.toMillis() + " ms"));
        }
    }

    Duration heartbeatInterval() {
        return failureTimeout.dividedBy(4);
    }

    Duration verifyTimeout() {
        return failureTimeout.dividedBy(8);
    }

    Duration mergeMinInterval() {
        return mergeInterval.multipliedBy(2).dividedBy(5);
    }
}
