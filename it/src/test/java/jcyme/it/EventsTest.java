package jcyme.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Predicate;
import java.util.stream.Stream;
import jcyme.tasks.Json;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.ResourceLock;

/** The branch event log against a real branch, real workers and RabbitMQ: kept across restarts, streamed live, followed by cyme. */
@ResourceLock(TestBroker.RABBITMQ)
class EventsTest {
    private static final String TOKEN = "events-test-token";

    @TempDir
    Path tmp;

    final String app = "app-" + UUID.randomUUID().toString().substring(0, 8);
    final List<BranchProcess> branches = new ArrayList<>();
    final List<Process> clients = new ArrayList<>();

    BranchProcess branch(String... options) throws Exception {
        List<String> all = new ArrayList<>(List.of("--broker", TestBroker.rabbitmq().url()));
        all.addAll(List.of(options));
        BranchProcess branch = new BranchProcess(tmp.resolve("instances"), all.toArray(String[]::new));
        branches.add(branch);
        return branch.start();
    }

    @AfterEach
    void cleanUp() throws Exception {
        clients.forEach(Process::destroyForcibly);
        for (BranchProcess branch : branches) {
            branch.close();
        }
        BranchProcess.killAllWith("-Djcyme.instance=" + app + "/");
    }

    /** Kept events after {@code since}, as GET /events gives them. */
    private static List<JsonNode> events(BranchProcess branch, long since) {
        List<JsonNode> events = new ArrayList<>();
        branch.json("GET", "/events?since=" + since + "&limit=10000").path("events").forEach(events::add);
        return events;
    }

    /** The first kept event after {@code since} that matches, waiting for it. */
    private static JsonNode awaitEvent(BranchProcess branch, long since, String what, Predicate<JsonNode> matches) {
        JsonNode[] found = new JsonNode[1];
        Wait.until(Duration.ofSeconds(60), what, () -> {
            found[0] = events(branch, since).stream().filter(matches).findFirst().orElse(null);
            return found[0] != null;
        }, () -> "\nevents: " + events(branch, 0) + "\n" + branch.log());
        return found[0];
    }

    private Predicate<JsonNode> kind(String kind, String instance) {
        return e -> e.path("kind").asText().equals(kind) && e.path("app").asText().equals(app)
                && (instance == null || e.path("instance").asText().equals(instance));
    }

    @Test
    void lifecycleFactsAreKeptAcrossARestartWithSeqContinuing() throws Exception {
        BranchProcess branch = branch();
        branch.json("PUT", "/" + app);
        branch.json("POST", "/" + app + "/instances/w1");
        long pid = branch.awaitState(app, "w1", "RUNNING").path("pid").asLong();
        awaitEvent(branch, 0, "instance.created", kind("instance.created", "w1"));

        ProcessHandle.of(pid).orElseThrow().destroyForcibly();
        JsonNode exit = awaitEvent(branch, 0, "the exit of the killed worker", kind("instance.exit", "w1"));
        assertEquals(pid, exit.path("pid").asLong());
        assertEquals("SIGKILL", exit.path("signal").asText(), exit.toString());
        assertEquals(137, exit.path("exit_code").asInt(), exit.toString());
        JsonNode restart = awaitEvent(branch, exit.path("seq").asLong(), "its restart", kind("instance.restart", "w1"));
        assertTrue(restart.path("restarts").asInt() >= 1, restart.toString());
        assertTrue(restart.path("seq").asLong() > exit.path("seq").asLong());
        branch.awaitState(app, "w1", "RUNNING");

        long before = branch.json("GET", "/events?since=0&limit=1").path("next").asLong();
        branch.json("PUT", "/" + app + "/instances/w1/autoscale?min=2&max=7");
        branch.json("PUT", "/" + app + "/instances/w1/queues/" + app + "-images");
        assertEquals(200, branch.call("PUT", "/" + app, "{\"max_concurrency\": 8}").status());
        JsonNode autoscale = awaitEvent(branch, before, "instance.autoscale", kind("instance.autoscale", "w1"));
        assertEquals(2, autoscale.path("min").asInt());
        assertEquals(7, autoscale.path("max").asInt());
        assertEquals(app + "-images", awaitEvent(branch, before, "instance.bind", kind("instance.bind", "w1")).path("queue").asText());
        assertEquals("RUNNING", awaitEvent(branch, 0, "a transition to RUNNING", kind("instance.state", "w1")
                .and(e -> e.path("to").asText().equals("RUNNING"))).path("to").asText());
        JsonNode updated = awaitEvent(branch, before, "app.updated", e -> e.path("kind").asText().equals("app.updated"));
        assertEquals(app, updated.path("app").asText());

        List<JsonNode> kept = events(branch, 0);
        long last = kept.get(kept.size() - 1).path("seq").asLong();
        branch.close();
        branch.start();
        List<JsonNode> after = events(branch, 0);
        assertTrue(after.size() >= kept.size(), "nothing lost: " + after.size() + " < " + kept.size());
        assertEquals(kept, after.subList(0, kept.size()), "the same events, unchanged, after the restart");
        JsonNode adopted = awaitEvent(branch, last, "the adoption after the restart", kind("instance.state", "w1"));
        assertEquals(last + 1, adopted.path("seq").asLong(), "seq continues where it stopped: " + adopted);
        assertTrue(adopted.path("why").asText().contains("adopted"), adopted.toString());
    }

