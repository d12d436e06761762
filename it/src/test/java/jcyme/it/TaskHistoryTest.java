package jcyme.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.ResourceLock;

/**
 * The task history of a real branch: its worker instances send task events (-E), the branch
 * follows them on the real broker and keeps every task in tasks.db, which survives a kill -9.
 */
@ResourceLock(TestBroker.RABBITMQ)
class TaskHistoryTest {
    static final int SUCCEEDING = 5;
    static final int FAILING = 2;

    @TempDir
    Path tmp;

    final String app = "th-" + UUID.randomUUID().toString().substring(0, 8);
    private BranchProcess started;

    @AfterEach
    void cleanUp() throws Exception {
        if (started != null) {
            started.close();
        }
        BranchProcess.killAllWith("-Djcyme.instance=" + app + "/");
    }

    private BranchProcess rabbitBranch() throws Exception {
        started = new BranchProcess(tmp.resolve("instances"), "--broker", TestBroker.rabbitmq().url(), "--no-cluster");
        return started.start();
    }

    @Test
    void tasksAreListedSearchedAndSurviveABranchRestart() throws Exception {
        BranchProcess branch = rabbitBranch();
        String queue = app + "-q";
        branch.json("PUT", "/" + app);
        branch.json("POST", "/" + app + "/instances/w1?queues=" + queue);
        branch.awaitState(app, "w1", "RUNNING");

        List<String> added = new ArrayList<>();
        for (int i = 0; i < SUCCEEDING; i++) {
            added.add(send(branch, "tasks.add", "[" + i + ", " + (1000 + i) + "]", queue));
        }
        List<String> failed = new ArrayList<>();
        for (int i = 0; i < FAILING; i++) {
            failed.add(send(branch, "tasks.fail", "[\"boom " + i + "\"]", queue));
        }
        JsonNode page = awaitTasks(branch, "", SUCCEEDING + FAILING);

        int successes = 0;
        int failures = 0;
        for (JsonNode task : page.path("tasks")) {
            String state = task.path("state").asText();
            assertTrue(task.path("worker").asText().startsWith("w1@"), task.toString());
            assertEquals("w1", task.path("instance").asText());
            assertTrue(task.path("runtime").isNumber(), "a runtime: " + task);
            assertTrue(task.path("received").asText().matches("\\d{4}-\\d\\d-\\d\\dT.*Z"), task.toString());
            assertFalse(task.path("finished").isNull(), task.toString());
            if (state.equals("SUCCESS")) {
                successes++;
                assertEquals("tasks.add", task.path("name").asText());
                assertTrue(added.contains(task.path("id").asText()));
            } else if (state.equals("FAILURE")) {
                failures++;
                assertEquals("tasks.fail", task.path("name").asText());
                assertTrue(failed.contains(task.path("id").asText()));
            }
        }
        assertEquals(SUCCEEDING, successes, page.toString());
        assertEquals(FAILING, failures, page.toString());
        assertEquals(failed.get(FAILING - 1), page.at("/tasks/0/id").asText(), "newest first");

        JsonNode detail = branch.json("GET", "/" + app + "/tasks/" + failed.get(0));
        assertTrue(detail.path("exception").asText().contains("boom 0"), detail.toString());
        assertTrue(detail.path("traceback").asText().contains("DemoTasks"), detail.toString());
        Set<String> types = new TreeSet<>();
        detail.path("events").forEach(e -> types.add(e.path("type").asText()));
        assertEquals(Set.of("task-received", "task-started", "task-failed"), types);
        JsonNode sum = branch.json("GET", "/" + app + "/tasks/" + added.get(3));
        assertEquals(String.valueOf(3 + 1003), sum.path("result").asText());
        assertEquals(404, branch.call("GET", "/" + app + "/tasks/no-such-task").status());

        assertEquals(Set.copyOf(failed), ids(search(branch, "state:FAILURE")));
        assertEquals(Set.copyOf(added), ids(search(branch, "name:tasks.add")));
        assertEquals(Set.of(added.get(2)), ids(search(branch, "args:1002")));
        assertEquals(Set.of(failed.get(1)), ids(search(branch, "\"boom 1\"")));
        assertEquals(Set.of(), ids(search(branch, "name:tasks.add state:FAILURE")), "terms are ANDed");
        assertEquals(SUCCEEDING, branch.json("GET", "/" + app + "/tasks?state=SUCCESS&worker=w1&limit=2").path("total").asInt());
        assertEquals(2, branch.json("GET", "/" + app + "/tasks?state=SUCCESS&limit=2").path("tasks").size());
        BranchProcess.Reply bad = branch.call("GET", "/" + app + "/tasks?q=" + encode("state:DONE"));
        assertEquals(400, bad.status());
        assertTrue(bad.json().path("error").asText().contains("unknown state 'DONE'"), bad.text());

        BranchProcess.Reply table = BranchProcess.cyme("-u", branch.url(), "tasks", app, "--state", "FAILURE");
        assertEquals(0, table.status(), table.text());
        assertTrue(table.text().contains(failed.get(0)) && table.text().contains("2 of 2 task(s)"), table.text());
        BranchProcess.Reply shown = BranchProcess.cyme("-u", branch.url(), "tasks", "show", app, failed.get(0));
        assertEquals(0, shown.status(), shown.text());
        assertTrue(shown.text().contains("traceback:") && shown.text().contains("boom 0"), shown.text());

        JsonNode before = branch.json("GET", "/" + app + "/tasks");
        branch.kill9();
        branch.start();
        JsonNode after = branch.json("GET", "/" + app + "/tasks");
        assertEquals(before, after, "the same history after a kill -9 and a restart");

        String later = send(branch, "tasks.add", "[7, 8]", queue);
        JsonNode grown = awaitTasks(branch, "", SUCCEEDING + FAILING + 1);
        assertEquals(later, grown.at("/tasks/0/id").asText(), "the restarted branch follows the events again");
    }

    private String send(BranchProcess branch, String task, String args, String queue) {
        BranchProcess.Reply sent = branch.call("POST", "/" + app + "/tasks/" + task,
                "{\"args\": " + args + ", \"queue\": \"" + queue + "\"}");
        assertEquals(202, sent.status(), sent.text());
        return sent.json().path("id").asText();
    }

    /** Waits until the listing shows {@code count} finished tasks; returns it. */
    private JsonNode awaitTasks(BranchProcess branch, String query, int count) {
        JsonNode[] last = new JsonNode[1];
        Wait.until(Duration.ofSeconds(60), count + " finished tasks in the history", () -> {
            last[0] = branch.json("GET", "/" + app + "/tasks?limit=1000" + query);
            int finished = 0;
            for (JsonNode task : last[0].path("tasks")) {
                if (Set.of("SUCCESS", "FAILURE").contains(task.path("state").asText())) finished++;
            }
            return last[0].path("total").asInt() == count && finished == count;
        }, () -> "last: " + last[0] + "\n" + branch.log());
        return last[0];
    }

    private JsonNode search(BranchProcess branch, String q) {
        return branch.json("GET", "/" + app + "/tasks?q=" + encode(q));
    }

    private static Set<String> ids(JsonNode page) {
        Set<String> ids = new TreeSet<>();
        page.path("tasks").forEach(t -> ids.add(t.path("id").asText()));
        assertEquals(ids.size(), page.path("total").asInt());
        return ids;
    }

    private static String encode(String text) {
        return URLEncoder.encode(text, StandardCharsets.UTF_8).replace("+", "%20");
    }
}
