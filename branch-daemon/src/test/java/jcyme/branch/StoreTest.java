package jcyme.branch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import jcyme.api.App;
import jcyme.api.QueueSpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The replicated parts of branch.db, on a real SQLite file. */
class StoreTest {
    @TempDir
    Path tmp;

    static void put(Store store, App app, long clock, String origin) {
        store.changeApp(app.name(), before -> app, () -> clock, origin);
    }

    static App app(String name, int max) {
        return new App(name, null, null, Map.of(), List.of(), List.of(), Map.of(), List.of(), 1, max);
    }

    @Test
    void newerVersionsWinAndOlderOnesAreIgnored() throws Exception {
        try (Store store = Store.open(tmp.resolve("branch.db"))) {
            put(store, app("pycon", 4), 5, "a");
            Store.AppEntry current = store.appEntry("pycon").orElseThrow();
            Store.AppEntry older = new Store.AppEntry("pycon", 4, "z", false, app("pycon", 9), List.of());
            Store.AppEntry tieLowerOrigin = new Store.AppEntry("pycon", 5, "A", false, app("pycon", 9), List.of());
            Store.AppEntry tieHigherOrigin = new Store.AppEntry("pycon", 5, "b", false, app("pycon", 9), List.of());
            assertFalse(older.newerThan(current));
            assertFalse(tieLowerOrigin.newerThan(current));
            assertTrue(tieHigherOrigin.newerThan(current));
            assertEquals(5, store.maxAppClock());
        }
    }

    @Test
    void aDeleteStaysAsATombstoneWithTheAppsQueuesAndPlacementsGone() throws Exception {
        try (Store store = Store.open(tmp.resolve("branch.db"))) {
            put(store, app("pycon", 4), 1, "a");
            store.putQueue("pycon", new QueueSpec("images", null, null, null, null), () -> 1, "a");
            store.replacePlacements("c", List.of(new Store.Placement("w1", "pycon", "c")));
            store.deleteApp("pycon", () -> 2, "b");
            assertEquals(List.of(), store.appNames());
            assertEquals(List.of(), store.placements());
            Store.AppEntry tombstone = store.appEntry("pycon").orElseThrow();
            assertTrue(tombstone.deleted());
            assertEquals(2, tombstone.clock());
            Store.AppEntry stale = new Store.AppEntry("pycon", 1, "a", false, app("pycon", 4), List.of());
            assertFalse(stale.newerThan(tombstone), "a stale copy must not resurrect a deleted app");

            store.applyApp(new Store.AppEntry("pycon", 3, "c", false, app("pycon", 6),
                    List.of(new QueueSpec("video", null, null, null, null))));
            assertEquals(6, store.app("pycon").orElseThrow().maxConcurrency());
            assertEquals(List.of("video"), store.queueNames("pycon"));
        }
    }

    @Test
    void placementsAreReplacedByTheOwnersFullList() throws Exception {
        try (Store store = Store.open(tmp.resolve("branch.db"))) {
            assertTrue(store.replacePlacements("c", List.of(new Store.Placement("w2", "pycon", "c"),
                    new Store.Placement("w1", "pycon", "c"))));
            assertFalse(store.replacePlacements("c", List.of(new Store.Placement("w1", "pycon", "c"),
                    new Store.Placement("w2", "pycon", "c"))), "same list, nothing changed");
            store.replacePlacements("b", List.of(new Store.Placement("x", "other", "b")));
            assertTrue(store.replacePlacements("c", List.of(new Store.Placement("w2", "pycon", "c"))));
            assertEquals(List.of("w2", "x"), store.placements().stream().map(Store.Placement::name).toList());
            store.forgetPlacements("b");
            assertEquals("c", store.placement("w2").orElseThrow().branch());
            assertTrue(store.placement("x").isEmpty());
        }
    }

    @Test
    void aBranchDbFromBeforeTheClusterIsUpgradedInPlace() throws Exception {
        Path file = tmp.resolve("branch.db");
        try (Connection db = DriverManager.getConnection("jdbc:sqlite:" + file); Statement s = db.createStatement()) {
            s.execute("CREATE TABLE apps (name TEXT PRIMARY KEY, json TEXT NOT NULL)");
            s.execute("INSERT INTO apps VALUES ('pycon', '{\"name\":\"pycon\",\"max_concurrency\":7,\"min_concurrency\":1}')");
        }
        try (Store store = Store.open(file)) {
            assertEquals(7, store.app("pycon").orElseThrow().maxConcurrency());
            put(store, app("pycon", 8), 1, "a");
            assertEquals(1, store.appEntry("pycon").orElseThrow().clock());
        }
    }

    private static Thread startThread(Runnable work) {
        Thread thread = new Thread(work);
        thread.start();
        return thread;
    }

    static InstanceRecord instance(String name, String app, List<String> queues) {
        return new InstanceRecord(name, app, queues, 1, 2, true, null, null, Map.of(), 1, false, null, null);
    }

