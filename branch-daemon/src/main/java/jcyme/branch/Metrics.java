package jcyme.branch;

import com.fasterxml.jackson.databind.JsonNode;
import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import jcyme.api.App;
import jcyme.api.Instance;
import jcyme.supervisor.InstanceState;

/**
 * What {@code GET /metrics} shows of this branch: Flower's series for the workers it owns
 * ({@link TaskEventMetrics}), and what Flower lacks — every app's queue depth and consumers,
 * whether each broker answered, each instance's state, restarts, memory and pool, and the cluster's
 * live branches. Each branch serves the instances it owns, so Prometheus scrapes every branch.
 */
public final class Metrics implements AutoCloseable {
    /** How long one instance may take to answer {@code stats}; one that doesn't is left out of the pool series. */
    static final Duration STATS_TIMEOUT = Duration.ofSeconds(1);
    /** How long a scrape waits for all the instances' stats together. */
    static final Duration STATS_DEADLINE = Duration.ofSeconds(2);

    private final Store store;
    private final Brokers brokers;
    private final Instances instances;
    private final Supplier<List<String>> branches;
    private final Supplier<Cluster.Traffic> traffic;
    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final TaskEventMetrics flower;
    private final QueueDepths depths = new QueueDepths(System::nanoTime);
    private final ExecutorService askers = Executors.newFixedThreadPool(4, DaemonThreads.named("metrics-stats"));

    Metrics(Store store, Brokers brokers, Instances instances, Supplier<List<String>> branches,
            Supplier<Cluster.Traffic> traffic, EventLog events) {
        this.traffic = traffic;
        this.store = store;
        this.brokers = brokers;
        this.instances = instances;
        this.branches = branches;
        this.flower = new TaskEventMetrics(events, registry,
                (app, instance) -> store.instance(instance).filter(r -> r.app().equals(app)).isPresent(), System::nanoTime);
        registry.register((MultiCollector) this::collect);
    }

    /** Every series, now. */
    public MetricSnapshots scrape() {
        flower.prune();
        return registry.scrape();
    }

    /** One queue of the app on the app's broker: 404 when the broker has no such queue, 502 when it cannot be reached. */
    public QueueDepth queueDepth(String app, String queue) {
        App owner = store.app(app).orElseThrow(() -> BranchException.notFound("no app named '" + app + "'"));
        Checks.name("queue", queue);
        String broker = brokers.brokerOf(owner, null);
        QueueDepths.Probe probe = depths.probe(broker, List.of(queue));
        if (!probe.up()) {
            throw new BranchException(502, "broker " + QueueDepths.label(broker) + " of app '" + app + "' cannot be reached");
        }
        QueueDepth depth = probe.queues().get(queue);
        if (depth == null) {
            throw BranchException.notFound("broker " + QueueDepths.label(broker) + " has no queue '" + queue + "'");
        }
        return depth;
    }

    private MetricSnapshots collect() {
        List<MetricSnapshot> snapshots = new ArrayList<>();
        instanceSeries(snapshots);
        queueSeries(snapshots);
        GaugeSnapshot.Builder up = gauge("jcyme_branch_up", "1 for each live branch of the cluster, as this branch sees it");
        List<String> live = branches.get();
        live.forEach(id -> up.dataPoint(point(1, "branch", id)));
        snapshots.add(up.build());
        snapshots.add(gauge("jcyme_cluster_branches", "Live branches in the cluster").dataPoint(point(live.size())).build());
        Cluster.Traffic sent = traffic.get();
        snapshots.add(counter("jcyme_cluster_messages", "Cluster messages this branch sent and received (heartbeats and gossip included)",
                sent.messagesSent(), sent.messagesReceived()));
        snapshots.add(counter("jcyme_cluster_bytes", "Bytes of cluster messages this branch sent and received",
                sent.bytesSent(), sent.bytesReceived()));
        return new MetricSnapshots(snapshots);
    }

