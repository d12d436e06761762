package jcyme.branch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The event log on a real SQLite file: kept across reopening, bounded by count and age, never held up by a subscriber. */
class EventLogTest {
    @TempDir
    Path tmp;

    private static final EventLog.Bounds DEFAULTS = new EventLog.Bounds(EventLog.Bounds.DEFAULT_MAX_EVENTS,
            EventLog.Bounds.DEFAULT_MAX_AGE);

    private static Map<String, Object> exit(String instance) {
        Map<String, Object> fields = new HashMap<>();
        fields.put("app", "pycon");
        fields.put("instance", instance);
        fields.put("exit_code", 137);
        fields.put("signal", "SIGKILL");
        fields.put("note", null);
        return fields;
    }

    @Test
    void eventsSurviveReopeningAndSeqContinues() throws Exception {
        Path file = tmp.resolve("events.db");
        try (EventLog events = EventLog.open(file, "b1", DEFAULTS)) {
            events.record("instance.exit", exit("w1"));
            events.record("instance.restart", Map.of("app", "pycon", "instance", "w1", "restarts", 1));
            events.stream("task.succeeded", Map.of("uuid", "x"));
        }
        try (EventLog events = EventLog.open(file, "b1", DEFAULTS)) {
            List<BranchEvent> kept = events.since(0, 100);
            assertEquals(List.of(1L, 2L), kept.stream().map(BranchEvent::seq).toList(), "streamed-only events are not kept");
            BranchEvent first = kept.get(0);
            assertEquals("instance.exit", first.kind());
            assertEquals("SIGKILL", first.fields().get("signal"));
            assertEquals(137, first.fields().get("exit_code"));
            assertTrue(first.fields().containsKey("note") && first.fields().get("note") == null, "a null field stays, as null");
            assertEquals("b1", first.branch());
            assertEquals(2, events.latest());
            assertEquals(3, events.record("app.updated", Map.of("app", "pycon", "origin", "b1")).seq());
            assertEquals(List.of(3L), events.since(2, 100).stream().map(BranchEvent::seq).toList());
            assertEquals(1, events.since(0, 1).size(), "limit");
        }
    }

    @Test
    void theCountBoundKeepsTheNewest() throws Exception {
        try (EventLog events = EventLog.open(tmp.resolve("events.db"), "b1", new EventLog.Bounds(1000, Duration.ofDays(7)))) {
            for (int i = 0; i < 2500; i++) {
                events.record("instance.state", Map.of("instance", "w" + i));
            }
            List<BranchEvent> kept = events.since(0, EventLog.MAX_PAGE);
            assertEquals(1000, kept.size());
            assertEquals(1501, kept.get(0).seq());
            assertEquals(2500, kept.get(kept.size() - 1).seq());
        }
        try (Connection db = DriverManager.getConnection("jdbc:sqlite:" + tmp.resolve("events.db"));
             Statement s = db.createStatement()) {
            var rs = s.executeQuery("SELECT COUNT(*) FROM events");
            rs.next();
            assertEquals(1000, rs.getLong(1), "the file itself holds no more");
        }
    }

    @Test
    void theAgeBoundDropsOldEventsAlsoFromAnEarlierRunAndSeqNeverGoesBack() throws Exception {
        Path file = tmp.resolve("events.db");
        try (EventLog events = EventLog.open(file, "b1", DEFAULTS)) {
            for (int i = 0; i < 5; i++) {
                events.record("app.created", Map.of("app", "a" + i, "origin", "b1"));
            }
        }
        long eightDaysAgo = Instant.now().minus(Duration.ofDays(8)).toEpochMilli();
        try (Connection db = DriverManager.getConnection("jdbc:sqlite:" + file);
             PreparedStatement s = db.prepareStatement("UPDATE events SET time = ? WHERE seq <= 3")) {
            s.setLong(1, eightDaysAgo);
            assertEquals(3, s.executeUpdate());
        }
        try (EventLog events = EventLog.open(file, "b1", DEFAULTS)) {
            events.record("app.deleted", Map.of("app", "a0", "origin", "b1"));
            assertEquals(List.of(4L, 5L, 6L), events.since(0, 100).stream().map(BranchEvent::seq).toList());
        }
        try (EventLog events = EventLog.open(file, "b1", new EventLog.Bounds(10, Duration.ofMillis(1)))) {
            events.record("app.deleted", Map.of("app", "a1", "origin", "b1"));
            List<BranchEvent> kept = events.since(0, 100);
            assertTrue(kept.size() <= 1, "only the newest can be within 1 ms: " + kept);
        }
        try (EventLog events = EventLog.open(file, "b1", DEFAULTS)) {
            assertEquals(8, events.record("app.deleted", Map.of("app", "a2", "origin", "b1")).seq(),
                    "numbering continues after a prune emptied the log");
        }
    }

