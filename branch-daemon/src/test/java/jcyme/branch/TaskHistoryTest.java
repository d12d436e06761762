package jcyme.branch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import jcyme.api.TaskDetail;
import jcyme.api.TaskPage;
import jcyme.tasks.Json;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The task history on a real SQLite file: events merged into rows, searches, pruning, reopening. */
class TaskHistoryTest {
    @TempDir
    Path tmp;

    static final double T0 = 1_800_000_000.0;

    static TaskHistory.Event event(String type, String id, double timestamp, String... fields) {
        ObjectNode node = Json.MAPPER.createObjectNode().put("type", type).put("uuid", id).put("hostname", "w1@host")
                .put("timestamp", timestamp);
        for (int i = 0; i < fields.length; i += 2) {
            node.set(fields[i], Json.MAPPER.valueToTree(fields[i + 1]));
        }
        return new TaskHistory.Event("app", "w1", node);
    }

    static List<TaskHistory.Event> succeeded(String id, double t, String name, String args) {
        List<TaskHistory.Event> events = new ArrayList<>();
        events.add(event("task-received", id, t, "name", name, "args", args, "kwargs", "{}"));
        events.add(event("task-started", id, t + 0.1));
        ObjectNode done = event("task-succeeded", id, t + 0.3, "result", "5").fields().put("runtime", 0.2);
        events.add(new TaskHistory.Event("app", "w1", done));
        return events;
    }

    @Test
    void eventsMakeOneRowPerTaskAndSurviveReopening() throws Exception {
        Path file = tmp.resolve("tasks.db");
        try (TaskHistory history = TaskHistory.openQuiet(file, new TaskHistory.Settings(100, Duration.ofDays(7)))) {
            history.record(succeeded("t1", T0, "tasks.add", "[2, 3]"));
            history.record(List.of(event("task-received", "t2", T0 + 1, "name", "tasks.fail", "args", "['boom']"),
                    event("task-started", "t2", T0 + 1.1),
                    event("task-failed", "t2", T0 + 1.2, "exception", "RuntimeException('boom')", "traceback", "at tasks.fail")));
        }
        try (TaskHistory history = TaskHistory.openQuiet(file, new TaskHistory.Settings(100, Duration.ofDays(7)))) {
            TaskPage page = history.list("app", null, null, null, TaskQuery.ALL, 10);
            assertEquals(2, page.total());
            assertEquals(List.of("t2", "t1"), page.tasks().stream().map(t -> t.id()).toList(), "newest first");
            assertEquals("SUCCESS", page.tasks().get(1).state());
            assertEquals(0.2, page.tasks().get(1).runtime());
            assertEquals("w1@host", page.tasks().get(1).worker());
            assertEquals(Instant.ofEpochSecond((long) T0).toString(), page.tasks().get(1).received());
            TaskDetail failed = history.get("app", "t2").orElseThrow();
            assertEquals("FAILURE", failed.state());
            assertEquals("RuntimeException('boom')", failed.exception());
            assertEquals("at tasks.fail", failed.traceback());
            assertEquals(List.of("task-received", "task-started", "task-failed"),
                    failed.events().stream().map(e -> e.get("type")).toList());
            assertTrue(history.get("other-app", "t2").isEmpty(), "a task belongs to one app");
        }
    }

    @Test
    void tasksFirstSeenInTheSameMillisecondAreNewestFirstInTheOrderTheyCame() throws Exception {
        try (TaskHistory history = TaskHistory.openQuiet(tmp.resolve("tasks.db"), new TaskHistory.Settings(100, Duration.ofDays(7)))) {
            List<String> ids = List.of("zz", "aa", "mm", "bb");
            for (String id : ids) {
                history.record(List.of(event("task-received", id, T0, "name", "tasks.add")));
            }
            history.record(List.of(event("task-started", "zz", T0 + 1), event("task-started", "mm", T0 + 1)));   // later events keep the order
            assertEquals(List.of("bb", "mm", "aa", "zz"), ids(history.list("app", null, null, null, TaskQuery.ALL, 10)));
        }
    }

