package jcyme.worker;

import static jcyme.worker.ControlCommands.error;
import static jcyme.worker.ControlCommands.ok;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import jcyme.tasks.CeleryQueue;
import jcyme.tasks.CeleryTime;

/** The worker's remote-control commands, with Celery's names, arguments and replies. */
final class ControlPanel {
    private static final JsonNodeFactory JSON = JsonNodeFactory.instance;

    private ControlPanel() {}

    static void register(ControlCommands commands, Worker worker) {
        commands.register("ping", args -> worker.isReady() ? ok("pong") : error("starting"))
                .register("stats", args -> worker.stats())
                .register("clock", args -> JSON.objectNode().put("clock", worker.state().clock().value()))
                .register("registered", args -> registered(worker))
                .register("revoked", args -> JSON.pojoNode(worker.state().revokedIds()))
                .register("active", args -> requests(worker, worker.executor().active(), safe(args)))
                .register("reserved", args -> requests(worker, worker.pool().waiting(), safe(args)))
                .register("scheduled", args -> scheduled(worker, safe(args)))
                .register("query_task", args -> queryTask(worker, args))
                .register("active_queues", args -> activeQueues(worker))
                .register("conf", args -> conf(worker))
                .register("hello", args -> hello(worker, args))
                .register("report", args -> ok("jcyme " + Events.VERSION + " (Java " + System.getProperty("java.version") + ", "
                        + System.getProperty("os.name") + ") node " + worker.config().nodename()))
                .register("add_consumer", args -> addConsumer(worker, args))
                .register("cancel_consumer", args -> cancelConsumer(worker, args))
                .register("autoscale", args -> autoscale(worker, args))
                .register("pool_grow", args -> resizePool(worker, "pool_grow", intArg(args, "n", 1)))
                .register("pool_shrink", args -> resizePool(worker, "pool_shrink", -intArg(args, "n", 1)))
                .register("pool_restart", args -> {
                    // a JVM cannot reload its classes in place: a fresh worker replaces this one (a rolling recycle)
                    worker.requestRecycle("pool_restart");
                    return ok("reload started");
                })
                .register("revoke", args -> revoke(worker, args))
                .register("terminate", args -> revoke(worker, ((ObjectNode) args.deepCopy()).put("terminate", true)))
                .register("rate_limit", args -> rateLimit(worker, args))
                .register("time_limit", args -> timeLimit(worker, args))
                .register("enable_events", args -> events(worker, true))
                .register("disable_events", args -> events(worker, false))
                .register("heartbeat", args -> {
                    if (worker.events() != null) worker.events().heartbeatOnRequest();
                    return JSON.nullNode();
                })
                .register("config", args -> config(worker, args))
                .register("shutdown", args -> {
                    // the socket answers before the last steps have started: a stop asked for then waits for them
                    worker.requestStop();
                    return ok("shutting down");
                });
        for (String[] alias : new String[][] {{"dump_active", "active"}, {"dump_reserved", "reserved"},
                {"dump_schedule", "scheduled"}, {"dump_revoked", "revoked"}, {"dump_tasks", "registered"}, {"dump_conf", "conf"}}) {
            commands.register(alias[0], args -> commands.dispatch(alias[1], args));
        }
    }

    /** Task names, sorted, in Celery's {@code "name [rate_limit=10/m]"} form when a rate limit is set. */
    private static ArrayNode registered(Worker worker) {
        ArrayNode list = JSON.arrayNode();
        for (String name : new java.util.TreeSet<>(worker.executor().tasks().keySet())) {
            String rate = worker.executor().rateLimit(name);
            list.add(rate != null ? name + " [rate_limit=" + rate + "]" : name);
        }
        return list;
    }

    /** Without arguments the live configuration in use; with {@code config_id} (and {@code config}) a new one to apply. */
    private static ObjectNode config(Worker worker, JsonNode args) {
        LiveConfig live = worker.liveConfig();
        if (!args.has("config_id")) {
            LiveConfig.Version current = live.current();
            ObjectNode reply = JSON.objectNode().put("config_id", current.id());
            reply.set("config", current.config());
            LiveConfig.Refused refused = live.refused();
            if (refused != null) {
                reply.putObject("refused").put("config_id", refused.id()).put("error", refused.error());
            }
            return reply;
        }
        LiveConfig.Version next = LiveConfig.parse(args);
        ObjectNode reply = JSON.objectNode().put("changed", live.submit(next)).put("config_id", next.id());
        LiveConfig.Refused refused = live.refused();
        if (refused != null && refused.id().equals(next.id())) {
            reply.put("applied", false).put("error", refused.error()); // asked for again: it stays refused
        }
        return reply;
    }