    @Test
    void aSlowSubscriberIsDroppedWithoutHoldingUpTheRecorderOrOthers() throws Exception {
        try (EventLog events = EventLog.open(tmp.resolve("events.db"), "b1", DEFAULTS)) {
            CountDownLatch release = new CountDownLatch(1);
            List<Long> fast = Collections.synchronizedList(new ArrayList<>());
            AutoCloseable stuck = events.subscribe(event -> {
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            events.subscribe(event -> fast.add(event.seq()));
            EventLog.Subscription neverRead = events.subscribe("a client that never reads");
            EventLog.Subscription reader = events.subscribe("a reader");
            int total = EventLog.SUBSCRIBER_BACKLOG + 100;
            long started = System.nanoTime();
            for (int i = 0; i < total; i++) {
                events.record("instance.state", Map.of("instance", "w1", "i", i));
                if (i % 1000 == 0) {
                    while (reader.next(Duration.ZERO) != null) { /* keep up */ }
                }
            }
            long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
            assertTrue(millis < 10_000, "recording took " + millis + " ms");
            assertTrue(neverRead.dropped(), "the subscriber that never reads is dropped");
            assertNull(neverRead.next(Duration.ofSeconds(1)));
            assertFalse(reader.dropped(), "a subscriber that keeps up stays");
            assertEquals(2, events.subscribers(), "the stuck consumer and the one that never reads are gone; two remain");
            Wait.until(Duration.ofSeconds(10), () -> fast.size() == total);
            assertEquals(1L, fast.get(0));
            assertEquals((long) total, fast.get(total - 1));
            release.countDown();
            stuck.close();
        }
    }

    @Test
    void badPagesAreRefused() throws Exception {
        try (EventLog events = EventLog.open(tmp.resolve("events.db"), "b1", DEFAULTS)) {
            assertEquals(400, assertThrows(BranchException.class, () -> events.since(-1, 10)).status());
            assertEquals(400, assertThrows(BranchException.class, () -> events.since(0, 0)).status());
            assertEquals(400, assertThrows(BranchException.class, () -> events.since(0, EventLog.MAX_PAGE + 1)).status());
        }
    }

    @Test
    void aDamagedFileIsMovedAsideAndANewLogStarted() throws Exception {
        Path file = tmp.resolve("events.db");
        Files.write(file, "this is not a database, but it is long enough to look like one to a careless reader".repeat(100).getBytes());
        try (EventLog events = EventLog.open(file, "b1", DEFAULTS)) {
            assertEquals(1, events.record("app.created", Map.of("app", "a", "origin", "b1")).seq());
        }
        try (var entries = Files.list(tmp)) {
            assertTrue(entries.anyMatch(p -> p.getFileName().toString().startsWith("events.db.broken-")));
        }
    }

    @Test
    void ageTakesUnits() {
        assertEquals(Duration.ofDays(7), EventLog.Bounds.parseAge("7d"));
        assertEquals(Duration.ofHours(12), EventLog.Bounds.parseAge("12h"));
        assertEquals(Duration.ofMinutes(30), EventLog.Bounds.parseAge("30m"));
        assertEquals(Duration.ofSeconds(90), EventLog.Bounds.parseAge("90"));
        assertThrows(IllegalArgumentException.class, () -> EventLog.Bounds.parseAge("soon"));
        assertThrows(IllegalArgumentException.class, () -> new EventLog.Bounds(0, Duration.ofDays(1)));
    }

    /** Figures: how fast the log takes events, and what 100 000 of them cost on disk. */
    @Test
    void figures() throws Exception {
        Path file = tmp.resolve("events.db");
        int count = 100_000;
        try (EventLog events = EventLog.open(file, "host-8000", DEFAULTS)) {
            long started = System.nanoTime();
            for (int i = 0; i < count; i++) {
                events.record("instance.state", Map.of("app", "pycon", "instance", "w" + (i % 16), "from", "RUNNING",
                        "to", "EXITED", "why", "exit code 137 (SIGKILL)"));
            }
            long recorded = System.nanoTime();
            assertEquals(count, events.since(count - 1, 10).get(0).seq());
            long stored = System.nanoTime();
            System.out.printf("event log: %d events recorded in %d ms (%.0f/s), all stored after %d ms (%.0f/s)%n", count,
                    TimeUnit.NANOSECONDS.toMillis(recorded - started), count * 1e9 / (recorded - started),
                    TimeUnit.NANOSECONDS.toMillis(stored - started), count * 1e9 / (stored - started));
        }
        long bytes = Files.size(file);
        System.out.printf("event log: %d events take %.1f MiB on disk (%d bytes each)%n", count, bytes / 1048576.0, bytes / count);
        assertTrue(bytes > 0 && bytes < 100L << 20, "size " + bytes);
    }

    /** A bounded wait for something another thread does. */
    static final class Wait {
        static void until(Duration timeout, java.util.function.BooleanSupplier condition) throws InterruptedException {
            long deadline = System.nanoTime() + timeout.toNanos();
            while (!condition.getAsBoolean()) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("not within " + timeout);
                }
                Thread.sleep(10);
            }
        }
    }
}
