package jcyme.branch;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

/** How the branch opens each of its SQLite files: checked whole first, then WAL with a busy timeout. */
final class SqliteFile {
    private SqliteFile() {}

    /** A connection to {@code file}; an unreadable or damaged file is an {@link SQLException} and nothing is left open. */
    static Connection open(Path file) throws SQLException {
        Connection db = DriverManager.getConnection("jdbc:sqlite:" + file.toAbsolutePath());
        try (Statement s = db.createStatement()) {
            try (ResultSet check = s.executeQuery("PRAGMA quick_check")) {
                String verdict = check.next() ? check.getString(1) : "no answer";
                if (!verdict.equals("ok")) {
                    throw new SQLException("integrity check: " + verdict);
                }
            }
            s.execute("PRAGMA journal_mode=WAL");
            s.execute("PRAGMA busy_timeout=5000");
            return db;
        } catch (SQLException | RuntimeException e) {
            db.close();
            throw e;
        }
    }
}
