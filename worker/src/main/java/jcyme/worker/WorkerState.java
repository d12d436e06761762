package jcyme.worker;

import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a worker remembers: the revoked ids and logical clock (both kept in the statedb across
 * restarts, when there is one) and the counters its stats report. The statedb is the instance's:
 * during a recycle the other worker writes the revokes it takes there, and {@link #readRevokes()}
 * brings them in.
 */
final class WorkerState {
    private static final Logger log = LoggerFactory.getLogger(WorkerState.class);
    static final int REVOKES_MAX = 50_000;
    static final Duration REVOKE_EXPIRES = Duration.ofHours(3);

    private final StateDb db;
    private final RevokedSet revoked = new RevokedSet(REVOKES_MAX, REVOKE_EXPIRES);
    private final LamportClock clock = new LamportClock();
    private final Map<String, AtomicLong> total = new ConcurrentHashMap<>();
    private final AtomicLong processed = new AtomicLong();
    private final AtomicLong failed = new AtomicLong();
    private final Instant startedAt = Instant.now();
    private volatile long savedClock = -1;
    /** How far the statedb's revokes have been read. */
    private long revokesReadThrough;

    private WorkerState(StateDb db) {
        this.db = db;
    }

    /** State backed by {@code db} (restored from it), or in memory only when db is null. */
    static WorkerState restore(StateDb db) throws SQLException {
        WorkerState state = new WorkerState(db);
        if (db != null) {
            state.addRevokes(db.revokedSince(0));
            long clock = db.clock();
            state.clock.adjust(clock);
            state.savedClock = clock;
            log.info("restored {} revoked id(s) and clock {} from the statedb", state.revoked.size(), state.clock.value());
        }
        return state;
    }

    LamportClock clock() {
        return clock;
    }

    boolean isRevoked(String id) {
        return revoked.contains(id);
    }

    /** Marks {@code id} revoked, durably when there is a statedb. */
    void revoke(String id) {
        Instant now = Instant.now();
        List<String> dropped = revoked.add(id, now);
        if (db != null) {
            try {
                db.revoke(id, now, dropped);
            } catch (SQLException e) {
                log.error("could not persist revoke of {}: {}", id, e.getMessage());
            }
        }
    }

    /** Takes in the revokes written to the statedb since the last look, by this worker or the other slot's. */
    void readRevokes() {
        if (db == null) {
            return;
        }
        try {
            addRevokes(db.revokedSince(revokesReadThrough));
        } catch (SQLException e) {
            log.warn("could not read revokes from the statedb: {}", e.getMessage());
        }
    }

    private synchronized void addRevokes(StateDb.Revokes revokes) {
        revokes.ids().forEach(revoked::add);
        revokesReadThrough = Math.max(revokesReadThrough, revokes.through());
    }

    List<String> revokedIds() {
        return revoked.ids();
    }

    Map<String, Instant> revokedWithTimes() {
        return revoked.snapshot();
    }

    void taskStarted(String name) {
        total.computeIfAbsent(name, k -> new AtomicLong()).incrementAndGet();
        processed.incrementAndGet();
    }

    Map<String, Long> total() {
        Map<String, Long> copy = new TreeMap<>();
        total.forEach((name, count) -> copy.put(name, count.get()));
        return copy;
    }

    long processed() {
        return processed.get();
    }

    void taskFailed() {
        failed.incrementAndGet();
    }

    long failed() {
        return failed.get();
    }

    Instant startedAt() {
        return startedAt;
    }

    /** Saves the clock if it moved since the last save. */
    void saveClock() {
        long now = clock.value();
        if (db == null || now == savedClock) {
            return;
        }
        try {
            db.saveClock(now);
            savedClock = now;
        } catch (SQLException e) {
            log.warn("could not save the clock: {}", e.getMessage());
        }
    }
}
