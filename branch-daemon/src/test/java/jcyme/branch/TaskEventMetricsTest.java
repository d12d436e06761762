package jcyme.branch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import jcyme.tasks.Json;
import org.junit.jupiter.api.Test;

/**
 * Flower's six series from Celery events as a worker sends them (the shapes captured from a live
 * Celery 5.2.6 worker, research/celery-protocol.md §4.3), streamed through the branch's event log
 * the way the event follower streams them, and read back in Prometheus' text format.
 */
class TaskEventMetricsTest {
    private final EventLog log = freshLog();
    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final AtomicLong clock = new AtomicLong();
    private final Set<String> owned = new HashSet<>(Set.of("pycon/w1", "pycon/w2"));
    private final TaskEventMetrics metrics = new TaskEventMetrics(log, registry,
            (app, instance) -> owned.contains(app + "/" + instance), clock::get);

    /** A Celery event as the follower streams it: kind task.x / worker.x, the event's fields plus app and instance. */
    private void celery(String instance, String json) throws IOException {
        Map<String, Object> fields = new LinkedHashMap<>(Json.MAPPER.readValue(json, Map.class));
        fields.values().removeIf(java.util.Objects::isNull); // a branch event holds no nulls
        fields.put("app", "pycon");
        fields.put("instance", instance);
        String type = (String) fields.get("type");
        log.stream(type.replaceFirst("-", "."), fields);
        delivered();
    }

