package jcyme.branch;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
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
        Connection db = DriverManager.getConnection("jdbc:sqlite:" + file.toAbsolutePath());
        try (Statement s = db.createStatement()) {
            s.execute("PRAGMA journal_mode=WAL");
            s.execute("PRAGMA busy_timeout=5000");
            s.execute("CREATE TABLE IF NOT EXISTS apps (name TEXT PRIMARY KEY, json TEXT NOT NULL)");
            s.execute("CREATE TABLE IF NOT EXISTS queues (app TEXT NOT NULL, name TEXT NOT NULL, json TEXT NOT NULL,"
                    + " PRIMARY KEY (app, name))");
            s.execute("CREATE TABLE IF NOT EXISTS instances (name TEXT PRIMARY KEY, app TEXT NOT NULL, json TEXT NOT NULL)");
        }
        return new Store(db);
    }

    synchronized List<String> appNames() {
        return names("SELECT name FROM apps ORDER BY name");
    }

    synchronized Optional<App> app(String name) {
        return one("SELECT json FROM apps WHERE name = ?", App.class, name);
    }

    synchronized void putApp(App app) {
        update("INSERT OR REPLACE INTO apps VALUES (?, ?)", app.name(), json(app));
    }

    /** Deletes the app with its queues and instance records, in one transaction. */
    synchronized void deleteApp(String name) {
        transaction(() -> {
            update("DELETE FROM instances WHERE app = ?", name);
            update("DELETE FROM queues WHERE app = ?", name);
            update("DELETE FROM apps WHERE name = ?", name);
        });
    }

    synchronized List<String> queueNames(String app) {
        return names("SELECT name FROM queues WHERE app = ? ORDER BY name", app);
    }

    synchronized Optional<QueueSpec> queue(String app, String name) {
        return one("SELECT json FROM queues WHERE app = ? AND name = ?", QueueSpec.class, app, name);
    }

    synchronized void putQueue(String app, QueueSpec queue) {
        update("INSERT OR REPLACE INTO queues VALUES (?, ?, ?)", app, queue.name(), json(queue));
    }

    synchronized void deleteQueue(String app, String name) {
        update("DELETE FROM queues WHERE app = ? AND name = ?", app, name);
    }

    synchronized List<InstanceRecord> instances() {
        return all("SELECT json FROM instances ORDER BY name", InstanceRecord.class);
    }

    synchronized List<InstanceRecord> instances(String app) {
        return all("SELECT json FROM instances WHERE app = ? ORDER BY name", InstanceRecord.class, app);
    }

    synchronized Optional<InstanceRecord> instance(String name) {
        return one("SELECT json FROM instances WHERE name = ?", InstanceRecord.class, name);
    }

    synchronized void putInstance(InstanceRecord instance) {
        update("INSERT OR REPLACE INTO instances VALUES (?, ?, ?)", instance.name(), instance.app(), json(instance));
    }

    /** Adds the instance unless the name is taken; false if it was. */
    synchronized boolean insertInstance(InstanceRecord instance) {
        return update("INSERT OR IGNORE INTO instances VALUES (?, ?, ?)", instance.name(), instance.app(), json(instance)) == 1;
    }

    synchronized void deleteInstance(String name) {
        update("DELETE FROM instances WHERE name = ?", name);
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
