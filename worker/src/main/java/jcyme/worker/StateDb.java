package jcyme.worker;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@code worker.statedb}: a SQLite file holding what must survive a restart, as Celery's statedb
 * does: the revoked task ids (with when they were revoked) and the logical clock. Revokes are
 * written through at once; the clock is saved periodically and at exit. An instance's two workers
 * share it while a recycle overlaps them (WAL, so readers never wait; writers wait up to
 * {@link #BUSY_TIMEOUT}): each reads the revokes the other wrote with {@link #revokedSince}.
 */
final class StateDb implements AutoCloseable {
    /** How long a write waits for the other worker's write to the same file. */
    static final java.time.Duration BUSY_TIMEOUT = java.time.Duration.ofSeconds(10);

    /** Revoked ids read from the file, and the position to read on from. */
    record Revokes(Map<String, Instant> ids, long through) {}

    private final Connection db;

    private StateDb(Connection db) {
        this.db = db;
    }

    static StateDb open(Path file) throws SQLException {
        try {
            Path parent = file.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
        } catch (java.io.IOException e) {
            throw new SQLException("cannot create the directory of " + file + ": " + e.getMessage(), e);
        }
        Connection db = DriverManager.getConnection("jdbc:sqlite:" + file.toAbsolutePath());
        try (Statement s = db.createStatement()) {
            s.execute("PRAGMA busy_timeout=" + BUSY_TIMEOUT.toMillis());
            s.execute("PRAGMA journal_mode=WAL");
            s.execute("PRAGMA synchronous=NORMAL");
            s.execute("CREATE TABLE IF NOT EXISTS revoked (id TEXT PRIMARY KEY, revoked_at REAL NOT NULL)");
            s.execute("CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
        }
        return new StateDb(db);
    }

    /** The revokes written (by any worker) after position {@code after}, oldest first. */
    synchronized Revokes revokedSince(long after) throws SQLException {
        Map<String, Instant> ids = new LinkedHashMap<>();
        long through = after;
        try (PreparedStatement s = db.prepareStatement("SELECT rowid, id, revoked_at FROM revoked WHERE rowid > ? ORDER BY rowid")) {
            s.setLong(1, after);
            try (ResultSet rs = s.executeQuery()) {
                while (rs.next()) {
                    through = rs.getLong(1);
                    double at = rs.getDouble(3);
                    ids.put(rs.getString(2), Instant.ofEpochSecond((long) at, (long) ((at % 1) * 1e9)));
                }
            }
        }
        return new Revokes(ids, through);
    }

    synchronized void revoke(String id, Instant at, Collection<String> dropped) throws SQLException {
        db.setAutoCommit(false);
        try (PreparedStatement add = db.prepareStatement("INSERT OR REPLACE INTO revoked VALUES (?, ?)");
             PreparedStatement remove = db.prepareStatement("DELETE FROM revoked WHERE id = ?")) {
            add.setString(1, id);
            add.setDouble(2, at.getEpochSecond() + at.getNano() / 1e9);
            add.executeUpdate();
            for (String old : dropped) {
                remove.setString(1, old);
                remove.addBatch();
            }
            if (!dropped.isEmpty()) {
                remove.executeBatch();
            }
            db.commit();
        } catch (SQLException e) {
            db.rollback();
            throw e;
        } finally {
            db.setAutoCommit(true);
        }
    }

    synchronized long clock() throws SQLException {
        try (Statement s = db.createStatement();
             ResultSet rs = s.executeQuery("SELECT value FROM state WHERE key = 'clock'")) {
            return rs.next() ? Long.parseLong(rs.getString(1)) : 0;
        }
    }

    /** Saves the clock unless the file holds a later one (the other slot's worker saves its own). */
    synchronized void saveClock(long value) throws SQLException {
        try (PreparedStatement s = db.prepareStatement("INSERT INTO state VALUES ('clock', ?1) ON CONFLICT (key) DO UPDATE"
                + " SET value = ?1 WHERE CAST(value AS INTEGER) < CAST(?1 AS INTEGER)")) {
            s.setString(1, Long.toString(value));
            s.executeUpdate();
        }
    }

    @Override
    public synchronized void close() throws SQLException {
        db.close();
    }
}
