package jcyme.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import jcyme.api.QueueSpec;
import jcyme.client.BranchClient;
import jcyme.tasks.Json;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.parallel.ResourceLock;

/**
 * A real Prometheus server (Debian's, {@code scripts/prometheus.sh}) scraping a real branch that
 * runs with a token and a real instance on RabbitMQ, read back through Prometheus' query API.
 */
@ResourceLock(TestBroker.RABBITMQ)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MetricsPrometheusTest {
    private static final String TOKEN = "prom-" + UUID.randomUUID();
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private static final int UNCONSUMED = 7;

    final String app = "metrics-" + UUID.randomUUID().toString().substring(0, 8);
    final String work = app + "-work";
    final String idle = app + "-idle";
    Path tmp;
    BranchProcess branch;
    BranchClient client;
    Process prometheus;
    int prometheusPort;

    @BeforeAll
    void startBranchInstanceAndPrometheus() throws Exception {
        tmp = Files.createTempDirectory("jcyme-metrics-it");
        branch = new BranchProcess(tmp.resolve("instances"), "--broker", TestBroker.rabbitmq().url(), "--token", TOKEN).start();
        client = BranchClient.of(branch.url(), TOKEN, Duration.ofSeconds(60));
        client.createApp(app);
        client.declareQueue(app, QueueSpec.named(idle));
        client.createInstance(app, "w1", Map.of("queues", List.of(work), "min", 1, "max", 2));
        Wait.until(Duration.ofSeconds(60), "w1 to be RUNNING", () -> client.instance(app, "w1").state().equals("RUNNING"), branch::log);
        for (int i = 0; i < UNCONSUMED; i++) {
            client.sendTask(app, "tasks.add", List.of(i, 1), Map.of(), idle, null);
        }
        prometheus = startPrometheus();
    }

    @AfterAll
    void stopAll() throws Exception {
        if (prometheus != null) {
            prometheus.destroy();
            if (!prometheus.waitFor(20, TimeUnit.SECONDS)) {
                prometheus.destroyForcibly();
            }
        }
        if (branch != null) {
            branch.close();
        }
        BranchProcess.killAllWith("-Djcyme.instance=" + app + "/");
        try (com.rabbitmq.client.Connection connection = jcyme.tasks.BrokerUrl.parse(TestBroker.rabbitmq().url())
                .connectionFactory(1000).newConnection()) {
            for (String queue : List.of(idle, work)) {
                com.rabbitmq.client.Channel channel = connection.createChannel();
                channel.queueDelete(queue);
                channel.close();
            }
        }
        try (java.util.stream.Stream<Path> files = Files.walk(tmp)) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        }
    }

    @Test
    void prometheusReadsQueueDepthInstanceStateAndTheBrokerThroughTheToken() throws Exception {
        awaitValue("up{job=\"jcyme\"}", 1);
        assertEquals(UNCONSUMED, TestBroker.rabbitmq().messageCount(idle), "the broker holds them");
        awaitValue("jcyme_queue_messages{app=\"" + app + "\",queue=\"" + idle + "\"}", UNCONSUMED);
        awaitValue("jcyme_queue_consumers{app=\"" + app + "\",queue=\"" + idle + "\"}", 0);
        awaitValue("jcyme_queue_consumers{app=\"" + app + "\",queue=\"" + work + "\"}", 1);
        awaitValue("jcyme_instance_state{app=\"" + app + "\",name=\"w1\",state=\"RUNNING\"}", 1);
        awaitValue("sum(jcyme_instance_state{app=\"" + app + "\",name=\"w1\"})", 1);
        awaitValue("jcyme_broker_up", 1);
        awaitValue("jcyme_instance_pool_max_threads{app=\"" + app + "\",name=\"w1\"}", 2);
        awaitValue("jcyme_cluster_branches", 1);
        JsonNode depth = Json.parse(branchGet("/" + app + "/queues/" + idle + "/depth").getBytes());
        assertEquals(Json.parse(("{\"queue\": \"" + idle + "\", \"messages\": " + UNCONSUMED + ", \"consumers\": 0}").getBytes()), depth);
        double rss = query("jcyme_instance_resident_memory_bytes{app=\"" + app + "\",name=\"w1\"}");
        assertTrue(rss > 10e6 && rss < 1e9, "a worker JVM's resident memory: " + rss);
    }

    /** Flower's series from the Celery events the branch follows and streams into its event log (task.* and worker.*). */
    @Test
    void prometheusCountsSucceededAndFailedTasksFromTheEvents() {
        Wait.until(Duration.ofSeconds(20), "a worker heartbeat in the branch's Flower series",
                () -> branchMetrics().contains("flower_worker_online{worker=\"w1@"));
        int succeeded = 3;
        int failed = 2;
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < succeeded; i++) {
            ids.add(client.sendTask(app, "tasks.add", List.of(i, 2), Map.of(), work, null));
        }
        for (int i = 0; i < failed; i++) {
            ids.add(client.sendTask(app, "tasks.fail", List.of("boom " + i), Map.of(), work, null));
        }
        for (String id : ids) {
            client.waitTask(app, id, 30);
        }
        awaitValue("sum(flower_events_total{worker=~\"w1@.*\",type=\"task-succeeded\",task=\"tasks.add\"})", succeeded);
        awaitValue("sum(flower_events_total{worker=~\"w1@.*\",type=\"task-failed\",task=\"tasks.fail\"})", failed);
        awaitValue("sum(flower_task_runtime_seconds_count{worker=~\"w1@.*\",task=\"tasks.add\"})", succeeded);
        awaitValue("flower_worker_online{worker=~\"w1@.*\"}", 1);
    }

    private Process startPrometheus() throws IOException {
        prometheusPort = BranchProcess.freePort();
        Path config = tmp.resolve("prometheus.yml");
        Files.writeString(config, """
                global:
                  scrape_interval: 2s
                scrape_configs:
                  - job_name: jcyme
                    scrape_interval: 2s
                    scrape_timeout: 2s
                    authorization:
                      credentials: "%s"
                    static_configs:
                      - targets: ["127.0.0.1:%d"]
                """.formatted(TOKEN, branch.port));
        Path log = tmp.resolve("prometheus.log");
        Process process;
        try {
            process = new ProcessBuilder("prometheus", "--config.file=" + config, "--storage.tsdb.path=" + tmp.resolve("tsdb"),
                    "--web.listen-address=127.0.0.1:" + prometheusPort, "--log.level=warn")
                    .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        } catch (IOException e) {
            throw new AssertionError("no prometheus binary: bin/test installs it (scripts/prometheus.sh ensure)", e);
        }
        Wait.until(Duration.ofSeconds(60), "prometheus to be ready", () -> !process.isAlive() || status("/-/ready") == 200,
                () -> read(log));
        assertTrue(process.isAlive(), "prometheus exited: " + read(log));
        return process;
    }

    /** The single value of an instant query, or NaN while it has none. */
    private double query(String promql) {
        JsonNode reply = Json.parse(get("/api/v1/query?query=" + URLEncoder.encode(promql, StandardCharsets.UTF_8)).getBytes());
        JsonNode result = reply.at("/data/result");
        if (!reply.path("status").asText().equals("success") || result.size() != 1) {
            return Double.NaN;
        }
        return Double.parseDouble(result.get(0).path("value").get(1).asText());
    }

    private void awaitValue(String promql, double expected) {
        double[] last = {Double.NaN};
        Wait.until(Duration.ofSeconds(60), promql + " == " + expected, () -> (last[0] = query(promql)) == expected,
                () -> "last: " + last[0] + "; targets: " + get("/api/v1/targets") + "\nbranch /metrics:\n" + branchMetrics());
        assertEquals(expected, last[0], promql);
    }

    /** The branch's own /metrics text, as Prometheus fetches it. */
    private String branchMetrics() {
        return branchGet("/metrics");
    }

    private String branchGet(String path) {
        try {
            HttpRequest request = HttpRequest.newBuilder(URI.create(branch.url() + path))
                    .header("Authorization", "Bearer " + TOKEN).timeout(Duration.ofSeconds(10)).build();
            return HTTP.send(request, HttpResponse.BodyHandlers.ofString()).body();
        } catch (IOException e) {
            return e.toString();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "interrupted";
        }
    }

    private String get(String path) {
        try {
            HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + prometheusPort + path))
                    .timeout(Duration.ofSeconds(10)).build();
            return HTTP.send(request, HttpResponse.BodyHandlers.ofString()).body();
        } catch (IOException e) {
            return "{}";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "{}";
        }
    }

    private int status(String path) {
        try {
            HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + prometheusPort + path))
                    .timeout(Duration.ofSeconds(5)).build();
            return HTTP.send(request, HttpResponse.BodyHandlers.discarding()).statusCode();
        } catch (IOException e) {
            return 0;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 0;
        }
    }

    private static String read(Path file) {
        try {
            return Files.exists(file) ? Files.readString(file) : "";
        } catch (IOException e) {
            return "";
        }
    }
}
