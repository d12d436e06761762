package jcyme.worker;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.AlreadyClosedException;
import com.rabbitmq.client.BuiltinExchangeType;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import java.util.function.IntSupplier;
import java.util.function.LongSupplier;
import jcyme.tasks.CeleryTime;
import jcyme.tasks.Json;
import jcyme.tasks.RemoteError;
import jcyme.tasks.TaskMessage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Celery's event stream on the {@code celeryev} topic exchange: worker-online, a heartbeat every
 * {@code interval} on a thread of its own (a busy pool never delays it), worker-offline; and
 * task events while they are enabled ({@code -E} or the {@code enable_events} command). One
 * Lamport clock, the worker's, stamps every event.
 *
 * <p>Task events are buffered, as Celery's dispatcher does with its {@code task} buffer group, and
 * go out as one JSON list with routing key {@code task.multi}: every {@code eventInterval}, when
 * {@link #BUFFER_LIMIT} are waiting, and at stop (before worker-offline). Celery's receivers (Flower,
 * {@code celery events}) take such a list as its events one by one. Worker events always go out
 * at once, on their own. An {@code eventInterval} of 0 sends each task event as it happens.
 */
final class Events implements TaskEvents {
    private static final Logger log = LoggerFactory.getLogger(Events.class);
    static final String EXCHANGE = "celeryev";
    static final String SOFTWARE = "jcyme";
    static final String VERSION = "0.1.0";
    /** Task events waiting that make the buffer go out before its interval is up. */
    static final int BUFFER_LIMIT = 200;
    private static final String MULTI_ROUTING_KEY = "task.multi";

    private final String hostname;
    private final long pid;
    private final LamportClock clock;
    private final Duration interval;
    private final IntSupplier active;
    private final LongSupplier processed;
    private final AtomicBoolean taskEvents;
    /** How long a stop waits for a heartbeat or flush under way. */
    static final Duration STOP_WAIT = Duration.ofSeconds(5);
    private final Object lock = new Object();
    private final ScheduledExecutorService heart = Executors.newSingleThreadScheduledExecutor(task -> {
        Thread thread = new Thread(task, "heartbeat");
        thread.setDaemon(true);
        return thread;
    });
    private Channel channel;
    private final Duration eventInterval;
    private final AMQP.BasicProperties properties;
    /** Task events not sent yet; guarded by {@code buffered}. */
    private final List<ObjectNode> buffered = new ArrayList<>();

    Events(String hostname, long pid, LamportClock clock, Duration interval, Duration eventInterval, boolean taskEvents,
           IntSupplier active, LongSupplier processed) {
        this.hostname = hostname;
        this.eventInterval = eventInterval;
        this.properties = new AMQP.BasicProperties.Builder()
                .contentType("application/json").contentEncoding("utf-8").deliveryMode(1).priority(0)
                .headers(Map.of("hostname", hostname)).build();
        this.pid = pid;
        this.clock = clock;
        this.interval = interval;
        this.taskEvents = new AtomicBoolean(taskEvents);
        this.active = active;
        this.processed = processed;
    }

    /** Declares the exchange, says worker-online and starts the heartbeat. */
    void start(Connection connection) throws IOException {
        channel = connection.createChannel();
        channel.exchangeDeclare(EXCHANGE, BuiltinExchangeType.TOPIC, true, false, null);
        send("worker-online", workerFields(true));
        heart.scheduleAtFixedRate(this::heartbeat, interval.toMillis(), interval.toMillis(), TimeUnit.MILLISECONDS);
        if (!eventInterval.isZero()) {
            heart.scheduleWithFixedDelay(this::flush, eventInterval.toMillis(), eventInterval.toMillis(), TimeUnit.MILLISECONDS);
        }
    }