    /** The settings that differ from Celery's defaults, under Celery's names. */
    private static ObjectNode conf(Worker worker) {
        WorkerConfig config = worker.config();
        ObjectNode conf = JSON.objectNode();
        conf.put("broker_url", config.broker().display());
        conf.put("worker_concurrency", worker.maxConcurrency());
        if (config.autoscale()) {
            conf.put("worker_autoscaler", "jcyme.worker:Autoscaler");
        }
        conf.put("worker_prefetch_multiplier", config.prefetchMultiplier());
        conf.put("worker_pool", "threads");
        conf.put("task_acks_late", true);
        conf.put("worker_send_task_events", worker.events() != null && worker.events().taskEventsEnabled());
        conf.putPOJO("task_queues", config.queues());
        if (config.statedb() != null) conf.put("worker_state_db", config.statedb().toString());
        if (config.hardTimeLimit() != null) conf.put("task_time_limit", config.hardTimeLimit().toMillis() / 1000.0);
        if (config.softTimeLimit() != null) conf.put("task_soft_time_limit", config.softTimeLimit().toMillis() / 1000.0);
        return conf;
    }

    /** Celery's mingle: takes the caller's revoked ids and answers with ours and the clock. */
    private static JsonNode hello(Worker worker, JsonNode args) {
        if (worker.config().nodename().equals(args.path("from_node").asText())) {
            return JSON.nullNode();
        }
        args.path("revoked").fieldNames().forEachRemaining(worker.state()::revoke);
        ObjectNode reply = JSON.objectNode();
        ObjectNode revoked = reply.putObject("revoked");
        worker.state().revokedWithTimes().forEach((id, at) -> revoked.putArray(id).add(at.toEpochMilli() / 1000.0).add(id));
        reply.put("clock", worker.state().clock().value());
        return reply;
    }

    private static ObjectNode rateLimit(Worker worker, JsonNode args) {
        String task = text(args, "task_name");
        if (!isKnown(worker, task)) {
            return error("unknown task");
        }
        String limit = text(args, "rate_limit");
        try {
            boolean disabled = worker.executor().setRateLimit(task, limit);
            return ok(disabled ? "rate limit disabled successfully" : "new rate limit set successfully");
        } catch (IllegalArgumentException e) {
            return error("Invalid rate limit string: " + e.getMessage());
        }
    }

    private static ObjectNode timeLimit(Worker worker, JsonNode args) {
        String task = text(args, "task_name");
        if (!isKnown(worker, task)) {
            return error("unknown task");
        }
        worker.executor().setTimeLimits(task, seconds(args.get("hard")), seconds(args.get("soft")));
        return ok("time limits set successfully");
    }

    private static boolean isKnown(Worker worker, String task) {
        return task != null && worker.executor().tasks().containsKey(task);
    }

    private static java.time.Duration seconds(JsonNode value) {
        if (value == null || value.isNull() || !(value.isNumber() || value.asText().matches("\\d+(\\.\\d+)?"))) {
            return null;
        }
        return java.time.Duration.ofMillis(Math.round(value.asDouble() * 1000));
    }

    private static ObjectNode events(Worker worker, boolean enable) {
        if (worker.events() == null) {
            return error("events are off for this worker");
        }
        boolean changed = worker.events().enableTaskEvents(enable);
        String what = enable ? "enabled" : "disabled";
        return ok(changed ? "task events " + what : "task events already " + what);
    }

    private static boolean safe(JsonNode args) {
        return args.path("safe").asBoolean(false);
    }

    private static ArrayNode requests(Worker worker, List<Request> requests, boolean safe) {
        ArrayNode list = JSON.arrayNode();
        for (Request request : requests) {
            list.add(request.info(safe, worker.config().nodename(), worker.pid()));
        }
        return list;
    }

    private static ArrayNode scheduled(Worker worker, boolean safe) {
        ArrayNode list = JSON.arrayNode();
        for (TaskExecutor.Held held : worker.executor().held()) {
            ObjectNode entry = list.addObject();
            entry.put("eta", CeleryTime.format(held.eta()));
            entry.put("priority", 6);
            entry.set("request", held.request().info(safe, worker.config().nodename(), worker.pid()));
        }
        return list;
    }

    private static ObjectNode queryTask(Worker worker, JsonNode args) {
        ObjectNode found = JSON.objectNode();
        for (String id : idList(args.get("ids"))) {
            Request active = worker.executor().activeRequest(id);
            if (active != null) {
                found.putArray(id).add("active").add(active.info(false, worker.config().nodename(), worker.pid()));
                continue;
            }
            for (Request waiting : worker.pool().waiting()) {
                if (waiting.id().equals(id)) {
                    found.putArray(id).add("reserved").add(waiting.info(false, worker.config().nodename(), worker.pid()));
                }
            }
        }
        return found;
    }