    private void instanceSeries(List<MetricSnapshot> snapshots) {
        GaugeSnapshot.Builder state = gauge("jcyme_instance_state", "1 for the state the instance is in, 0 for the others");
        CounterSnapshot.Builder restarts = CounterSnapshot.builder().name("jcyme_instance_restarts")
                .help("Times the branch restarted the instance's worker");
        GaugeSnapshot.Builder rss = gauge("jcyme_instance_resident_memory_bytes", "Resident memory of the instance's worker (VmRSS)");
        GaugeSnapshot.Builder pool = gauge("jcyme_instance_pool_threads", "Threads in the worker's pool now");
        GaugeSnapshot.Builder poolMin = gauge("jcyme_instance_pool_min_threads", "The worker's autoscale minimum");
        GaugeSnapshot.Builder poolMax = gauge("jcyme_instance_pool_max_threads", "The worker's autoscale maximum");
        GaugeSnapshot.Builder stuck = gauge("jcyme_instance_stuck_threads",
                "Pool threads the worker gave up on (past a hard time limit, or terminated) that still run");
        List<Instance> all = instances.all();
        Map<Instance, CompletableFuture<Optional<JsonNode>>> stats = new LinkedHashMap<>();
        for (Instance instance : all) {
            if (instance.state().equals(InstanceState.RUNNING.name())) {
                stats.put(instance, CompletableFuture.supplyAsync(() -> instances.statsWithin(instance.name(), STATS_TIMEOUT), askers));
            }
        }
        long deadline = System.nanoTime() + STATS_DEADLINE.toNanos();
        for (Instance instance : all) {
            // "instance" is Prometheus' own label for the scraped branch: an instance is its "name"
            String[] labels = {"app", instance.app(), "name", instance.name()};
            for (InstanceState each : InstanceState.values()) {
                state.dataPoint(point(each.name().equals(instance.state()) ? 1 : 0,
                        "app", instance.app(), "name", instance.name(), "state", each.name()));
            }
            restarts.dataPoint(CounterSnapshot.CounterDataPointSnapshot.builder().value(instance.restarts())
                    .labels(Labels.of(labels)).build());
            if (instance.pid() != null) {
                residentBytes(instance.pid()).ifPresent(bytes -> rss.dataPoint(point(bytes, labels)));
            }
            CompletableFuture<Optional<JsonNode>> ask = stats.get(instance);
            Optional<JsonNode> answer = Optional.empty();
            if (ask != null) {
                try {
                    answer = ask.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                } catch (java.util.concurrent.TimeoutException | java.util.concurrent.ExecutionException e) {
                    ask.cancel(true);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            answer.map(s -> s.path("autoscaler")).filter(JsonNode::isObject).ifPresent(scaler -> {
                pool.dataPoint(point(scaler.path("current").asDouble(), labels));
                poolMin.dataPoint(point(scaler.path("min").asDouble(), labels));
                poolMax.dataPoint(point(scaler.path("max").asDouble(), labels));
            });
            answer.map(s -> s.path("stuck_threads")).filter(JsonNode::isNumber)
                    .ifPresent(count -> stuck.dataPoint(point(count.asDouble(), labels)));
        }
        snapshots.addAll(List.of(state.build(), restarts.build(), rss.build(), pool.build(), poolMin.build(), poolMax.build(),
                stuck.build()));
    }

    /**
     * Depth and consumers of every app's queues — declared, default, and bound to this branch's
     * instances — on the broker each uses; a broker that does not answer is {@code jcyme_broker_up 0}
     * and its queues are left out.
     */
    private void queueSeries(List<MetricSnapshot> snapshots) {
        Map<String, Map<String, Set<String>>> appsByQueueByBroker = new LinkedHashMap<>();
        for (String name : store.appNames()) {
            App app = store.app(name).orElse(null);
            if (app == null) {
                continue;
            }
            Map<String, Set<String>> queuesByBroker = new LinkedHashMap<>();
            String broker = brokers.brokerOf(app, null);
            queuesByBroker.computeIfAbsent(broker, b -> new LinkedHashSet<>()).addAll(store.queueNames(name));
            queuesByBroker.get(broker).addAll(app.defaultQueues());
            for (InstanceRecord record : store.instances(name)) {
                queuesByBroker.computeIfAbsent(brokers.brokerOf(app, record.broker()), b -> new LinkedHashSet<>()).addAll(record.queues());
            }
            queuesByBroker.forEach((url, queues) -> queues.forEach(queue -> appsByQueueByBroker
                    .computeIfAbsent(url, b -> new LinkedHashMap<>()).computeIfAbsent(queue, q -> new LinkedHashSet<>()).add(name)));
        }
        Map<String, Boolean> brokerUp = new LinkedHashMap<>();
        Map<Labels, QueueDepth> seen = new LinkedHashMap<>();
        appsByQueueByBroker.forEach((broker, appsByQueue) -> {
            QueueDepths.Probe probe = depths.probe(broker, appsByQueue.keySet());
            String label = QueueDepths.label(broker);
            brokerUp.merge(label, probe.up(), Boolean::logicalOr);
            probe.queues().forEach((queue, depth) -> appsByQueue.get(queue).forEach(app ->
                    seen.putIfAbsent(Labels.of("app", app, "broker", label, "queue", queue), depth)));
        });
        GaugeSnapshot.Builder up = gauge("jcyme_broker_up", "1 when the broker answered the queue depth asks, 0 when it did not");
        brokerUp.forEach((label, answered) -> up.dataPoint(point(answered ? 1 : 0, "broker", label)));
        GaugeSnapshot.Builder messages = gauge("jcyme_queue_messages", "Messages in the queue ready for a consumer");
        GaugeSnapshot.Builder consumers = gauge("jcyme_queue_consumers", "Consumers of the queue");
        seen.forEach((labels, depth) -> {
            messages.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().value(depth.messages()).labels(labels).build());
            consumers.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().value(depth.consumers()).labels(labels).build());
        });
        snapshots.addAll(List.of(up.build(), messages.build(), consumers.build()));
    }

    /** VmRSS of a process, in bytes, from {@code /proc/<pid>/status}. */
    static Optional<Double> residentBytes(long pid) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
                if (line.startsWith("VmRSS:")) {
                    String[] parts = line.substring(6).trim().split("\\s+");
                    return Optional.of(Double.parseDouble(parts[0]) * 1024);
                }
            }
        } catch (IOException | RuntimeException e) {
            // the process is gone
        }
        return Optional.empty();
    }

    private static GaugeSnapshot.Builder gauge(String name, String help) {
        return GaugeSnapshot.builder().name(name).help(help);
    }

    private static CounterSnapshot counter(String name, String help, long sent, long received) {
        CounterSnapshot.Builder counter = CounterSnapshot.builder().name(name).help(help);
        counter.dataPoint(CounterSnapshot.CounterDataPointSnapshot.builder().value(sent).labels(Labels.of("direction", "sent")).build());
        counter.dataPoint(CounterSnapshot.CounterDataPointSnapshot.builder().value(received).labels(Labels.of("direction", "received")).build());
        return counter.build();
    }

    private static GaugeSnapshot.GaugeDataPointSnapshot point(double value, String... labels) {
        return GaugeSnapshot.GaugeDataPointSnapshot.builder().value(value).labels(Labels.of(labels)).build();
    }

    @Override
    public void close() {
        askers.shutdownNow();
        depths.close();
        try {
            flower.close();
        } catch (Exception e) {
            // only unsubscribes
        }
    }
}