    /**
     * Stops the heartbeat, sends the task events still buffered and says worker-offline. A flush
     * already under way on the heartbeat thread ends first: the events it took are not lost to the
     * connection closing under it.
     */
    void stop() {
        heart.shutdown();
        try {
            if (!heart.awaitTermination(STOP_WAIT.toMillis(), TimeUnit.MILLISECONDS)) {
                log.warn("a heartbeat or event flush still under way after {} s", STOP_WAIT.toSeconds());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        flush();
        send("worker-offline", workerFields(true));
    }

    void heartbeat() {
        send("worker-heartbeat", workerFields(true));
    }

    /** The heartbeat Celery's {@code heartbeat} command asks for: the software fields only. */
    void heartbeatOnRequest() {
        ObjectNode fields = workerFields(false);
        fields.put("freq", 5.0);
        send("worker-heartbeat", fields);
    }

    /** True when this call changed the setting. */
    boolean enableTaskEvents(boolean enabled) {
        return taskEvents.getAndSet(enabled) != enabled;
    }

    boolean taskEventsEnabled() {
        return taskEvents.get();
    }

    private ObjectNode workerFields(boolean counters) {
        ObjectNode fields = JsonNodeFactory.instance.objectNode();
        fields.put("freq", interval.toMillis() / 1000.0);
        if (counters) {
            fields.put("active", active.getAsInt());
            fields.put("processed", processed.getAsLong());
            fields.set("loadavg", loadavg());
        }
        fields.put("sw_ident", SOFTWARE);
        fields.put("sw_ver", VERSION);
        fields.put("sw_sys", System.getProperty("os.name"));
        return fields;
    }

    // ---- task events --------------------------------------------------------------------------

    @Override
    public void received(Request request) {
        taskEvent("task-received", request, fields -> {
            TaskMessage message = request.message;
            fields.put("name", request.name());
            fields.put("args", Json.repr(message.args()));
            fields.put("kwargs", Json.repr(message.kwargs()));
            fields.put("root_id", message.rootId() == null ? request.id() : message.rootId());
            fields.put("parent_id", message.parentId());
            fields.put("retries", message.retries());
            fields.put("eta", message.eta() == null ? null : CeleryTime.format(message.eta()));
            fields.put("expires", message.expires() == null ? null : CeleryTime.format(message.expires()));
        });
    }

    @Override
    public void started(Request request) {
        taskEvent("task-started", request, fields -> {});
    }

    @Override
    public void succeeded(Request request, JsonNode result, double runtime) {
        taskEvent("task-succeeded", request, fields -> fields.put("result", Json.repr(result)).put("runtime", runtime));
    }

    @Override
    public void failed(Request request, RemoteError error, String traceback) {
        taskEvent("task-failed", request, fields -> {
            fields.put("exception", error.repr());
            if (traceback != null) fields.put("traceback", traceback);
        });
    }

    @Override
    public void retried(Request request, RemoteError cause, String traceback) {
        taskEvent("task-retried", request, fields -> fields.put("exception", cause.repr()).put("traceback", traceback));
    }

    @Override
    public void revoked(Request request, boolean terminated, boolean expired) {
        taskEvent("task-revoked", request, fields -> {
            fields.put("terminated", terminated);
            if (terminated) fields.put("signum", 15); else fields.putNull("signum");
            fields.put("expired", expired);
        });
    }

    /** A task event with its {@code uuid} and the fields {@code fill} adds, when task events are on. */
    private void taskEvent(String type, Request request, Consumer<ObjectNode> fill) {
        if (!taskEvents.get()) {
            return;
        }
        ObjectNode fields = JsonNodeFactory.instance.objectNode().put("uuid", request.id());
        fill.accept(fields);
        if (eventInterval.isZero()) {
            send(type, fields);
            return;
        }
        ObjectNode event = event(type, fields);
        boolean full;
        synchronized (buffered) {
            buffered.add(event);
            full = buffered.size() >= BUFFER_LIMIT;
        }
        if (full) {
            flush();
        }
    }

    /** Sends the buffered task events as one {@code task.multi} list. */
    void flush() {
        ArrayNode list;
        synchronized (buffered) {
            if (buffered.isEmpty()) {
                return;
            }
            list = JsonNodeFactory.instance.arrayNode(buffered.size()).addAll(buffered);
            buffered.clear();
        }
        publish(MULTI_ROUTING_KEY, list.size() + " task events", Json.bytes(list));
    }

    // ---- the wire -----------------------------------------------------------------------------

    /** Adds the standard fields and publishes; an event that cannot go out now is dropped. */
    void send(String type, ObjectNode fields) {
        publish(type.replace('-', '.'), type, Json.bytes(event(type, fields)));
    }

    /** An event: the standard fields, stamped by the clock, with {@code fields}. */
    private ObjectNode event(String type, ObjectNode fields) {
        ObjectNode event = JsonNodeFactory.instance.objectNode();
        event.put("hostname", hostname);
        event.put("utcoffset", utcoffset());
        event.put("pid", pid);
        event.put("clock", clock.forward());
        event.setAll(fields);
        event.put("timestamp", System.currentTimeMillis() / 1000.0);
        event.put("type", type);
        return event;
    }

    private void publish(String routingKey, String what, byte[] body) {
        synchronized (lock) {
            if (channel == null) {
                return;
            }
            try {
                channel.basicPublish(EXCHANGE, routingKey, properties, body);
            } catch (IOException | AlreadyClosedException e) {
                log.debug("{} not sent: {}", what, e.getMessage());
            }
        }
    }

    /** Python's {@code time.timezone // 3600}: hours west of UTC, floored. */
    static int utcoffset() {
        int east = ZoneId.systemDefault().getRules().getOffset(java.time.Instant.now()).getTotalSeconds();
        return Math.floorDiv(-east, 3600);
    }

    private static JsonNode loadavg() {
        var list = JsonNodeFactory.instance.arrayNode();
        try {
            String[] parts = Files.readString(Path.of("/proc/loadavg")).split(" ");
            for (int i = 0; i < 3; i++) {
                list.add(Math.ceil(Double.parseDouble(parts[i]) * 100) / 100);
            }
        } catch (IOException | RuntimeException e) {
            list.add(0.0).add(0.0).add(0.0);
        }
        return list;
    }
}