    @Test
    void theStreamDeliversLiveEventsToAClientAndToCymeFollow() throws Exception {
        BranchProcess branch = branch("--token", TOKEN);
        HttpClient http = HttpClient.newHttpClient();
        HttpResponse<String> refused = http.send(HttpRequest.newBuilder(URI.create(branch.url() + "/events/stream")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(401, refused.statusCode());
        assertTrue(refused.body().contains("\"error\""), refused.body());

        List<String> lines = new CopyOnWriteArrayList<>();
        HttpResponse<Stream<String>> stream = http.send(HttpRequest.newBuilder(URI.create(branch.url() + "/events/stream"))
                .header("Authorization", "Bearer " + TOKEN).build(), HttpResponse.BodyHandlers.ofLines());
        assertEquals(200, stream.statusCode());
        assertTrue(stream.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream"));
        Thread reader = new Thread(() -> stream.body().forEach(lines::add), "sse-reader");
        reader.setDaemon(true);
        reader.start();
        Wait.until(Duration.ofSeconds(10), "the stream's first line", () -> !lines.isEmpty());

        List<String> cyme = new CopyOnWriteArrayList<>();
        Process follow = cyme("events", "--follow", "-u", branch.url(), "--token", TOKEN);
        Thread printer = new Thread(() -> {
            try (BufferedReader out = new BufferedReader(new InputStreamReader(follow.getInputStream(), StandardCharsets.UTF_8))) {
                out.lines().forEach(cyme::add);
            } catch (IOException e) {
                // the process was stopped
            }
        }, "cyme-follow");
        printer.setDaemon(true);
        printer.start();

        HttpResponse<String> put = http.send(HttpRequest.newBuilder(URI.create(branch.url() + "/" + app))
                .header("Authorization", "Bearer " + TOKEN).PUT(HttpRequest.BodyPublishers.noBody()).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(201, put.statusCode(), put.body());

        Wait.until(Duration.ofSeconds(15), "app.created on the stream", () -> lines.contains("event: app.created"), lines::toString);
        int at = lines.indexOf("event: app.created");
        assertTrue(lines.get(at - 1).matches("id: \\d+"), lines.toString());
        JsonNode data = Json.MAPPER.readTree(lines.get(at + 1).substring("data: ".length()));
        assertEquals(app, data.path("app").asText());
        assertEquals("app.created", data.path("kind").asText());
        assertEquals(Long.parseLong(lines.get(at - 1).substring(4)), data.path("seq").asLong());
        assertTrue(data.path("time").asText().matches("\\d{4}-\\d\\d-\\d\\dT.*Z"), data.toString());

        Wait.until(Duration.ofSeconds(30), "cyme events --follow to print it",
                () -> cyme.stream().anyMatch(l -> l.contains("app.created") && l.contains(app)), cyme::toString);

        Wait.until(Duration.ofSeconds(20), "a ping (sent every 15 s, busy or quiet)", () -> lines.contains(": ping"), lines::toString);
        HttpResponse<String> delete = http.send(HttpRequest.newBuilder(URI.create(branch.url() + "/" + app))
                .header("Authorization", "Bearer " + TOKEN).DELETE().build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, delete.statusCode(), delete.body());
        Wait.until(Duration.ofSeconds(15), "app.deleted after the quiet spell", () -> lines.contains("event: app.deleted"),
                lines::toString);
        Wait.until(Duration.ofSeconds(15), "cyme to print it too", () -> cyme.stream().anyMatch(l -> l.contains("app.deleted")),
                cyme::toString);
        assertTrue(follow.isAlive(), "--follow keeps following");
    }

    @Test
    void branchesJoiningAndLeavingAndReplicatedAppsAreEvents() throws Exception {
        String cluster = "it-" + UUID.randomUUID().toString().substring(0, 8);
        int portA = ClusterTest.clusterPort();
        int portB = ClusterTest.clusterPort();
        String peers = "127.0.0.1:" + portA + ",127.0.0.1:" + portB;
        List<BranchProcess> ab = new ArrayList<>();
        for (String id : List.of("a", "b")) {
            BranchProcess branch = new BranchProcess(tmp.resolve(id), "--id", id, "--broker", TestBroker.rabbitmq().url(),
                    "--cluster", cluster, "--cluster-bind", "127.0.0.1:" + (id.equals("a") ? portA : portB), "--peers", peers,
                    "--cluster-secret", "s3cret");
            branches.add(branch);
            ab.add(branch);
        }
        BranchProcess a = ab.get(0).start();
        BranchProcess b = ab.get(1).start();
        JsonNode joined = awaitEvent(a, 0, "b to join", e -> e.path("kind").asText().equals("branch.joined")
                && e.path("id").asText().equals("b"));
        assertEquals("a", joined.path("branch").asText(), "an event names the branch that kept it");
        awaitEvent(b, 0, "a in b's view", e -> e.path("kind").asText().equals("branch.joined") && e.path("id").asText().equals("a"));

        a.json("PUT", "/" + app);
        JsonNode created = awaitEvent(b, 0, "the replicated app", kind("app.created", null));
        assertEquals("a", created.path("origin").asText(), created.toString());
        assertEquals("b", created.path("branch").asText());
        assertEquals("a", awaitEvent(a, 0, "the app created on a", kind("app.created", null)).path("origin").asText());

        b.close();
        awaitEvent(a, joined.path("seq").asLong(), "b to leave", e -> e.path("kind").asText().equals("branch.left")
                && e.path("id").asText().equals("b"));
    }

    private Process cyme(String... args) throws IOException {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", BranchProcess.lib() + "/*", "jcyme.cli.CymeMain"));
        command.addAll(List.of(args));
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        clients.add(process);
        return process;
    }
}