    private static ArrayNode activeQueues(Worker worker) {
        ArrayNode list = JSON.arrayNode();
        for (CeleryQueue queue : worker.broker().queues()) {
            ObjectNode entry = list.addObject();
            entry.put("name", queue.name());
            ObjectNode exchange = entry.putObject("exchange");
            exchange.put("name", queue.exchange());
            exchange.put("type", queue.exchangeType());
            exchange.putNull("arguments");
            exchange.put("durable", true);
            exchange.put("passive", false);
            exchange.put("auto_delete", false);
            exchange.putNull("delivery_mode");
            exchange.put("no_declare", false);
            entry.put("routing_key", queue.routingKey());
            entry.putNull("queue_arguments");
            entry.putNull("binding_arguments");
            entry.putNull("consumer_arguments");
            entry.put("durable", true);
            entry.put("exclusive", false);
            entry.put("auto_delete", false);
            entry.put("no_ack", false);
            entry.putNull("alias");
            entry.putArray("bindings");
            entry.putNull("no_declare");
            entry.putNull("expires");
            entry.putNull("message_ttl");
            entry.putNull("max_length");
            entry.putNull("max_length_bytes");
            entry.putNull("max_priority");
        }
        return list;
    }

    private static ObjectNode addConsumer(Worker worker, JsonNode args) throws Exception {
        String queue = requiredText(args, "queue");
        CeleryQueue spec = new CeleryQueue(queue, text(args, "exchange"), text(args, "exchange_type"),
                text(args, "routing_key"));
        if (!worker.broker().consume(spec)) {
            return ok("already consuming from '" + queue + "'");
        }
        return ok("add consumer " + queue);
    }

    private static ObjectNode cancelConsumer(Worker worker, JsonNode args) throws Exception {
        String queue = requiredText(args, "queue");
        worker.broker().cancel(queue);
        return ok("no longer consuming from " + queue);
    }

    private static ObjectNode autoscale(Worker worker, JsonNode args) {
        Autoscaler autoscaler = worker.autoscaler();
        if (autoscaler == null) {
            return error("ValueError('Autoscale not enabled')");
        }
        int max = intArg(args, "max", autoscaler.policy().max());
        int min = intArg(args, "min", Math.min(autoscaler.policy().min(), max));
        autoscaler.update(max, min);
        worker.updatePrefetch();
        return ok("autoscale now max=" + max + " min=" + min);
    }

    private static ObjectNode resizePool(Worker worker, String command, int delta) {
        if (worker.autoscaler() != null) {
            return error(command + " is not supported with autoscale. Adjust autoscale range instead.");
        }
        int size = worker.pool().size() + delta;
        if (size < 1) {
            return error("pool cannot shrink below 1 thread");
        }
        worker.pool().resize(size);
        worker.updatePrefetch();
        return ok(delta > 0 ? "pool will grow" : "pool will shrink");
    }

    private static ObjectNode revoke(Worker worker, JsonNode args) {
        List<String> ids = idList(args.get("task_id"));
        if (ids.isEmpty()) {
            return error("revoke needs task_id (an id or a list of ids)");
        }
        ids.forEach(worker.state()::revoke);
        if (args.path("terminate").asBoolean(false)) {
            List<String> terminated = new ArrayList<>();
            for (String id : ids) {
                if (worker.executor().terminate(id)) {
                    terminated.add(id);
                }
            }
            return ok(terminated.isEmpty() ? "terminate: tasks unknown" : "terminate: " + String.join(", ", terminated));
        }
        return ok("tasks " + String.join(", ", ids) + " flagged as revoked");
    }

    private static List<String> idList(JsonNode node) {
        List<String> ids = new ArrayList<>();
        if (node == null || node.isNull()) {
            return ids;
        }
        if (node.isArray()) {
            node.forEach(id -> ids.add(id.asText()));
        } else {
            ids.add(node.asText());
        }
        return ids;
    }

    private static int intArg(JsonNode args, String name, int fallback) {
        JsonNode value = args.get(name);
        if (value == null || value.isNull()) {
            return fallback;
        }
        if (value.canConvertToInt() || (value.isTextual() && value.asText().matches("-?\\d+"))) {
            return value.asInt();
        }
        throw new IllegalArgumentException(name + " must be an integer, got " + value);
    }

    private static String text(JsonNode args, String name) {
        JsonNode value = args.get(name);
        return value == null || value.isNull() ? null : value.asText();
    }

    private static String requiredText(JsonNode args, String name) {
        String value = text(args, name);
        if (value == null || value.isBlank()) {
            throw new IllegalArgumentException("missing argument '" + name + "'");
        }
        return value;
    }
}
