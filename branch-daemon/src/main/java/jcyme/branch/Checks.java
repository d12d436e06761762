package jcyme.branch;

import jcyme.api.Names;
import jcyme.tasks.BrokerUrl;

/** The refusals every room shares: a bad name, bounds (see {@link Limits}) or broker URL is a 400 that changes nothing. */
final class Checks {
    private Checks() {}

    static void name(String what, String name) {
        String problem = Names.problem(what, name);
        if (problem != null) {
            throw BranchException.invalid(problem);
        }
    }

    /** Recycle thresholds: each absent or at least 1. */
    static void recycle(Long afterTasks, Long aboveRssKib) {
        if (afterTasks != null && afterTasks < 1) {
            throw BranchException.invalid("recycle_after_tasks must be at least 1, got " + afterTasks);
        }
        if (aboveRssKib != null && aboveRssKib < 1) {
            throw BranchException.invalid("recycle_above_rss_kib must be at least 1, got " + aboveRssKib);
        }
    }

    static void bounds(int min, int max) {
        if (min < 0 || max < 1 || min > max) {
            throw BranchException.invalid("need 0 <= min <= max and max >= 1, got min=" + min + " max=" + max);
        }
        if (max > Limits.MAX_POOL) {
            throw BranchException.invalid("a pool may have at most " + Limits.MAX_POOL + " threads (the pool limit), got max=" + max);
        }
    }

    static void broker(String url) {
        BrokerUrl parsed;
        try {
            parsed = BrokerUrl.parse(url);
        } catch (IllegalArgumentException e) {
            throw BranchException.invalid(e.getMessage());
        }
        if (parsed.port() > 65535) {
            throw BranchException.invalid("broker URL has no valid port (1-65535): " + parsed.display());
        }
    }

    /** A broker URL as an answer shows it: the password masked. */
    static String masked(String url) {
        return BrokerUrl.mask(url);
    }

    /**
     * The URL to store for an incoming one: a URL sent back exactly as it was shown (password
     * masked) leaves the stored one as it is; any other URL carrying the mask as its password is a 400.
     */
    static String unmasked(String incoming, String stored) {
        if (!BrokerUrl.isMasked(incoming)) {
            return incoming;
        }
        if (stored != null && BrokerUrl.mask(stored).equals(incoming)) {
            return stored;
        }
        throw BranchException.invalid("broker URL carries the masked password '" + BrokerUrl.MASK + "': give the real password"
                + " (a URL sent back exactly as shown keeps the stored one)");
    }

    static String firstLine(String text) {
        return text == null ? "" : text.lines().findFirst().orElse("");
    }
}
