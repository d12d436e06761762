package jcyme.branch;

import com.fasterxml.jackson.databind.JsonNode;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.core.metrics.StatefulMetric;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiPredicate;
import java.util.function.LongSupplier;

/**
 * Flower's six Prometheus series — the same names, labels and meaning — kept from the Celery
 * events the branch streams ({@code task.*} and {@code worker.*}, see {@link EventLog}). A worker
 * is labelled by its Celery hostname. It drops out of every series once its instance is deleted
 * or not this branch's, or when nothing was heard from it for twice its heartbeat frequency.
 */
final class TaskEventMetrics implements AutoCloseable {
    /** Flower's runtime buckets (prometheus_client's defaults), in seconds. */
    static final double[] RUNTIME_BUCKETS = {0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10};
    /** Tasks remembered between their events (for their name and prefetch time); the oldest go first. */
    static final int MAX_TASKS = 10_000;
    private static final double DEFAULT_FREQ = 2.0;

    private final Counter events;
    private final Histogram runtime;
    private final Gauge prefetchTime;
    private final Gauge prefetched;
    private final Gauge online;
    private final Gauge executing;
    private final List<StatefulMetric<?, ?>> all;
    private final BiPredicate<String, String> owned;
    private final LongSupplier nanoTime;
    private final Map<String, Worker> workers = new HashMap<>();
    private final Map<String, TaskSeen> tasks = new LinkedHashMap<>(256, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, TaskSeen> eldest) {
            return size() > MAX_TASKS;
        }
    };
    private final AutoCloseable subscription;

    /** Where a worker runs and when it was last heard from. */
    private record Worker(String app, String instance, long heardAt, double freq) {}

    /** What the events of one task told so far: timestamps are the worker's, in seconds. */
    private static final class TaskSeen {
        String name = "";
        Double received;
        Double started;
        boolean eta;
    }

    /**
     * @param owned     whether an (app, instance) is this branch's: only those are served
     * @param nanoTime  the clock heartbeats are timed by ({@link System#nanoTime} but in tests)
     */
    TaskEventMetrics(EventLog log, PrometheusRegistry registry, BiPredicate<String, String> owned, LongSupplier nanoTime) {
        this.owned = owned;
        this.nanoTime = nanoTime;
        events = Counter.builder().name("flower_events_total").help("Number of events")
                .labelNames("worker", "type", "task").register(registry);
        runtime = Histogram.builder().name("flower_task_runtime_seconds").help("Task runtime")
                .labelNames("worker", "task").classicOnly().classicUpperBounds(RUNTIME_BUCKETS).register(registry);
        prefetchTime = Gauge.builder().name("flower_task_prefetch_time_seconds")
                .help("The time the task spent waiting at the worker to be processed.")
                .labelNames("worker", "task").register(registry);
        prefetched = Gauge.builder().name("flower_worker_prefetched_tasks")
                .help("Number of tasks of given type prefetched at a worker").labelNames("worker", "task").register(registry);
        online = Gauge.builder().name("flower_worker_online").help("Worker online status").labelNames("worker").register(registry);
        executing = Gauge.builder().name("flower_worker_number_of_currently_executing_tasks")
                .help("Number of tasks currently executing at a worker").labelNames("worker").register(registry);
        all = List.of(events, runtime, prefetchTime, prefetched, online, executing);
        subscription = log.subscribe(this::on);
    }

    synchronized void on(BranchEvent event) {
        String kind = event.kind();
        Map<String, Object> fields = event.fields();
        if (kind.equals("instance.deleted")) {
            forgetInstance(text(fields, "app"), text(fields, "instance"));
            return;
        }
        boolean task = kind.startsWith("task.");
        if (!task && !kind.startsWith("worker.")) {
            return;
        }
        String worker = text(fields, "hostname");
        if (worker == null) {
            return;
        }
        Worker known = workers.get(worker);
        Double freq = number(fields, "freq");
        workers.put(worker, new Worker(text(fields, "app"), text(fields, "instance"), nanoTime.getAsLong(),
                freq != null && freq > 0 ? freq : known != null ? known.freq() : DEFAULT_FREQ));
        String type = kind.replaceFirst("\\.", "-"); // Celery's own name: task.succeeded is task-succeeded
        if (task) {
            onTask(worker, type, fields);
        } else {
            onWorker(worker, type, fields);
        }
    }

    private void onTask(String worker, String type, Map<String, Object> fields) {
        String uuid = text(fields, "uuid");
        TaskSeen seen = uuid == null ? new TaskSeen() : tasks.computeIfAbsent(uuid, id -> new TaskSeen());
        String name = text(fields, "name");
        if (name != null && !name.isEmpty()) {
            seen.name = name;
        }
        events.labelValues(worker, type, seen.name).inc();
        Double runtimeSeconds = number(fields, "runtime");
        if (runtimeSeconds != null && runtimeSeconds > 0) {
            runtime.labelValues(worker, seen.name).observe(runtimeSeconds);
        }
        Double timestamp = number(fields, "timestamp");
        switch (type) {
            case "task-received" -> {
                seen.received = timestamp;
                seen.eta = text(fields, "eta") != null;
                if (!seen.eta && seen.received != null) {
                    prefetched.labelValues(worker, seen.name).inc();
                }
            }
            case "task-started" -> {
                seen.started = timestamp;
                if (!seen.eta && seen.started != null && seen.received != null) {
                    prefetchTime.labelValues(worker, seen.name).set(seen.started - seen.received);
                    prefetched.labelValues(worker, seen.name).dec();
                }
            }
            case "task-succeeded", "task-failed" -> {
                if (!seen.eta && seen.started != null && seen.received != null) {
                    prefetchTime.labelValues(worker, seen.name).set(0);
                }
                tasks.remove(uuid);
            }
            case "task-revoked", "task-rejected" -> {
                // a task dropped before it started no longer waits at the worker
                if (!seen.eta && seen.received != null && seen.started == null) {
                    prefetched.labelValues(worker, seen.name).dec();
                }
                tasks.remove(uuid);
            }
            default -> { }
        }
    }

    private void onWorker(String worker, String type, Map<String, Object> fields) {
        switch (type) {
            case "worker-online" -> online.labelValues(worker).set(1);
            case "worker-heartbeat" -> {
                online.labelValues(worker).set(1);
                Double active = number(fields, "active");
                if (active != null) {
                    executing.labelValues(worker).set(active);
                }
            }
            case "worker-offline" -> online.labelValues(worker).set(0);
            default -> { }
        }
    }

    /** Drops the workers that are gone: not heard from for twice their frequency, or not this branch's. */
    synchronized void prune() {
        long now = nanoTime.getAsLong();
        for (Map.Entry<String, Worker> entry : List.copyOf(workers.entrySet())) {
            Worker worker = entry.getValue();
            boolean silent = now - worker.heardAt() > (long) (2 * worker.freq() * 1e9);
            if (silent || worker.app() == null || worker.instance() == null || !owned.test(worker.app(), worker.instance())) {
                forget(entry.getKey());
            }
        }
    }

    private void forgetInstance(String app, String instance) {
        for (Map.Entry<String, Worker> entry : List.copyOf(workers.entrySet())) {
            if (entry.getValue().instance() != null && entry.getValue().instance().equals(instance)
                    && (app == null || app.equals(entry.getValue().app()))) {
                forget(entry.getKey());
            }
        }
    }

    private void forget(String worker) {
        workers.remove(worker);
        for (StatefulMetric<?, ?> metric : all) {
            metric.removeIf(labels -> labels.get(0).equals(worker));
        }
    }

    /** A field as text: null when absent or JSON null (fields may hold plain values or Jackson nodes). */
    private static String text(Map<String, Object> fields, String name) {
        Object value = fields.get(name);
        if (value instanceof JsonNode node) {
            return node.isNull() || node.isMissingNode() ? null : node.isValueNode() ? node.asText() : node.toString();
        }
        return value == null ? null : value.toString();
    }

    private static Double number(Map<String, Object> fields, String name) {
        Object value = fields.get(name);
        if (value instanceof JsonNode node) {
            value = node.isNumber() ? node.numberValue() : node.isTextual() ? node.asText() : null;
        }
        if (value instanceof Number n) {
            return n.doubleValue();
        }
        if (value instanceof String s) {
            try {
                return Double.parseDouble(s);
            } catch (NumberFormatException e) {
                return null;
            }
        }
        return null;
    }

    @Override
    public void close() throws Exception {
        subscription.close();
    }
}
