package jcyme.branch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import jcyme.api.App;
import jcyme.tasks.Json;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the follower does with each Celery event it consumes: attributes it to an app and instance
 * by the worker's node name (here, or another branch's by its placement) and streams it to the
 * branch's event log subscribers as task.* or worker.*; task events also go to the history.
 */
class CeleryEventFollowerTest {
    @TempDir
    Path tmp;

    static ObjectNode event(String type, String hostname) {
        return Json.MAPPER.createObjectNode().put("type", type).put("hostname", hostname).put("uuid", "t1")
                .put("timestamp", 1_800_000_000.5).putNull("parent_id");
    }

    @Test
    void eventsAreAttributedStreamedAndTaskEventsKept() throws Exception {
        try (Store store = Store.open(tmp.resolve("branch.db"));
             TaskHistory history = TaskHistory.openQuiet(tmp.resolve("tasks.db"), new TaskHistory.Settings(10, Duration.ofDays(1)))) {
            StoreTest.put(store, new App("pycon", null, null, Map.of(), List.of(), List.of(), Map.of(), List.of(), 1, 4), 1, "b1");
            store.insertInstance(new InstanceRecord("w1", "pycon", List.of("celery"), 1, 4, true, null, null, Map.of(), 0, false, null, null));
            store.replacePlacements("b2", List.of(new Store.Placement("w9", "shop", "b2")));
            EventLog events = EventLog.open(tmp.resolve("events.db"), "b1", EventLog.Bounds.fromProperties());
            List<BranchEvent> seen = new CopyOnWriteArrayList<>();
            events.subscribe(seen::add);
            CeleryEventFollower follower = new CeleryEventFollower(store, new Brokers(store, "amqp://guest:guest@127.0.0.1:1//"),
                    events, history);

            follower.handle(event("task-succeeded", "w1@host").put("result", "5").put("runtime", 0.25), List.of("pycon", "shop"));
            follower.handle(event("worker-heartbeat", "w9@other").put("active", 2), List.of("pycon", "shop"));
            follower.handle(event("worker-heartbeat", "stranger@host"), List.of("pycon", "shop"));
            follower.handle(event("worker-heartbeat", "py@host"), List.of("pycon"));
            follower.handle(event("something-else", "w1@host"), List.of("pycon"));
            assertTrue(events.awaitDelivered(Duration.ofSeconds(5)));

            assertEquals(List.of("task.succeeded", "worker.heartbeat", "worker.heartbeat", "worker.heartbeat"),
                    seen.stream().map(BranchEvent::kind).toList());
            Map<String, Object> succeeded = seen.get(0).fields();
            assertEquals("pycon", succeeded.get("app"));
            assertEquals("w1", succeeded.get("instance"));
            assertEquals("5", succeeded.get("result"));
            assertEquals(0.25, succeeded.get("runtime"));
            assertEquals("w1@host", succeeded.get("hostname"));
            assertFalse(succeeded.containsKey("parent_id"), "null fields are left out");
            assertEquals("shop", seen.get(1).fields().get("app"), "an instance of another branch, by its placement");
            assertEquals("w9", seen.get(1).fields().get("instance"));
            assertEquals(2, seen.get(1).fields().get("active"));
            assertFalse(seen.get(2).fields().containsKey("app"), "a worker the cluster does not run, on a broker of two apps");
            assertEquals("pycon", seen.get(3).fields().get("app"), "a foreign worker on a broker only one app uses");
            assertFalse(seen.get(3).fields().containsKey("instance"));
        }
    }

    @Test
    void theNodeNamesRememberedAreBounded() throws Exception {
        try (Store store = Store.open(tmp.resolve("branch.db"));
             TaskHistory history = TaskHistory.openQuiet(tmp.resolve("tasks.db"), new TaskHistory.Settings(10, Duration.ofDays(1)));
             EventLog events = EventLog.open(tmp.resolve("events.db"), "b1", EventLog.Bounds.fromProperties());
             CeleryEventFollower follower = new CeleryEventFollower(store, new Brokers(store, "amqp://guest:guest@127.0.0.1:1//"),
                     events, history)) {
            for (int i = 0; i < 3 * CeleryEventFollower.MAX_STRANGERS; i++) {
                follower.handle(event("worker-heartbeat", "stranger-" + i + "@host"), List.of());
            }
            assertTrue(follower.remembered() <= CeleryEventFollower.MAX_STRANGERS, "strangers: " + follower.remembered());

            StoreTest.put(store, new App("pycon", null, null, Map.of(), List.of(), List.of(), Map.of(), List.of(), 1, 4), 1, "b1");
            for (int i = 0; i < 100; i++) {
                store.insertInstance(StoreTest.instance("w" + i, "pycon", List.of("celery")));
            }
            follower.refresh();
            assertEquals(100, follower.remembered(), "the instances, and no stranger any more");
            for (int i = 0; i < 100; i++) {
                store.updateInstance("w" + i, InstanceRecord::tombstone);
                store.purgeInstance("w" + i);
            }
            follower.refresh();
            assertEquals(0, follower.remembered(), "instances gone for good are forgotten");
        }
    }
}
