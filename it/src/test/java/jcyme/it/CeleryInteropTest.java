package jcyme.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import jcyme.tasks.Json;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.parallel.ResourceLock;

/**
 * A jcyme worker in a Celery deployment: Debian's python3-celery (5.2.6) as producer, as
 * remote-control client and event consumer, and as a Python worker answering the same commands
 * in the same run, all on RabbitMQ.
 */
@ResourceLock(TestBroker.RABBITMQ)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class CeleryInteropTest {
    static final Path PYTHON = Path.of("/usr/bin/python3");
    static final Path SCRIPTS = Path.of("src/test/python").toAbsolutePath();
    /** The demo tasks as a Celery app ({@code interop}), for the Python side. */
    static final Path APP = Path.of(System.getProperty("jcyme.home", "..")).toAbsolutePath().resolve("examples/python");

    final String suffix = UUID.randomUUID().toString().substring(0, 8);
    final String host = hostName();
    final String jnode = "jw-" + suffix + "@" + host;
    final String pnode = "pw-" + suffix + "@" + host;
    final String jqueue = "interop-j-" + suffix;
    final String pqueue = "interop-p-" + suffix;
    /** Revoked on the jcyme worker before the Python worker starts: mingle must bring it over. */
    final String mingled = "mingled-" + suffix;
    Path tmp;
    WorkerProcess jcyme;
    Process python;

    @BeforeAll
    void startWorkers() throws Exception {
        requireCelery();
        tmp = Files.createTempDirectory("jcyme-interop");
        jcyme = new WorkerProcess(jnode, tmp.resolve("jw"), TestBroker.rabbitmq().url(), "-Q", jqueue, "--autoscale", "4,2");
        jcyme.start();
        jcyme.control("revoke", Map.of("task_id", mingled));
        ProcessBuilder worker = new ProcessBuilder(PYTHON.toString(), "-m", "celery", "-A", "interop", "worker", "-n", pnode,
                "-Q", pqueue, "--autoscale=4,2", "-l", "INFO", "--without-gossip")
                .directory(SCRIPTS.toFile()).redirectErrorStream(true).redirectOutput(tmp.resolve("python-worker.log").toFile());
        pythonEnvironment(worker, TestBroker.rabbitmq().url());
        python = worker.start();
        python.getOutputStream().close();
        Wait.until(Duration.ofSeconds(60), "the Python worker to be ready",
                () -> read(tmp.resolve("python-worker.log")).contains(pnode + " ready") || !python.isAlive(),
                () -> read(tmp.resolve("python-worker.log")));
        assertTrue(python.isAlive(), read(tmp.resolve("python-worker.log")));
    }

    @AfterAll
    void stopWorkers() throws Exception {
        if (jcyme != null) {
            jcyme.close();
        }
        if (python != null) {
            python.destroy();
            if (!python.waitFor(20, TimeUnit.SECONDS)) {
                python.destroyForcibly();
            }
        }
    }

    static void requireCelery() throws Exception {
        if (!Files.isExecutable(PYTHON)
                || run(Duration.ofSeconds(30), TestBroker.rabbitmq().url(), PYTHON.toString(), "-c", "import celery").status() != 0) {
            throw new IllegalStateException("python3-celery is missing: run the suite with bin/test, which installs it with apt");
        }
    }

    @Test
    void aPythonProducerGetsResultsErrorsRetriesAndChainsFromJcyme() throws Exception {
        JsonNode out = python(Duration.ofSeconds(120), "producer.py", jqueue);
        assertEquals(5, out.path("add").asInt());
        assertEquals("{\"args\":[1,\"two\"],\"kwargs\":{\"three\":[3]}}", out.path("echo").toString());
        assertEquals("RuntimeException", out.at("/fail/type").asText());
        assertEquals("[\"boom\"]", out.at("/fail/args").toString());
        assertEquals("NotRegistered", out.at("/unknown/type").asText());
        assertEquals("[\"tasks.nope\"]", out.at("/unknown/args").toString());
        assertEquals(2, out.path("countdown").asInt());
        assertTrue(out.path("countdown_waited").asDouble() >= 1.4, out.toString());
        assertEquals("TaskRevokedError", out.at("/expired/type").asText());
        assertEquals("[\"expired\"]", out.at("/expired/args").toString());
        assertEquals(2, out.path("retried").asInt());
        assertEquals("IllegalStateException", out.at("/retries_exhausted/type").asText());
        assertEquals("[\"attempt 4 failed\"]", out.at("/retries_exhausted/args").toString());
        assertEquals(1, out.path("retries_header").asInt(), "a message that already carries retries=1 needs no retry");
        assertEquals(16, out.path("chain").asInt());
        assertEquals(3, out.path("link_parent").asInt());
        assertEquals(12, out.path("ignore_result_then").asInt());
        assertEquals("PENDING", out.path("ignored_state").asText(), "ignore_result: no result is ever published");
        assertEquals("TaskRevokedError", out.at("/terminated/type").asText());
        assertEquals("[\"terminated\"]", out.at("/terminated/args").toString());
        Wait.until(Duration.ofSeconds(10), "the linked task to run",
                () -> read(jcyme.log()).matches("(?s).*task tasks.echo\\[[^]]+\\] succeeded.*"), () -> read(jcyme.log()));
    }

    @Test
    void inspectAndControlAnswerAsAPythonWorkerDoes() throws Exception {
        JsonNode out = python(Duration.ofSeconds(180), "control.py", jnode, pnode, jqueue, pqueue);
        for (Iterator<String> it = out.fieldNames(); it.hasNext(); ) {
            String command = it.next();
            JsonNode sides = out.get(command);
            if (sides.has("jcyme")) {
                assertFalse(sides.get("jcyme").asText().equals("NO REPLY"), command + ": jcyme did not reply: " + sides);
                assertFalse(sides.get("python").asText().equals("NO REPLY"), command + ": python did not reply: " + sides);
            }
        }
        // the same words, where Celery's replies are fixed strings
        for (String command : List.of("ping", "pool_grow", "pool_shrink", "autoscale", "rate_limit", "rate_limit_unknown",
                "rate_limit_off", "time_limit", "time_limit_unknown", "enable_events", "enable_events_again", "disable_events",
                "disable_events_again", "nosuchcmd")) {
            assertEquals(out.at("/" + command + "/python"), out.at("/" + command + "/jcyme"), command + ": " + out.get(command));
        }
        assertEquals("{\"ok\":\"add consumer interop-extra-jcyme\"}", out.at("/add_consumer/jcyme").toString());
        assertEquals("{\"ok\":\"no longer consuming from interop-extra-jcyme\"}", out.at("/cancel_consumer/jcyme").toString());
        assertTrue(out.at("/rate_limit_bad/jcyme/error").asText().startsWith("Invalid rate limit string: "), out.toString());
        assertTrue(out.at("/revoke/jcyme/ok").asText().matches("tasks \\S+ flagged as revoked"), out.toString());
        // the same shapes, where the contents differ by nature
        for (String command : List.of("active", "active_safe", "scheduled", "active_queues")) {
            assertEquals(shape(out.at("/" + command + "/python")), shape(out.at("/" + command + "/jcyme")),
                    command + ": " + out.get(command));
        }
        assertEquals(shape(first(out.at("/query_task/python"))), shape(first(out.at("/query_task/jcyme"))), out.get("query_task").toString());
        Set<String> statsKeys = keys(out.at("/stats/jcyme"));
        assertTrue(statsKeys.containsAll(keys(out.at("/stats/python"))), "stats keys " + statsKeys + " vs " + out.at("/stats/python"));
        assertEquals(keys(out.at("/stats/python/autoscaler")), keys(out.at("/stats/jcyme/autoscaler")));
        assertEquals(6, out.at("/stats_after_autoscale/jcyme/autoscaler/max").asInt());
        assertTrue(out.at("/clock/jcyme/clock").isIntegralNumber());
        assertTrue(out.at("/stats/jcyme/clock").isTextual(), "Celery's stats clock is a string");
        assertTrue(out.at("/registered_rate_limited/jcyme").toString().contains("\"tasks.add [rate_limit=10/m]\""), out.toString());
        assertTrue(out.at("/active_queues_after_add/jcyme").toString().contains("interop-extra-jcyme"), out.toString());
        assertTrue(out.at("/revoked/jcyme").toString().length() > 2, out.toString());
        assertTrue(out.at("/query_task/jcyme").toString().contains("\"active\""), out.toString());
        assertEquals(List.of(jnode, pnode).stream().sorted().toList(), list(out.get("mixed_ping")));
        assertEquals(List.of(jnode), list(out.get("glob_ping")));
    }

    @Test
    void aStartingPythonWorkerMinglesWithJcyme() throws Exception {
        String log = read(tmp.resolve("python-worker.log"));
        assertTrue(log.contains("mingle: sync with"), log);
        Reply revoked = celery("inspect", "revoked", "-d", pnode, "-j");
        assertEquals(0, revoked.status(), revoked.text());
        assertTrue(Json.MAPPER.readTree(revoked.text()).path(pnode).toString().contains(mingled),
                "the Python worker took jcyme's revoked ids: " + revoked.text());
    }

    @Test
    void celeryEventsStateSeesTheWorkerOnlineWithItsTasks() throws Exception {
        jcyme.control("enable_events");
        JsonNode out = python(Duration.ofSeconds(60), "events.py", jnode, jqueue, "9");
        assertTrue(out.path("alive").asBoolean(), out.toString());
        assertEquals(2.0, out.path("freq").asDouble());
        assertEquals("jcyme", out.path("sw_ident").asText());
        assertEquals(1, out.path("active").asInt(), "the long sleep is running: " + out);
        long started = 0;
        for (JsonNode count : jcyme.control("stats").path("total")) {
            started += count.asLong();
        }
        assertEquals(started, out.path("processed").asLong(), "processed = every task started: " + out);
        List<String> states = new ArrayList<>();
        for (JsonNode task : out.path("tasks")) {
            states.add(task.path("state").asText());
            assertEquals(jnode, task.path("worker").asText());
        }
        assertEquals(List.of("SUCCESS", "SUCCESS", "SUCCESS", "SUCCESS", "SUCCESS", "FAILURE", "STARTED"), states, out.toString());
        assertEquals("8", out.at("/tasks/4/result").asText());
        assertEquals("RuntimeException('x')", out.at("/tasks/5/exception").asText());
        assertFalse(out.path("lists").isEmpty(), "task events came buffered, as lists: " + out);
        out.path("lists").forEach(key -> assertEquals("task.multi", key.asText(), out.toString()));
        jcyme.control("revoke", Map.of("task_id", jcyme.control("active").get(0).path("id").asText(), "terminate", true));
        jcyme.control("disable_events");
    }

    @Test
    void celerysCommandLineDrivesJcyme() throws Exception {
        Reply ping = celery("inspect", "ping", "-d", jnode);
        assertEquals(0, ping.status(), ping.text());
        assertTrue(ping.text().contains(jnode + ": OK") && ping.text().contains("pong"), ping.text());
        Reply autoscale = celery("control", "autoscale", "5", "3", "-d", jnode);
        assertEquals(0, autoscale.status(), autoscale.text());
        assertTrue(autoscale.text().contains("autoscale now max=5 min=3"), autoscale.text());
        Reply stats = celery("inspect", "stats", "-d", jnode, "-j");
        assertEquals(0, stats.status(), stats.text());
        JsonNode autoscaler = Json.MAPPER.readTree(stats.text()).at("/" + jnode + "/autoscaler");
        assertEquals(5, autoscaler.path("max").asInt(), stats.text());
        assertEquals(3, autoscaler.path("min").asInt(), stats.text());
    }

    @Test
    void aPythonProducerWorksWithTheEmbeddedBrokerToo() throws Exception {
        String node = "je-" + suffix + "@" + host;
        String url = TestBroker.embedded().url();
        try (WorkerProcess embedded = new WorkerProcess(node, tmp.resolve("je"), url, "-Q", jqueue + "-e", "-c", "2")) {
            embedded.start();
            JsonNode out = pythonOn(url, Duration.ofSeconds(60), "roundtrip.py", jqueue + "-e", node);
            assertEquals(5, out.path("add").asInt(), out.toString());
            assertEquals(8, out.path("chain").asInt(), out.toString());
            assertEquals("[{\"" + node + "\":{\"ok\":\"pong\"}}]", out.path("ping").toString());
        }
    }

    @Test
    void celeryControlShutdownStopsAJcymeWorkerWarmWithoutAReply() throws Exception {
        String node = "js-" + suffix + "@" + host;
        try (WorkerProcess doomed = new WorkerProcess(node, tmp.resolve("js"), TestBroker.rabbitmq().url(), "-Q", jqueue + "-s", "-c", "1")) {
            doomed.start();
            Reply shutdown = celery("control", "shutdown", "-d", node);
            assertTrue(shutdown.text().contains("No nodes replied"), "as a Python worker, no reply: " + shutdown.text());
            assertEquals(0, doomed.waitForExit(Duration.ofSeconds(30)), read(doomed.log()));
            assertTrue(read(doomed.log()).contains("warm shutdown"), read(doomed.log()));
        }
    }

    @Test
    void aBranchShowsTheStatsCeleryInspectShows() throws Exception {
        String app = "interop-" + suffix;
        String name = "bi-" + suffix;
        try (BranchProcess branch = new BranchProcess(tmp.resolve("branch"), "--broker", TestBroker.rabbitmq().url(), "--no-cluster")) {
            branch.start();
            assertEquals(201, branch.call("PUT", "/" + app).status());
            assertEquals(201, branch.call("POST", "/" + app + "/instances/" + name + "?queues=" + app + "&max=3&min=1").status());
            branch.awaitState(app, name, "RUNNING");
            JsonNode fromBranch = branch.json("GET", "/" + app + "/instances/" + name + "/stats");
            Reply inspect = celery("inspect", "stats", "-d", name + "@" + host, "-j");
            assertEquals(0, inspect.status(), inspect.text());
            JsonNode fromCelery = Json.MAPPER.readTree(inspect.text()).get(name + "@" + host);
            assertEquals(keys(fromCelery), keys(fromBranch));
            for (String part : List.of("pool", "autoscaler", "broker")) {
                assertEquals(keys(fromCelery.get(part)), keys(fromBranch.get(part)), part);
            }
            assertEquals(fromCelery.path("pid"), fromBranch.path("pid"));
            branch.call("DELETE", "/" + app);
        }
    }

    // ---- helpers ------------------------------------------------------------------------------

    record Reply(int status, String text) {}

    private Reply celery(String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of(PYTHON.toString(), "-m", "celery", "-A", "interop"));
        command.addAll(List.of(args));
        return run(Duration.ofSeconds(60), TestBroker.rabbitmq().url(), command.toArray(String[]::new));
    }

    private JsonNode python(Duration timeout, String script, String... args) throws Exception {
        return pythonOn(TestBroker.rabbitmq().url(), timeout, script, args);
    }

    private JsonNode pythonOn(String broker, Duration timeout, String script, String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of(PYTHON.toString(), SCRIPTS.resolve(script).toString()));
        command.addAll(List.of(args));
        Reply reply = run(timeout, broker, command.toArray(String[]::new));
        assertEquals(0, reply.status(), script + " failed:\n" + reply.text() + "\njcyme log:\n" + tail(read(jcyme.log())));
        String[] lines = reply.text().strip().split("\n");
        return Json.MAPPER.readTree(lines[lines.length - 1]);
    }

    private static Reply run(Duration timeout, String broker, String... command) throws Exception {
        ProcessBuilder builder = new ProcessBuilder(command).directory(SCRIPTS.toFile()).redirectErrorStream(true);
        pythonEnvironment(builder, broker);
        Process process = builder.start();
        process.getOutputStream().close();
        StringBuilder output = new StringBuilder();
        Thread reader = new Thread(() -> {
            try {
                output.append(new String(process.getInputStream().readAllBytes()));
            } catch (IOException e) {
                output.append(e);
            }
        });
        reader.start();
        if (!process.waitFor(timeout.toSeconds(), TimeUnit.SECONDS)) {
            process.destroyForcibly();
            reader.join(5_000);
            throw new AssertionError(List.of(command) + " did not finish within " + timeout.toSeconds() + " s:\n" + output);
        }
        reader.join(5_000);
        return new Reply(process.exitValue(), output.toString());
    }

    private static void pythonEnvironment(ProcessBuilder builder, String broker) {
        builder.environment().put("JCYME_RABBITMQ_URL", broker);
        builder.environment().put("PYTHONPATH", APP.toString());
    }

    /** A value's structure: types, and the keys of objects (of the first element, for lists). */
    static String shape(JsonNode node) {
        if (node.isObject()) {
            StringBuilder out = new StringBuilder("{");
            for (String key : keys(node)) {
                out.append(key).append(':').append(shape(node.get(key))).append(',');
            }
            return out.append('}').toString();
        }
        if (node.isArray()) {
            return node.isEmpty() ? "[]" : "[" + shape(node.get(0)) + "]";
        }
        return node.isNull() ? "null" : node.isNumber() ? "number" : node.getNodeType().name().toLowerCase();
    }

    /** The first value of an object whose keys are ids. */
    static JsonNode first(JsonNode node) {
        Iterator<JsonNode> values = node.elements();
        return values.hasNext() ? values.next() : com.fasterxml.jackson.databind.node.MissingNode.getInstance();
    }

    static Set<String> keys(JsonNode node) {
        Set<String> keys = new TreeSet<>();
        node.fieldNames().forEachRemaining(keys::add);
        return keys;
    }

    static List<String> list(JsonNode array) {
        List<String> list = new ArrayList<>();
        array.forEach(item -> list.add(item.asText()));
        return list;
    }

    private static String hostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "localhost";
        }
    }

    private static String read(Path file) {
        try {
            return Files.exists(file) ? Files.readString(file) : "";
        } catch (IOException e) {
            return "";
        }
    }

    private static String tail(String text) {
        return text.length() > 4000 ? text.substring(text.length() - 4000) : text;
    }
}
