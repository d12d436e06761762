package jcyme.branch;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.BuiltinExchangeType;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.DefaultConsumer;
import com.rabbitmq.client.Envelope;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import jcyme.api.App;
import jcyme.tasks.BrokerUrl;
import jcyme.tasks.Json;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Follows the Celery events of every broker this branch's apps use, as Flower does: an exclusive,
 * auto-deleted {@code celeryev.<uuid>} queue bound to the {@code celeryev} topic exchange with
 * {@code #}. Each event is attributed to the app and instance whose worker sent it (by the node
 * name in its {@code hostname}: {@code w1@host} is instance {@code w1}, here or on another branch),
 * streamed to the branch's event log as {@code task.*} or {@code worker.*}, and task events are
 * written to the {@link TaskHistory}. Apps and their brokers come and go: the set of brokers is
 * looked at again every {@link #REFRESH}. A broker that goes away is reconnected with backoff; none
 * of this ever blocks or stops the branch.
 */
final class CeleryEventFollower implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(CeleryEventFollower.class);
    static final String EXCHANGE = "celeryev";
    static final Duration REFRESH = Duration.ofSeconds(2);
    static final Duration BACKOFF_FIRST = Duration.ofMillis(500);
    static final Duration BACKOFF_CAP = Duration.ofSeconds(30);
    /** Events the broker may push before they are acknowledged (flow control while the history writes). */
    private static final int PREFETCH = 1000;
    /** Turns event fields into plain Java values for subscribers: Integer or Long, Double, String, List, Map. */
    private static final ObjectMapper PLAIN = new ObjectMapper();

    private final Store store;
    private final Brokers brokers;
    private final EventLog events;
    private final TaskHistory history;
    private final ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor(DaemonThreads.named("celery-events"));
    private final Map<String, Follow> follows = new ConcurrentHashMap<>();
    /** The most node names of workers the cluster does not run that are remembered between refreshes. */
    static final int MAX_STRANGERS = 1024;
    /** Instance name → app, for every instance of the cluster as of the last refresh (and those found since). */
    private volatile Map<String, String> owners = new ConcurrentHashMap<>();
    /** Node names no instance has (a worker the cluster does not run), until the next refresh; at most {@link #MAX_STRANGERS}. */
    private final Set<String> strangers = ConcurrentHashMap.newKeySet();
    private volatile boolean closed;

    CeleryEventFollower(Store store, Brokers brokers, EventLog events, TaskHistory history) {
        this.store = store;
        this.brokers = brokers;
        this.events = events;
        this.history = history;
    }

    void start() {
        scheduler.scheduleWithFixedDelay(this::refresh, 0, REFRESH.toMillis(), TimeUnit.MILLISECONDS);
    }

    /**
     * Makes sure the events of {@code brokerUrl} are followed before a worker on it starts, so its
     * first tasks' events are not missed: refreshes now and waits up to {@code max} for the follow
     * to be bound. A broker that cannot be reached is followed later, with backoff.
     */
    void awaitFollowing(String brokerUrl, Duration max) {
        Follow follow = follows.get(brokerUrl);
        if (follow != null && follow.connection != null) {
            return;
        }
        long deadline = System.nanoTime() + max.toNanos();
        try {
            scheduler.submit(this::refresh).get(max.toMillis(), TimeUnit.MILLISECONDS);
            while (System.nanoTime() < deadline) {
                follow = follows.get(brokerUrl);
                if (follow != null && follow.connection != null) {
                    return;
                }
                Thread.sleep(20);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException
                 | java.util.concurrent.RejectedExecutionException e) {
            log.debug("not following {} yet: {}", BrokerUrl.parse(brokerUrl).display(), e.toString());
        }
    }

    /** Follows the brokers in use now, stops following those no longer used, and learns new instances. */
    void refresh() {
        try {
            Map<String, String> current = new ConcurrentHashMap<>();
            Map<String, List<String>> appsByBroker = new HashMap<>();
            for (String name : store.appNames()) {
                store.app(name).ifPresent(app ->
                        appsByBroker.computeIfAbsent(brokers.brokerOf(app, null), u -> new ArrayList<>()).add(name));
            }
            for (InstanceRecord record : store.instances()) {
                current.put(record.name(), record.app());
                if (record.broker() != null && !record.broker().isEmpty()) {
                    App app = store.app(record.app()).orElse(null);
                    List<String> apps = appsByBroker.computeIfAbsent(brokers.brokerOf(app, record.broker()), u -> new ArrayList<>());
                    if (!apps.contains(record.app())) apps.add(record.app());
                }
            }
            store.placements().forEach(p -> current.put(p.name(), p.app()));
            owners = current;
            strangers.clear();
            appsByBroker.forEach((url, apps) -> follows.computeIfAbsent(url, Follow::new).apps = List.copyOf(apps));
            for (String url : List.copyOf(follows.keySet())) {
                if (!appsByBroker.containsKey(url)) {
                    follows.remove(url).close();
                }
            }
        } catch (RuntimeException e) {
            log.warn("could not refresh the brokers whose Celery events to follow: {}", Checks.firstLine(String.valueOf(e.getMessage())));
        }
    }

    /** Attributes one Celery event, streams it, and hands a task event to the history. */
    void handle(ObjectNode event, List<String> brokerApps) throws InterruptedException {
        String type = event.path("type").asText("");
        String group = type.startsWith("task-") ? "task" : type.startsWith("worker-") ? "worker" : null;
        if (group == null) {
            return;
        }
        String hostname = event.path("hostname").asText("");
        String node = hostname.contains("@") ? hostname.substring(0, hostname.indexOf('@')) : hostname;
        String app = ownerOf(node);
        String instance = app == null ? null : node;
        if (app == null && brokerApps.size() == 1) {
            app = brokerApps.get(0);
        }
        if (group.equals("task")) {
            history.offer(new TaskHistory.Event(app, instance, event));
        }
        Map<String, Object> fields = new LinkedHashMap<>();
        event.fields().forEachRemaining(f -> {
            if (!f.getValue().isNull()) fields.put(f.getKey(), PLAIN.convertValue(f.getValue(), Object.class));
        });
        if (app != null) fields.put("app", app);
        if (instance != null) fields.put("instance", instance);
        try {
            events.stream(group + "." + type.substring(group.length() + 1), fields);
        } catch (RuntimeException e) {
            log.debug("an event subscriber failed: {}", e.toString());
        }
    }

    private String ownerOf(String node) {
        String app = owners.get(node);
        if (app != null || strangers.contains(node)) {
            return app;
        }
        Optional<String> found = store.instanceRecord(node).map(InstanceRecord::app)
                .or(() -> store.placement(node).map(Store.Placement::app));
        found.ifPresentOrElse(a -> owners.put(node, a), () -> {
            if (strangers.size() >= MAX_STRANGERS) {
                strangers.clear();
            }
            strangers.add(node);
        });
        return found.orElse(null);
    }

    /** How many node names are remembered (instances and strangers). */
    int remembered() {
        return owners.size() + strangers.size();
    }

    @Override
    public void close() {
        closed = true;
        scheduler.shutdownNow();
        follows.values().forEach(Follow::close);
        follows.clear();
    }

    /** The events of one broker: one connection, reconnected with backoff while the broker is in use. */
    private final class Follow {
        private final String url;
        private final String shown;
        volatile List<String> apps = List.of();
        private volatile boolean stopped;
        private volatile Connection connection;
        private Duration delay = BACKOFF_FIRST;
        private boolean failing;

        Follow(String url) {
            this.url = url;
            this.shown = BrokerUrl.parse(url).display();
            onScheduler(this::connect);
        }

        private void connect() {
            if (stopped || closed) {
                return;
            }
            Connection opened = null;
            try {
                ConnectionFactory factory = BrokerUrl.parse(url).connectionFactory(BACKOFF_CAP.toMillis());
                factory.setAutomaticRecoveryEnabled(false);
                opened = factory.newConnection("jcyme-branch-events");
                opened.addShutdownListener(cause -> {
                    if (!cause.isInitiatedByApplication() && !stopped && !closed) {
                        log.warn("lost the Celery events of {} ({}); reconnecting", shown, Checks.firstLine(String.valueOf(cause.getMessage())));
                        onScheduler(this::retryLater);
                    }
                });
                Channel channel = opened.createChannel();
                channel.exchangeDeclare(EXCHANGE, BuiltinExchangeType.TOPIC, true, false, null);
                String queue = EXCHANGE + "." + UUID.randomUUID();
                channel.queueDeclare(queue, false, true, true, null);
                channel.queueBind(queue, EXCHANGE, "#");
                channel.basicQos(PREFETCH);
                channel.basicConsume(queue, false, new DefaultConsumer(channel) {
                    @Override
                    public void handleDelivery(String tag, Envelope envelope, AMQP.BasicProperties properties, byte[] body)
                            throws IOException {
                        deliver(body);
                        channel.basicAck(envelope.getDeliveryTag(), false);
                    }
                });
                connection = opened;
                if (stopped || closed) {
                    opened.abort();
                    return;
                }
                delay = BACKOFF_FIRST;
                failing = false;
                log.info("following the Celery events of {} for app(s) {}", shown, apps);
            } catch (IOException | TimeoutException | RuntimeException e) {
                if (opened != null) {
                    opened.abort();
                }
                if (!failing) {
                    log.warn("cannot follow the Celery events of {} ({}); retrying with backoff up to {} s", shown,
                            Checks.firstLine(String.valueOf(e.getMessage())), BACKOFF_CAP.toSeconds());
                }
                failing = true;
                retryLater();
            }
        }

        /** Schedules the next attempt; like every step of a follow, it runs on the scheduler's one thread. */
        private void retryLater() {
            if (stopped || closed) {
                return;
            }
            Duration wait = delay;
            delay = delay.multipliedBy(2).compareTo(BACKOFF_CAP) > 0 ? BACKOFF_CAP : delay.multipliedBy(2);
            try {
                scheduler.schedule(this::connect, wait.toMillis(), TimeUnit.MILLISECONDS);
            } catch (RejectedExecutionException e) {
                // the branch is stopping
            }
        }

        private void onScheduler(Runnable step) {
            try {
                scheduler.execute(step);
            } catch (RejectedExecutionException e) {
                // the branch is stopping
            }
        }

        private void deliver(byte[] body) {
            JsonNode parsed;
            try {
                parsed = Json.MAPPER.readTree(body);
            } catch (IOException e) {
                log.debug("a Celery event on {} is not JSON: {}", shown, e.getMessage());
                return;
            }
            // Python workers on an event loop send a list of events at a time (routing key task.multi)
            List<JsonNode> batch = new ArrayList<>();
            if (parsed.isArray()) parsed.forEach(batch::add); else batch.add(parsed);
            for (JsonNode event : batch) {
                if (!event.isObject()) continue;
                try {
                    handle((ObjectNode) event, apps);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                } catch (RuntimeException e) {
                    log.debug("a Celery event was dropped: {}", e.toString());
                }
            }
        }

        void close() {
            stopped = true;
            Connection current = connection;
            if (current != null) {
                current.abort();
            }
        }
    }
}