    @Test
    void aLateEventDoesNotTakeAFinishedTaskBack() throws Exception {
        try (TaskHistory history = TaskHistory.openQuiet(tmp.resolve("tasks.db"), new TaskHistory.Settings(100, Duration.ofDays(7)))) {
            List<TaskHistory.Event> events = succeeded("t1", T0, "tasks.add", "[2, 3]");
            history.record(List.of(events.get(2), events.get(1)));
            assertEquals("SUCCESS", history.get("app", "t1").orElseThrow().state());
            assertNull(history.get("app", "t1").orElseThrow().name());
            history.record(List.of(events.get(0)));
            TaskDetail task = history.get("app", "t1").orElseThrow();
            assertEquals("SUCCESS", task.state());
            assertEquals("tasks.add", task.name(), "the late task-received still fills in the name");
            assertEquals("[2, 3]", task.args());
        }
    }

    @Test
    void aRetriedTaskRunsAgain() throws Exception {
        try (TaskHistory history = TaskHistory.openQuiet(tmp.resolve("tasks.db"), new TaskHistory.Settings(100, Duration.ofDays(7)))) {
            history.record(List.of(event("task-received", "t1", T0, "name", "tasks.flaky"), event("task-started", "t1", T0 + 1),
                    event("task-retried", "t1", T0 + 2, "exception", "IOException('try again')")));
            assertEquals("RETRY", history.get("app", "t1").orElseThrow().state());
            ObjectNode again = event("task-received", "t1", T0 + 3, "name", "tasks.flaky").fields().put("retries", 1);
            history.record(List.of(new TaskHistory.Event("app", "w1", again), event("task-started", "t1", T0 + 4)));
            TaskDetail task = history.get("app", "t1").orElseThrow();
            assertEquals("STARTED", task.state());
            assertEquals(1, task.retries());
        }
    }

    @Test
    void searchesFilterInSql() throws Exception {
        try (TaskHistory history = TaskHistory.openQuiet(tmp.resolve("tasks.db"), new TaskHistory.Settings(100, Duration.ofDays(7)))) {
            history.record(succeeded("a1", T0, "tasks.add", "[2, 3]"));
            history.record(succeeded("a2", T0 + 1, "tasks.add", "[40, 2]"));
            history.record(succeeded("m1", T0 + 2, "tasks.mul", "[2, 3]"));
            assertEquals(2, history.list("app", null, "tasks.add", null, TaskQuery.ALL, 10).total());
            assertEquals(List.of("m1", "a1"), ids(history.list("app", null, null, null, TaskQuery.parse("args:2,3"), 10)));
            assertEquals(List.of("a2"), ids(history.list("app", null, null, null, TaskQuery.parse("name:add args:40"), 10)));
            assertEquals(3, history.list("app", "SUCCESS", null, "w1", TaskQuery.ALL, 1).total(), "the total ignores the limit");
            assertEquals(1, history.list("app", "SUCCESS", null, "w1", TaskQuery.ALL, 1).tasks().size());
            assertEquals(0, history.list("app", null, null, null, TaskQuery.parse("state:FAILURE"), 10).total());
            assertEquals(List.of("m1"), ids(history.list("app", null, null, null, TaskQuery.parse("mul"), 10)));
        }
    }

    @Test
    void pruningKeepsTheNewestWithinCountAndAge() throws Exception {
        Path file = tmp.resolve("tasks.db");
        try (TaskHistory history = TaskHistory.openQuiet(file, new TaskHistory.Settings(5, Duration.ofHours(1)))) {
            List<TaskHistory.Event> events = new ArrayList<>();
            for (int i = 0; i < 10; i++) {
                events.addAll(succeeded("new-" + i, T0 + i, "tasks.add", "[" + i + "]"));
                events.addAll(succeeded("old-" + i, T0 - 7200 + i, "tasks.add", "[" + i + "]"));
            }
            history.record(events);
            assertEquals(20, history.list("app", null, null, null, TaskQuery.ALL, 100).total());
            int gone = history.prune(Instant.ofEpochSecond((long) T0 + 60));
            assertEquals(15, gone);
            assertEquals(List.of("new-9", "new-8", "new-7", "new-6", "new-5"),
                    ids(history.list("app", null, null, null, TaskQuery.ALL, 100)));
            assertEquals(0, history.prune(Instant.ofEpochSecond((long) T0 + 60)), "nothing more to prune");
        }
        try (TaskHistory history = TaskHistory.openQuiet(file, new TaskHistory.Settings(5, Duration.ofHours(1)))) {
            assertEquals(5, history.list("app", null, null, null, TaskQuery.ALL, 100).total(), "pruned rows are gone from the file");
        }
    }

    private static List<String> ids(TaskPage page) {
        return page.tasks().stream().map(t -> t.id()).toList();
    }
}
