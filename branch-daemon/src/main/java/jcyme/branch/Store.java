package jcyme.branch;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.LongSupplier;
import java.util.function.UnaryOperator;
import jcyme.api.App;
import jcyme.api.QueueSpec;

/**
 * {@code <data-dir>/branch.db}: what should exist — apps, their queue declarations, instances and
 * their desired state. SQLite in WAL mode; every write is one committed statement or transaction.
 */
final class Store implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final Connection db;

    private Store(Connection db) {
        this.db = db;
    }

    static Store open(Path file) throws SQLException {
        Connection db = SqliteFile.open(file);
        try (Statement s = db.createStatement()) {
            s.execute("CREATE TABLE IF NOT EXISTS apps (name TEXT PRIMARY KEY, json TEXT NOT NULL,"
                    + " clock INTEGER NOT NULL DEFAULT 0, origin TEXT NOT NULL DEFAULT '', deleted INTEGER NOT NULL DEFAULT 0)");
            s.execute("CREATE TABLE IF NOT EXISTS queues (app TEXT NOT NULL, name TEXT NOT NULL, json TEXT NOT NULL,"
                    + " PRIMARY KEY (app, name))");
            s.execute("CREATE TABLE IF NOT EXISTS instances (name TEXT PRIMARY KEY, app TEXT NOT NULL, json TEXT NOT NULL)");
            s.execute("CREATE TABLE IF NOT EXISTS placements (name TEXT PRIMARY KEY, app TEXT NOT NULL, branch TEXT NOT NULL)");
            addMissingColumns(s, "apps", "clock INTEGER NOT NULL DEFAULT 0", "origin TEXT NOT NULL DEFAULT ''",
                    "deleted INTEGER NOT NULL DEFAULT 0");
        } catch (SQLException e) {
            db.close();
            throw e;
        }
        return new Store(db);
    }

    /** Brings a branch.db written by an earlier version up to date. */
    private static void addMissingColumns(Statement s, String table, String... columns) throws SQLException {
        List<String> present = new ArrayList<>();
        try (ResultSet rs = s.executeQuery("PRAGMA table_info(" + table + ")")) {
            while (rs.next()) {
                present.add(rs.getString("name"));
            }
        }
        for (String column : columns) {
            if (!present.contains(column.substring(0, column.indexOf(' ')))) {
                s.execute("ALTER TABLE " + table + " ADD COLUMN " + column);
            }
        }
    }

    /**
     * An app as replicated: its definition and queue declarations, versioned by a logical clock
     * (ties broken by the origin branch id); a deleted app stays as a tombstone.
     */
    record AppEntry(String name, long clock, String origin, boolean deleted, App app, List<QueueSpec> queues) {
        AppEntry {
            queues = queues == null ? List.of() : queues;
        }

        boolean newerThan(AppEntry other) {
            return other == null || clock > other.clock || (clock == other.clock && origin.compareTo(other.origin) > 0);
        }
    }

    synchronized List<String> appNames() {
        return names("SELECT name FROM apps WHERE deleted = 0 ORDER BY name");
    }

    synchronized Optional<App> app(String name) {
        return one("SELECT json FROM apps WHERE name = ? AND deleted = 0", App.class, name);
    }

    /** An app before and after a change (before is null for a new app; after is before when nothing changed). */
    record AppChange(App before, App after) {
        boolean changed() {
            return after != before;
        }
    }

    /**
     * Writes a new version of the app computed from the live one (null if there is none), in one
     * step: no other change comes between the read and the write, and the version's clock is taken
     * inside it, so versions are numbered in the order they were written. {@code change} may throw
     * to refuse, or return its argument to change nothing.
     */
    synchronized AppChange changeApp(String name, UnaryOperator<App> change, LongSupplier clock, String origin) {
        App before = app(name).orElse(null);
        App after = change.apply(before);
        if (after != before) {
            update("INSERT OR REPLACE INTO apps VALUES (?, ?, ?, ?, 0)", after.name(), json(after), clock.getAsLong(), origin);
        }
        return new AppChange(before, after);
    }

    /**
     * Deletes the live app with its queues, tombstoning its instances and keeping a tombstone of its
     * own, in one transaction; the names of the instances it tombstoned, or empty if there was no live app.
     */
    synchronized Optional<List<String>> deleteApp(String name, LongSupplier clock, String origin) {
        if (app(name).isEmpty()) {
            return Optional.empty();
        }
        List<String> instances = instances(name).stream().map(InstanceRecord::name).toList();
        deleteApp(name, clock.getAsLong(), origin);
        return Optional.of(instances);
    }

    private void deleteApp(String name, long clock, String origin) {
        transaction(() -> {
            instancesLeave(name, true, java.util.Set.of());
            update("DELETE FROM queues WHERE app = ?", name);
            update("DELETE FROM placements WHERE app = ?", name);
            update("INSERT OR REPLACE INTO apps VALUES (?, '{}', ?, ?, 1)", name, clock, origin);
        });
    }

    synchronized long maxAppClock() {
        List<String> max = names("SELECT CAST(COALESCE(MAX(clock), 0) AS TEXT) FROM apps");
        return max.isEmpty() ? 0 : Long.parseLong(max.get(0));
    }

    /** One line per app version held (name, clock, origin, deleted): equal on two branches when they hold the same versions. */
    synchronized String appVersions() {
        return String.join("\n", names("SELECT name || ' ' || clock || ' ' || origin || ' ' || deleted FROM apps ORDER BY name"));
    }

    synchronized List<AppEntry> appEntries() {
        List<AppEntry> entries = new ArrayList<>();
        for (String name : names("SELECT name FROM apps ORDER BY name")) {
            appEntry(name).ifPresent(entries::add);
        }
        return entries;
    }

    synchronized Optional<AppEntry> appEntry(String name) {
        try (PreparedStatement s = prepare("SELECT json, clock, origin, deleted FROM apps WHERE name = ?", name);
             ResultSet rs = s.executeQuery()) {
            if (!rs.next()) {
                return Optional.empty();
            }
            boolean deleted = rs.getInt(4) == 1;
            App app = deleted ? null : parse(rs.getString(1), App.class);
            List<QueueSpec> queues = deleted ? List.of()
                    : all("SELECT json FROM queues WHERE app = ? ORDER BY name", QueueSpec.class, name);
            return Optional.of(new AppEntry(name, rs.getLong(2), rs.getString(3), deleted, app, queues));
        } catch (SQLException e) {
            throw new IllegalStateException("branch.db: " + e.getMessage(), e);
        }
    }

    /** Applies a replicated version of an app: definition and queue declarations together. */
    synchronized void applyApp(AppEntry entry) {
        if (entry.deleted()) {
            deleteApp(entry.name(), entry.clock(), entry.origin());
            return;
        }
        transaction(() -> {
            java.util.Set<String> gone = new java.util.HashSet<>(queueNames(entry.name()));
            entry.queues().forEach(q -> gone.remove(q.name()));
            instancesLeave(entry.name(), false, gone);
            update("INSERT OR REPLACE INTO apps VALUES (?, ?, ?, ?, 0)", entry.name(), json(entry.app()), entry.clock(), entry.origin());
            update("DELETE FROM queues WHERE app = ?", entry.name());
            for (QueueSpec queue : entry.queues()) {
                update("INSERT INTO queues VALUES (?, ?, ?)", entry.name(), queue.name(), json(queue));
            }
        });
    }

    synchronized List<String> queueNames(String app) {
        return names("SELECT name FROM queues WHERE app = ? ORDER BY name", app);
    }

    synchronized Optional<QueueSpec> queue(String app, String name) {
        return one("SELECT json FROM queues WHERE app = ? AND name = ?", QueueSpec.class, app, name);
    }

    /**
     * Stores the queue declaration of a live app with a new version of the app, in one transaction;
     * whether the queue is new, or empty if there is no live app.
     */
    synchronized Optional<Boolean> putQueue(String app, QueueSpec queue, LongSupplier clock, String origin) {
        if (app(app).isEmpty()) {
            return Optional.empty();
        }
        boolean created = queue(app, queue.name()).isEmpty();
        transaction(() -> {
            update("INSERT OR REPLACE INTO queues VALUES (?, ?, ?)", app, queue.name(), json(queue));
            touchApp(app, clock.getAsLong(), origin);
        });
        return Optional.of(created);
    }

    /**
     * Deletes the declaration, unbinds the queue from every instance of the app and makes a new
     * version of the app, in one transaction; the instances that consumed it, or empty if the app has no such queue.
     */
    synchronized Optional<List<String>> deleteQueue(String app, String name, LongSupplier clock, String origin) {
        if (app(app).isEmpty() || queue(app, name).isEmpty()) {
            return Optional.empty();
        }
        List<String> consumers = instances(app).stream().filter(r -> r.queues().contains(name)).map(InstanceRecord::name).toList();
        transaction(() -> {
            update("DELETE FROM queues WHERE app = ? AND name = ?", app, name);
            instancesLeave(app, false, java.util.Set.of(name));
            touchApp(app, clock.getAsLong(), origin);
        });
        return Optional.of(consumers);
    }

    /** A new version of an app that changed in place (its queues). */
    private void touchApp(String name, long clock, String origin) {
        update("UPDATE apps SET clock = ?, origin = ? WHERE name = ?", clock, origin, name);
    }

    /** Live instance records (tombstones left out). */
    synchronized List<InstanceRecord> instances() {
        return live(all("SELECT json FROM instances ORDER BY name", InstanceRecord.class));
    }

    synchronized List<InstanceRecord> instances(String app) {
        return live(all("SELECT json FROM instances WHERE app = ? ORDER BY name", InstanceRecord.class, app));
    }

    /** A live instance record. */
    synchronized Optional<InstanceRecord> instance(String name) {
        return instanceRecord(name).filter(r -> !r.deleting());
    }

    /** An instance record, tombstone or not. */
    synchronized Optional<InstanceRecord> instanceRecord(String name) {
        return one("SELECT json FROM instances WHERE name = ?", InstanceRecord.class, name);
    }

    /** Every instance name with a record, tombstones included. */
    synchronized List<String> allInstanceNames() {
        return names("SELECT name FROM instances ORDER BY name");
    }

    /** Adds the instance unless the name is taken (by a live record or a tombstone); false if it was. */
    synchronized boolean insertInstance(InstanceRecord instance) {
        return insertInstance(instance, Integer.MAX_VALUE).isEmpty();
    }

    /** Why {@link #insertInstance(InstanceRecord, int)} added nothing. */
    enum Refusal { NAME_TAKEN, NAME_BEING_DELETED, LIMIT_REACHED }

    /**
     * Adds the instance in one step unless its name is taken (by a live record or a tombstone) or
     * {@code limit} live instances exist already; empty when it was added, else why not.
     */
    synchronized Optional<Refusal> insertInstance(InstanceRecord instance, int limit) {
        Optional<InstanceRecord> existing = instanceRecord(instance.name());
        if (existing.isPresent()) {
            return Optional.of(existing.get().deleting() ? Refusal.NAME_BEING_DELETED : Refusal.NAME_TAKEN);
        }
        if (instances().size() >= limit) {
            return Optional.of(Refusal.LIMIT_REACHED);
        }
        update("INSERT INTO instances VALUES (?, ?, ?)", instance.name(), instance.app(), json(instance));
        return Optional.empty();
    }

    /**
     * Changes a live record in one step (no other change can come between the read and the write);
     * empty if there is no live record. {@code change} may throw to refuse, and then nothing changes.
     */
    synchronized Optional<InstanceRecord> updateInstance(String name, UnaryOperator<InstanceRecord> change) {
        Optional<InstanceRecord> current = instance(name);
        if (current.isEmpty()) {
            return current;
        }
        InstanceRecord changed = change.apply(current.get());
        putInstance(changed);
        return Optional.of(changed);
    }

    /** Removes a record for good: the last step of a delete, after its worker and directory are gone. */
    synchronized void purgeInstance(String name) {
        update("DELETE FROM instances WHERE name = ? AND json LIKE '%\"deleting\":true%'", name);
    }

    private void putInstance(InstanceRecord instance) {
        update("INSERT OR REPLACE INTO instances VALUES (?, ?, ?)", instance.name(), instance.app(), json(instance));
    }

    private static List<InstanceRecord> live(List<InstanceRecord> records) {
        return records.stream().filter(r -> !r.deleting()).toList();
    }

    /** Tombstones the app's instances and drops the given queues from the survivors' bindings. */
    private void instancesLeave(String app, boolean appDeleted, java.util.Set<String> queuesGone) {
        for (InstanceRecord record : instances(app)) {
            if (appDeleted) {
                putInstance(record.tombstone());
            } else if (record.queues().stream().anyMatch(queuesGone::contains)) {
                putInstance(record.withQueues(record.queues().stream().filter(q -> !queuesGone.contains(q)).toList()));
            }
        }
    }

    /** An instance that lives on another branch, as its owner last told. */
    record Placement(String name, String app, String branch) {}

    synchronized Optional<Placement> placement(String name) {
        return placements("SELECT name, app, branch FROM placements WHERE name = ?", name).stream().findFirst();
    }

    synchronized List<Placement> placements() {
        return placements("SELECT name, app, branch FROM placements ORDER BY name");
    }

    /** Replaces what is known of one branch's instances with its own full list; true if anything changed. */
    synchronized boolean replacePlacements(String branch, List<Placement> now) {
        List<Placement> before = placements("SELECT name, app, branch FROM placements WHERE branch = ? ORDER BY name", branch);
        List<Placement> sorted = now.stream().sorted(java.util.Comparator.comparing(Placement::name)).toList();
        if (before.equals(sorted)) {
            return false;
        }
        transaction(() -> {
            update("DELETE FROM placements WHERE branch = ?", branch);
            for (Placement placement : sorted) {
                update("INSERT OR REPLACE INTO placements VALUES (?, ?, ?)", placement.name(), placement.app(), branch);
            }
        });
        return true;
    }

    synchronized void forgetPlacements(String branch) {
        update("DELETE FROM placements WHERE branch = ?", branch);
    }

    private List<Placement> placements(String sql, Object... params) {
        List<Placement> rows = new ArrayList<>();
        try (PreparedStatement s = prepare(sql, params); ResultSet rs = s.executeQuery()) {
            while (rs.next()) {
                rows.add(new Placement(rs.getString(1), rs.getString(2), rs.getString(3)));
            }
        } catch (SQLException e) {
            throw new IllegalStateException("branch.db: " + e.getMessage(), e);
        }
        return rows;
    }

    @Override
    public synchronized void close() throws SQLException {
        db.close();
    }

    // ---- plumbing -----------------------------------------------------------------------------

    private interface Work {
        void run();
    }

    private void transaction(Work work) {
        try {
            db.setAutoCommit(false);
            try {
                work.run();
                db.commit();
            } catch (RuntimeException e) {
                db.rollback();
                throw e;
            } finally {
                db.setAutoCommit(true);
            }
        } catch (SQLException e) {
            throw new IllegalStateException("branch.db: " + e.getMessage(), e);
        }
    }

    private int update(String sql, Object... params) {
        try (PreparedStatement s = prepare(sql, params)) {
            return s.executeUpdate();
        } catch (SQLException e) {
            throw new IllegalStateException("branch.db: " + e.getMessage(), e);
        }
    }

    private List<String> names(String sql, Object... params) {
        List<String> names = new ArrayList<>();
        try (PreparedStatement s = prepare(sql, params); ResultSet rs = s.executeQuery()) {
            while (rs.next()) {
                names.add(rs.getString(1));
            }
        } catch (SQLException e) {
            throw new IllegalStateException("branch.db: " + e.getMessage(), e);
        }
        return names;
    }

    private <T> List<T> all(String sql, Class<T> type, Object... params) {
        List<T> rows = new ArrayList<>();
        for (String text : names(sql, params)) {
            rows.add(parse(text, type));
        }
        return rows;
    }

    private <T> Optional<T> one(String sql, Class<T> type, Object... params) {
        return all(sql, type, params).stream().findFirst();
    }

    private PreparedStatement prepare(String sql, Object... params) throws SQLException {
        PreparedStatement s = db.prepareStatement(sql);
        for (int i = 0; i < params.length; i++) {
            s.setObject(i + 1, params[i]);
        }
        return s;
    }

    private static String json(Object value) {
        try {
            return JSON.writeValueAsString(value);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static <T> T parse(String text, Class<T> type) {
        try {
            return JSON.readValue(text, type);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