    private void delivered() {
        try {
            assertTrue(log.awaitDelivered(java.time.Duration.ofSeconds(5)), "the metrics were handed the event");
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
    }

    private static String heartbeat(String host, int active, double freq) {
        return "{\"hostname\": \"" + host + "\", \"utcoffset\": 0, \"pid\": 23389, \"clock\": 3, \"freq\": " + freq + ","
                + " \"active\": " + active + ", \"processed\": 0, \"loadavg\": [7.95, 3.62, 1.68], \"sw_ident\": \"py-celery\","
                + " \"sw_ver\": \"5.2.6\", \"sw_sys\": \"Linux\", \"timestamp\": 1795385342.598, \"type\": \"worker-heartbeat\"}";
    }

    private static String received(String host, String uuid, String name, String args, double timestamp) {
        return "{\"hostname\": \"" + host + "\", \"utcoffset\": 0, \"pid\": 23389, \"clock\": 5, \"uuid\": \"" + uuid + "\","
                + " \"name\": \"" + name + "\", \"args\": \"" + args + "\", \"kwargs\": \"{}\", \"root_id\": \"" + uuid + "\","
                + " \"parent_id\": null, \"retries\": 0, \"eta\": null, \"expires\": null, \"timestamp\": " + timestamp + ","
                + " \"type\": \"task-received\"}";
    }

    private static String started(String host, String uuid, double timestamp) {
        return "{\"hostname\": \"" + host + "\", \"utcoffset\": 0, \"pid\": 23389, \"clock\": 6, \"uuid\": \"" + uuid + "\","
                + " \"timestamp\": " + timestamp + ", \"type\": \"task-started\"}";
    }

    private static String succeeded(String host, String uuid, String result, double runtime, double timestamp) {
        return "{\"hostname\": \"" + host + "\", \"utcoffset\": 0, \"pid\": 23389, \"clock\": 7, \"uuid\": \"" + uuid + "\","
                + " \"result\": \"" + result + "\", \"runtime\": " + runtime + ", \"timestamp\": " + timestamp + ","
                + " \"type\": \"task-succeeded\"}";
    }

    private static String failed(String host, String uuid, double timestamp) {
        return "{\"hostname\": \"" + host + "\", \"utcoffset\": 0, \"pid\": 23389, \"clock\": 8, \"uuid\": \"" + uuid + "\","
                + " \"exception\": \"RuntimeException('boom')\", \"traceback\": \"java.lang.RuntimeException: boom\\n\","
                + " \"timestamp\": " + timestamp + ", \"type\": \"task-failed\"}";
    }

    private static String online(String host, String type) {
        return "{\"hostname\": \"" + host + "\", \"utcoffset\": 0, \"pid\": 23389, \"clock\": 1, \"freq\": 2.0, \"active\": 0,"
                + " \"processed\": 0, \"loadavg\": [0.1, 0.2, 0.3], \"sw_ident\": \"py-celery\", \"sw_ver\": \"5.2.6\","
                + " \"sw_sys\": \"Linux\", \"timestamp\": 1795385340.0, \"type\": \"" + type + "\"}";
    }

    /** Every sample of the text exposition, keyed by name and its labels in name order. */
    private Map<String, Double> scrape() throws IOException {
        metrics.prune();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrometheusTextFormatWriter.create().write(out, registry.scrape());
        Map<String, Double> samples = new LinkedHashMap<>();
        Pattern line = Pattern.compile("^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\\{(.*)\\})? (\\S+)$");
        Pattern label = Pattern.compile("([a-zA-Z_]+)=\"((?:[^\"\\\\]|\\\\.)*)\"");
        for (String text : out.toString(StandardCharsets.UTF_8).split("\n")) {
            Matcher sample = line.matcher(text);
            if (text.startsWith("#") || !sample.matches()) {
                continue;
            }
            Map<String, String> labels = new TreeMap<>();
            Matcher pair = label.matcher(sample.group(2) == null ? "" : sample.group(2));
            while (pair.find()) {
                labels.put(pair.group(1), pair.group(2));
            }
            samples.put(sample.group(1) + labels, Double.parseDouble(sample.group(3)));
        }
        return samples;
    }

    private static String key(String name, String... labels) {
        Map<String, String> sorted = new TreeMap<>();
        for (int i = 0; i < labels.length; i += 2) {
            sorted.put(labels[i], labels[i + 1]);
        }
        return name + sorted;
    }

    @Test
    void flowersSeriesFollowTheEventsOfSucceededAndFailedTasks() throws IOException {
        String w1 = "w1@vm";
        celery("w1", online(w1, "worker-online"));
        celery("w1", heartbeat(w1, 1, 2.0));
        for (int i = 0; i < 3; i++) {
            double t = 1795385343 + i;
            celery("w1", received(w1, "add-" + i, "tasks.add", "[2, 3]", t));
            celery("w1", started(w1, "add-" + i, t + 0.25));
            celery("w1", succeeded(w1, "add-" + i, "5", 0.02, t + 0.27));
        }
        for (int i = 0; i < 2; i++) {
            double t = 1795385350 + i;
            celery("w1", received(w1, "fail-" + i, "tasks.fail", "['boom']", t));
            celery("w1", started(w1, "fail-" + i, t + 0.5));
            celery("w1", failed(w1, "fail-" + i, t + 0.6));
        }
        celery("w1", received(w1, "waiting", "tasks.add", "[1, 1]", 1795385360.0));

        Map<String, Double> s = scrape();
        assertEquals(3, s.get(key("flower_events_total", "worker", w1, "type", "task-succeeded", "task", "tasks.add")), s.toString());
        assertEquals(2, s.get(key("flower_events_total", "worker", w1, "type", "task-failed", "task", "tasks.fail")), s.toString());
        // task-started and task-succeeded carry no name: it comes from the task's task-received
        assertEquals(3, s.get(key("flower_events_total", "worker", w1, "type", "task-started", "task", "tasks.add")), s.toString());
        assertEquals(4, s.get(key("flower_events_total", "worker", w1, "type", "task-received", "task", "tasks.add")), s.toString());
        assertFalse(s.keySet().stream().anyMatch(k -> k.startsWith("flower_events_total") && k.contains("type=worker-")),
                "worker events are not counted in flower_events_total, as in Flower: " + s);

        assertEquals(3, s.get(key("flower_task_runtime_seconds_count", "worker", w1, "task", "tasks.add")), s.toString());
        assertEquals(0.06, s.get(key("flower_task_runtime_seconds_sum", "worker", w1, "task", "tasks.add")), 1e-9);
        assertEquals(0, s.get(key("flower_task_runtime_seconds_bucket", "worker", w1, "task", "tasks.add", "le", "0.01")));
        assertEquals(3, s.get(key("flower_task_runtime_seconds_bucket", "worker", w1, "task", "tasks.add", "le", "0.025")));
        assertEquals(3, s.get(key("flower_task_runtime_seconds_bucket", "worker", w1, "task", "tasks.add", "le", "+Inf")));
        assertFalse(s.containsKey(key("flower_task_runtime_seconds_count", "worker", w1, "task", "tasks.fail")),
                "a failed event has no runtime");

        // the waiting add was received and not started; every other was started
        assertEquals(1, s.get(key("flower_worker_prefetched_tasks", "worker", w1, "task", "tasks.add")));
        assertEquals(0, s.get(key("flower_worker_prefetched_tasks", "worker", w1, "task", "tasks.fail")));
        // set to started - received on start, back to 0 once the task ends
        assertEquals(0, s.get(key("flower_task_prefetch_time_seconds", "worker", w1, "task", "tasks.add")));
        celery("w1", started(w1, "waiting", 1795385361.5));
        s = scrape();
        assertEquals(1.5, s.get(key("flower_task_prefetch_time_seconds", "worker", w1, "task", "tasks.add")), 1e-6);
        assertEquals(0, s.get(key("flower_worker_prefetched_tasks", "worker", w1, "task", "tasks.add")));

        assertEquals(1, s.get(key("flower_worker_online", "worker", w1)));
        assertEquals(1, s.get(key("flower_worker_number_of_currently_executing_tasks", "worker", w1)));
        celery("w1", heartbeat(w1, 4, 2.0));
        assertEquals(4, scrape().get(key("flower_worker_number_of_currently_executing_tasks", "worker", w1)));
        celery("w1", online(w1, "worker-offline"));
        assertEquals(0, scrape().get(key("flower_worker_online", "worker", w1)));
    }

    @Test
    void aDeletedInstancesWorkerLeavesEverySeries() throws IOException {
        celery("w1", heartbeat("w1@vm", 1, 2.0));
        celery("w1", received("w1@vm", "t1", "tasks.add", "[1, 2]", 1795385343.0));
        celery("w1", succeeded("w1@vm", "t1", "3", 0.01, 1795385343.5));
        celery("w2", heartbeat("w2@vm", 0, 2.0));
        celery("w2", received("w2@vm", "t2", "tasks.add", "[1, 2]", 1795385343.0));
        assertTrue(scrape().keySet().stream().anyMatch(k -> k.contains("worker=w1@vm")));

        log.record("instance.deleted", Map.of("app", "pycon", "instance", "w1"));
        delivered();

        Map<String, Double> s = scrape();
        assertTrue(s.keySet().stream().noneMatch(k -> k.contains("worker=w1@vm")), s.toString());
        assertEquals(1, s.get(key("flower_worker_online", "worker", "w2@vm")));
        assertEquals(1, s.get(key("flower_events_total", "worker", "w2@vm", "type", "task-received", "task", "tasks.add")));
    }

    @Test
    void aWorkerSilentForTwiceItsFrequencyOrNotOwnedHereDropsOut() throws IOException {
        celery("w1", heartbeat("w1@vm", 0, 2.0));
        celery("w2", heartbeat("w2@vm", 0, 5.0));
        clock.addAndGet(3_900_000_000L);
        assertEquals(Set.of("w1@vm", "w2@vm"), onlineWorkers(scrape()));
        clock.addAndGet(200_000_000L); // 4.1 s: w1 (every 2 s) missed two beats, w2 (every 5 s) did not
        assertEquals(Set.of("w2@vm"), onlineWorkers(scrape()));

        celery("w1", heartbeat("w1@vm", 0, 2.0)); // back: listed again
        assertEquals(Set.of("w1@vm", "w2@vm"), onlineWorkers(scrape()));

        owned.remove("pycon/w2"); // its record is gone (or it belongs to another branch)
        assertEquals(Set.of("w1@vm"), onlineWorkers(scrape()));
    }

    private static Set<String> onlineWorkers(Map<String, Double> samples) {
        Set<String> workers = new HashSet<>();
        Pattern worker = Pattern.compile("^flower_worker_online\\{worker=(.*)\\}$");
        samples.keySet().forEach(k -> {
            Matcher m = worker.matcher(k);
            if (m.matches()) {
                workers.add(m.group(1));
            }
        });
        return workers;
    }

    /** A log of its own on a real SQLite file in a fresh directory. */
    private static EventLog freshLog() {
        try {
            return EventLog.open(java.nio.file.Files.createTempDirectory("jcyme-events").resolve("events.db"), "b1",
                    EventLog.Bounds.fromProperties());
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