    @Test
    void aDeletedInstanceIsATombstoneUntilPurgedAndItsNameStaysTaken() throws Exception {
        try (Store store = Store.open(tmp.resolve("branch.db"))) {
            put(store, app("pycon", 4), 1, "a");
            assertTrue(store.insertInstance(instance("w1", "pycon", List.of("celery"))));
            store.updateInstance("w1", InstanceRecord::tombstone);
            assertEquals(List.of(), store.instances(), "a tombstone is not a live instance");
            assertTrue(store.instance("w1").isEmpty());
            assertTrue(store.instanceRecord("w1").orElseThrow().deleting());
            assertFalse(store.insertInstance(instance("w1", "pycon", List.of())), "the name is taken until the delete is done");
            assertTrue(store.updateInstance("w1", r -> r.withEnabled(true)).isEmpty(), "a tombstone does not come back to life");
            store.purgeInstance("w1");
            assertEquals(List.of(), store.allInstanceNames());
            assertTrue(store.insertInstance(instance("w1", "pycon", List.of())));
            store.purgeInstance("w1");
            assertEquals(List.of("w1"), store.allInstanceNames(), "only a tombstone is purged");
        }
    }

    @Test
    void deletingAnAppTombstonesItsInstancesAndDeletingAQueueUnbindsIt() throws Exception {
        try (Store store = Store.open(tmp.resolve("branch.db"))) {
            put(store, app("pycon", 4), 1, "a");
            put(store, app("other", 4), 1, "a");
            store.putQueue("pycon", new QueueSpec("images", null, null, null, null), () -> 1, "a");
            store.insertInstance(instance("w1", "pycon", List.of("celery", "images")));
            store.insertInstance(instance("w2", "other", List.of("images")));
            assertEquals(Optional.of(List.of("w1")), store.deleteQueue("pycon", "images", () -> 2, "a"), "its consumers");
            assertEquals(Optional.empty(), store.deleteQueue("pycon", "images", () -> 3, "a"), "gone already");
            assertEquals(List.of("celery"), store.instance("w1").orElseThrow().queues());
            assertEquals(List.of("images"), store.instance("w2").orElseThrow().queues(), "another app's binding stays");
            assertEquals(Optional.of(List.of("w1")), store.deleteApp("pycon", () -> 3, "a"), "the instances it tombstoned");
            assertEquals(Optional.empty(), store.deleteApp("pycon", () -> 4, "a"), "deleted already");
            assertEquals(Optional.empty(), store.putQueue("pycon", new QueueSpec("late", null, null, null, null), () -> 5, "a"),
                    "no queue for a deleted app");
            assertEquals(List.of(), store.queueNames("pycon"));
            assertTrue(store.instanceRecord("w1").orElseThrow().deleting());
            assertFalse(store.instanceRecord("w2").orElseThrow().deleting());
        }
    }

    @Test
    void aChangeOfAnInstanceIsOneStep() throws Exception {
        try (Store store = Store.open(tmp.resolve("branch.db"))) {
            put(store, app("pycon", 4), 1, "a");
            store.insertInstance(instance("w1", "pycon", List.of()));
            List<Thread> threads = new java.util.ArrayList<>();
            for (int i = 0; i < 8; i++) {
                String queue = "q" + i;
                threads.add(startThread(() -> store.updateInstance("w1", r -> {
                    List<String> queues = new java.util.ArrayList<>(r.queues());
                    queues.add(queue);
                    return r.withQueues(queues);
                })));
            }
            for (Thread thread : threads) {
                thread.join();
            }
            assertEquals(8, store.instance("w1").orElseThrow().queues().size(), "no bind lost to another");
        }
    }

    @Test
    void concurrentInsertsStopAtTheLimit() throws Exception {
        try (Store store = Store.open(tmp.resolve("branch.db"))) {
            put(store, app("pycon", 4), 1, "a");
            java.util.concurrent.atomic.AtomicInteger refused = new java.util.concurrent.atomic.AtomicInteger();
            List<Thread> threads = new java.util.ArrayList<>();
            for (int i = 0; i < 8; i++) {
                String name = "w" + i;
                threads.add(startThread(() -> store.insertInstance(instance(name, "pycon", List.of()), 3)
                        .ifPresent(why -> refused.incrementAndGet())));
            }
            for (Thread thread : threads) {
                thread.join();
            }
            assertEquals(3, store.instances().size(), "no more than the limit");
            assertEquals(5, refused.get());
            String taken = store.instances().get(0).name();
            assertEquals(Optional.of(Store.Refusal.NAME_TAKEN), store.insertInstance(instance(taken, "pycon", List.of()), 9));
            store.updateInstance(taken, InstanceRecord::tombstone);
            assertEquals(Optional.of(Store.Refusal.NAME_BEING_DELETED), store.insertInstance(instance(taken, "pycon", List.of()), 9));
        }
    }
}
