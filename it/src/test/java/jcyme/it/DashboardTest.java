package jcyme.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import jcyme.tasks.Json;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.ResourceLock;
import org.openqa.selenium.WebElement;

/**
 * The dashboard in a real Chromium against a real branch with real workers: what the page shows
 * is what the API says, and what is done in the page reaches the workers.
 * {@link #tasksPageListsSentTasksAndShowsAFailureWithItsException} needs the task history and the
 * event stream (GET /&lt;app&gt;/tasks, GET /events/stream, GET .../queues/&lt;q&gt;/depth).
 */
@ResourceLock(TestBroker.RABBITMQ)
class DashboardTest {
    @TempDir
    Path tmp;

    final String app = "ui-" + UUID.randomUUID().toString().substring(0, 8);
    final String queue = app + "-q";

    @AfterEach
    void noWorkerOutlivesTheTest() {
        BranchProcess.processesWith("-Djcyme.instance=" + app + "/")
                .forEach(pid -> ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly));
    }

    BranchProcess branch(String... options) throws Exception {
        List<String> all = new ArrayList<>(List.of("--broker", TestBroker.rabbitmq().url()));
        all.addAll(List.of(options));
        return new BranchProcess(tmp.resolve("branch"), all.toArray(String[]::new)).start();
    }

    /** An app with instances w1 (on {@link #queue}) and w2 (on its own queue), both RUNNING. */
    void appWithTwoInstances(BranchProcess branch) {
        branch.json("PUT", "/" + app);
        branch.json("PUT", "/" + app + "/queues/" + queue);
        branch.json("PUT", "/" + app + "/queues/" + app + "-extra");
        branch.json("POST", "/" + app + "/instances/w1?queues=" + queue + "&min=1&max=2");
        branch.json("POST", "/" + app + "/instances/w2?queues=" + app + "-other&min=1&max=3");
        branch.awaitState(app, "w1", "RUNNING");
        branch.awaitState(app, "w2", "RUNNING");
    }

    String send(BranchProcess branch, String task, Object... args) {
        String body = Json.MAPPER.valueToTree(java.util.Map.of("args", List.of(args), "queue", queue)).toString();
        BranchProcess.Reply reply = branch.call("POST", "/" + app + "/tasks/" + task, body);
        assertEquals(202, reply.status(), reply.text());
        return reply.json().path("id").asText();
    }

    @Test
    void overviewListsTheInstancesAndTheInstancePageDrivesTheWorker() throws Exception {
        try (BranchProcess branch = branch(); Browser browser = Browser.open()) {
            appWithTwoInstances(branch);
            for (int i = 0; i < 5; i++) {
                send(branch, "tasks.add", i, 10);
            }
            String failed = send(branch, "tasks.fail", "no such image");
            branch.json("GET", "/" + app + "/query/" + failed + "/wait?timeout=30");

            browser.go(branch.url() + "/ui");
            String w1 = "tr[data-instance='" + app + "/w1'] ";
            String w2 = "tr[data-instance='" + app + "/w2'] ";
            browser.awaitText(w1 + ".state-cell", "RUNNING");
            browser.awaitText(w2 + ".state-cell", "RUNNING");
            assertTrue(browser.text(w2 + ".pool").matches("\\d+ \\(1–3\\)"), browser.text(w2 + ".pool"));
            browser.awaitText(w1 + ".processed", "6");
            List<String> w1Cells = browser.all(w1 + "td").stream().map(WebElement::getText).toList();
            JsonNode instance = branch.json("GET", "/" + app + "/instances/w1");
            assertEquals(instance.path("branch").asText(), w1Cells.get(2), w1Cells.toString());
            assertEquals(instance.path("pid").asText(), w1Cells.get(4), w1Cells.toString());
            assertEquals("1", w1Cells.get(8), "failed, from the worker's stats: " + w1Cells);
            assertTrue(w1Cells.get(9).endsWith("MiB"), "RSS: " + w1Cells);
            String branchId = branch.json("GET", "/branches").get(0).asText();
            browser.awaitText("tr[data-branch='" + branchId + "']", "RUNNING 2");
            browser.awaitText("#apps li[data-app='" + app + "']", "2 instances");
            browser.screenshot("ui-overview");

            browser.one(w1 + "a").click();
            browser.awaitText("#pool", "autoscale 1–2");
            browser.script("window.stillTheSamePage = true;");

            browser.type("#autoscale-min", "2");
            browser.type("#autoscale-max", "6");
            browser.one("#autoscale-submit").click();
            Wait.until(Duration.ofSeconds(30), "the worker to autoscale 2-6", () -> {
                JsonNode scaler = branch.json("GET", "/" + app + "/instances/w1/stats").path("autoscaler");
                return scaler.path("min").asInt() == 2 && scaler.path("max").asInt() == 6;
            });
            browser.awaitText("#pool", "autoscale 2–6");
            browser.awaitText("#action-message", "autoscale: 2–6");

            String id = send(branch, "tasks.add", 40, 2);
            browser.awaitText("#log", "tasks.add[" + id + "] succeeded");
            for (int i = 0; i < 60; i++) {
                send(branch, "tasks.add", i, i);
            }
            String last = send(branch, "tasks.add", 1, 1);
            browser.awaitText("#log", "tasks.add[" + last + "] succeeded");
            browser.await("the log to stay scrolled to the bottom", () -> logGap(browser) < 8);
            assertTrue(((Number) browser.script("const l = document.getElementById('log'); return l.scrollHeight - l.clientHeight;")).intValue() > 0,
                    "the log overflows its box");
            browser.script("document.getElementById('log').scrollTop = 0;");
            browser.awaitText("#log-follow", "paused");
            String later = send(branch, "tasks.add", 2, 2);
            browser.awaitText("#log", "tasks.add[" + later + "] succeeded");
            assertEquals(0L, ((Number) browser.script("return document.getElementById('log').scrollTop;")).longValue(),
                    "a reader who scrolled up is left where they are");
            browser.script("const l = document.getElementById('log'); l.scrollTop = l.scrollHeight;");

            browser.type("#bind-queue", app + "-extra");
            browser.one("#bind-submit").click();
            browser.awaitText("tr[data-queue='" + app + "-extra']", app + "-extra");
            assertTrue(branch.json("GET", "/" + app + "/instances/w1/queues").has(app + "-extra"));
            browser.screenshot("ui-instance");
            browser.one("[data-unbind='" + app + "-extra']").click();
            browser.await("the unbound queue to leave the page", () -> browser.all("tr[data-queue='" + app + "-extra']").isEmpty());
            assertFalse(branch.json("GET", "/" + app + "/instances/w1/queues").has(app + "-extra"));
            assertEquals(Boolean.TRUE, browser.script("return window.stillTheSamePage;"), "nothing reloaded the page");

            browser.go(branch.url() + "/ui#/charts/" + app);
            browser.await("the charts to say whether the event stream and queue depth are there", () ->
                    settled(browser.text("#stream-state")) && settled(browser.text("#depth-state")));

            browser.go(branch.url() + "/ui#/instance/" + app + "/w2");
            browser.awaitText("#pool", "autoscale 1–3");
            long pid = branch.json("GET", "/" + app + "/instances/w2").path("pid").asLong();
            browser.one("#disable").click();
            browser.awaitText("#action-message", "disable: done");
            assertFalse(branch.json("GET", "/" + app + "/instances/w2").path("is_enabled").asBoolean());
            browser.awaitText("#instance-summary", "(disabled)");
            browser.awaitText("#stats", "No live stats while the instance is");
            browser.one("#enable").click();
            browser.awaitText("#action-message", "enable: done");
            browser.awaitText("#pool", "autoscale 1–3");
            long enabledPid = branch.awaitState(app, "w2", "RUNNING").path("pid").asLong();
            browser.one("#restart").click();
            browser.awaitText("#action-message", "restart: done");
            long restartedPid = branch.awaitState(app, "w2", "RUNNING").path("pid").asLong();
            assertTrue(pid != enabledPid && enabledPid != restartedPid, "new workers: " + List.of(pid, enabledPid, restartedPid));
            browser.awaitText("#instance-summary", Long.toString(restartedPid));
            browser.one("#delete").click();
            browser.driver.switchTo().alert().dismiss();
            assertEquals(200, branch.call("GET", "/" + app + "/instances/w2").status(), "a dismissed confirm deletes nothing");
            browser.one("#delete").click();
            browser.driver.switchTo().alert().accept();
            Wait.until(Duration.ofSeconds(60), "w2 to be deleted",
                    () -> !branch.json("GET", "/" + app + "/instances").toString().contains("\"w2\""));
            browser.await("the overview after the delete", () -> browser.driver.getCurrentUrl().endsWith("#/"));
            browser.await("w2 to leave the overview", () -> browser.all("tr[data-instance='" + app + "/w2']").isEmpty()
                    && !browser.all("tr[data-instance='" + app + "/w1']").isEmpty());
            assertEquals(List.of(), browser.errors());
        }
    }

    private static long logGap(Browser browser) {
        return ((Number) browser.script("const l = document.getElementById('log'); return l.scrollHeight - l.scrollTop - l.clientHeight;"))
                .longValue();
    }

    /** A chart's note once it knows: live, every 2 s, or not available on this branch. */
    private static boolean settled(String state) {
        return state.contains("live") || state.contains("every 2 s") || state.contains("not available");
    }

    @Test
    void aBranchWithATokenAsksForItOnceAndKeepsItForTheSession() throws Exception {
        try (BranchProcess branch = branch("--token", "s3cret"); Browser browser = Browser.open()) {
            assertEquals(201, call(branch, "PUT", "/" + app, "s3cret").statusCode());
            assertEquals(401, call(branch, "GET", "/", null).statusCode(), "the API itself still wants the token");
            HttpResponse<String> page = call(branch, "GET", "/ui", null);
            assertEquals(200, page.statusCode(), "the page's files hold no data and need no token");
            assertTrue(page.body().contains("<script type=\"module\" src=\"/ui/app.js\">"), page.body());
            assertEquals("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
                    + "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
                    page.headers().firstValue("Content-Security-Policy").orElse(null));
            HttpResponse<String> chartLibrary = call(branch, "GET", "/ui/lib/uPlot.iife.min.js", null);
            assertEquals(200, chartLibrary.statusCode());
            assertTrue(chartLibrary.headers().firstValue("Content-Type").orElse("").startsWith("text/javascript"));
            for (String outside : List.of("/ui/nothing.js", "/ui/lib/..%2F..%2Fpom.properties", "/ui/%2e%2e%2fdashboard.css", "/ui/lib/LICENSE")) {
                HttpResponse<String> refused = call(branch, "GET", outside, null);
                assertEquals(404, refused.statusCode(), outside + ": " + refused.body());
                assertTrue(refused.body().startsWith("{\"error\":"), refused.body());
            }

            browser.go(branch.url() + "/ui");
            browser.await("the token prompt", () -> browser.one("#token-dialog").getAttribute("open") != null);
            browser.type("#token-input", "wrong");
            browser.one("#token-submit").click();
            browser.awaitText("#token-why", "refused that token");
            browser.type("#token-input", "s3cret");
            browser.one("#token-submit").click();
            browser.awaitText("#apps li[data-app='" + app + "']", app);
            assertEquals(null, browser.one("#token-dialog").getAttribute("open"));
            assertEquals("s3cret", browser.script("return sessionStorage.getItem('jcyme.token');"));

            browser.driver.navigate().refresh();
            browser.awaitText("#apps li[data-app='" + app + "']", app);
            browser.go(branch.url() + "/ui#/charts/" + app);
            browser.await("the charts page", () -> settled(browser.text("#stream-state")));
            assertEquals(null, browser.one("#token-dialog").getAttribute("open"), "asked once per session");
            assertEquals(List.of(), browser.errors());
        }
    }

    /** Needs GET /<app>/tasks, /<app>/tasks/<id>, /events/stream and /<app>/queues/<q>/depth. */
    @Test
    void tasksPageListsSentTasksAndShowsAFailureWithItsException() throws Exception {
        try (BranchProcess branch = branch(); Browser browser = Browser.open()) {
            appWithTwoInstances(branch);
            browser.go(branch.url() + "/ui#/charts/" + app);
            browser.await("the charts to find the event stream and queue depth", () ->
                    settled(browser.text("#stream-state")) && settled(browser.text("#depth-state")));
            assertTrue(browser.text("#stream-state").contains("live"), browser.text("#stream-state"));
            assertTrue(browser.text("#depth-state").contains("every 2 s"), browser.text("#depth-state"));

            List<String> succeeded = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                succeeded.add(send(branch, "tasks.add", i, 100));
            }
            List<String> failures = List.of(send(branch, "tasks.fail", "thumbnail too large"), send(branch, "tasks.fail", "disk full"));
            browser.await("8 successes counted from the event stream", () -> count(browser, "#count-succeeded") >= 8);
            browser.await("2 failures counted from the event stream", () -> count(browser, "#count-failed") >= 2);
            browser.await("the 10 tasks drawn in the tasks/s chart", () ->
                    "10".equals(String.valueOf(browser.script("return document.getElementById('task-chart').dataset.plotted"))));
            browser.screenshot("ui-charts");

            browser.go(branch.url() + "/ui#/tasks/" + app);
            for (String id : succeeded) {
                browser.awaitText("tr[data-task='" + id + "'] .state-cell", "SUCCESS");
            }
            for (String id : failures) {
                browser.awaitText("tr[data-task='" + id + "'] .state-cell", "FAILURE");
            }
            browser.awaitText("tr[data-task='" + succeeded.get(3) + "']", "103");
            browser.screenshot("ui-tasks");

            browser.type("#q", "state:FAILURE");
            browser.one("#task-search-submit").click();
            browser.await("only the failures listed", () -> {
                List<String> rows = browser.all("#task-table tbody tr").stream().map(row -> row.getAttribute("data-task")).toList();
                return rows.size() == 2 && rows.containsAll(failures);
            });
            browser.awaitText("#task-total", "2 tasks");

            browser.one("tr[data-task='" + failures.get(0) + "'] a").click();
            browser.awaitText("#task-exception", "thumbnail too large");
            assertFalse(browser.text("#task-traceback").isBlank(), "the traceback is shown");
            browser.awaitText("#task-args", "thumbnail too large");
            browser.awaitText("#task-detail h1", "FAILURE");
            browser.screenshot("ui-task");
            assertEquals(List.of(), browser.errors());
        }
    }

    private static int count(Browser browser, String css) {
        String text = browser.text(css);
        return text.isBlank() ? 0 : Integer.parseInt(text.trim());
    }

    /** A call with an optional bearer token. */
    private static HttpResponse<String> call(BranchProcess branch, String method, String path, String token) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(branch.url() + path)).timeout(Duration.ofSeconds(30))
                .method(method, HttpRequest.BodyPublishers.noBody());
        if (token != null) {
            request.header("Authorization", "Bearer " + token);
        }
        return HttpClient.newHttpClient().send(request.build(), HttpResponse.BodyHandlers.ofString());
    }
}
