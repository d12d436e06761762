package jcyme.worker;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Revoked task ids with the time each was revoked, bounded like Celery's {@code LimitedSet}: at most
 * {@code maxSize} ids (the oldest go first), and none kept longer than {@code expiry}.
 */
final class RevokedSet {
    private final int maxSize;
    private final Duration expiry;
    private final LinkedHashMap<String, Instant> ids = new LinkedHashMap<>();

    RevokedSet(int maxSize, Duration expiry) {
        this.maxSize = maxSize;
        this.expiry = expiry;
    }

    /** Adds an id; returns the ids dropped to stay within bounds. */
    synchronized List<String> add(String id, Instant at) {
        ids.remove(id);
        ids.put(id, at);
        return purge(at);
    }

    synchronized boolean contains(String id) {
        return ids.containsKey(id);
    }

    synchronized List<String> ids() {
        return new ArrayList<>(ids.keySet());
    }

    synchronized Map<String, Instant> snapshot() {
        return new LinkedHashMap<>(ids);
    }

    synchronized int size() {
        return ids.size();
    }

    private List<String> purge(Instant now) {
        List<String> dropped = new ArrayList<>();
        Iterator<Map.Entry<String, Instant>> oldestFirst = ids.entrySet().iterator();
        while (oldestFirst.hasNext()) {
            Map.Entry<String, Instant> entry = oldestFirst.next();
            boolean expired = entry.getValue().plus(expiry).isBefore(now);
            if (!expired && ids.size() <= maxSize) {
                break;
            }
            dropped.add(entry.getKey());
            oldestFirst.remove();
        }
        return dropped;
    }
}
