package jcyme.worker;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.DeliverCallback;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.Writer;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BooleanSupplier;
import jcyme.broker.EmbeddedBroker;
import jcyme.tasks.Json;
import jcyme.tasks.Task;
import jcyme.tasks.TaskMessage;
import jcyme.tasks.TaskResult;
import picocli.CommandLine;

/**
 * Real workers in this JVM against one embedded broker per test class, with a producer that
 * sends task messages, collects their results from a reply queue and records task events.
 */
final class TestWorkers implements AutoCloseable {
    static final Duration WAIT = Duration.ofSeconds(30);

    private final EmbeddedBroker broker;
    private final Connection connection;
    private final Channel channel;
    private final String replyQueue;
    private final Map<String, List<TaskResult>> results = new ConcurrentHashMap<>();
    private final List<JsonNode> events = new CopyOnWriteArrayList<>();
    private final List<Worker> workers = new ArrayList<>();

    TestWorkers() throws Exception {
        broker = EmbeddedBroker.start(0, null);
        ConnectionFactory factory = new ConnectionFactory();
        factory.setUri(broker.amqpUrl());
        connection = factory.newConnection("test producer");
        channel = connection.createChannel();
        replyQueue = channel.queueDeclare().getQueue();
        channel.basicConsume(replyQueue, true, (DeliverCallback) (tag, delivery) -> {
            TaskResult result = TaskResult.parse(delivery.getBody());
            results.computeIfAbsent(result.taskId(), id -> new CopyOnWriteArrayList<>()).add(result);
        }, tag -> { });
        channel.exchangeDeclare(Events.EXCHANGE, "topic", true);
        String eventQueue = channel.queueDeclare().getQueue();
        channel.queueBind(eventQueue, Events.EXCHANGE, "task.#");
        channel.basicConsume(eventQueue, true, (DeliverCallback) (tag, delivery) -> {
            JsonNode body = Json.parse(delivery.getBody());
            if (body.isArray()) {
                body.forEach(events::add);
            } else {
                events.add(body);
            }
        }, tag -> { });
    }

    String brokerUrl() {
        return broker.amqpUrl();
    }

    /** A started worker consuming {@code queue}, with its control socket in {@code dir}, and {@code options} added. */
    Worker start(Path dir, String name, String queue, Map<String, Task> tasks, String... options) throws Exception {
        List<String> args = new ArrayList<>(List.of("-b", broker.amqpUrl(), "-Q", queue, "-n", name + "@test",
                "--control-socket", socket(dir, name).toString(), "--work-dir", dir.resolve("work").toString()));
        args.addAll(List.of(options));
        WorkerMain main = new WorkerMain();
        new CommandLine(main).parseArgs(args.toArray(String[]::new));
        Worker worker = new Worker(main.config(), tasks);
        workers.add(worker);
        worker.start();
        return worker;
    }

    static Path socket(Path dir, String name) {
        return dir.resolve(name + ".sock");
    }

    /** Sends task {@code name} to {@code queue}; returns its id. */
    String send(String queue, String name, Instant eta, Duration hardLimit) throws IOException {
        String id = UUID.randomUUID().toString();
        TaskMessage message = new TaskMessage(id, name, JsonNodeFactory.instance.arrayNode(), JsonNodeFactory.instance.objectNode(),
                TaskMessage.defaultEmbed(), 0, eta, null, hardLimit, null, id, null, null, "test", false, replyQueue, id);
        TaskMessage.Encoded encoded = message.encode();
        channel.basicPublish("", queue, encoded.properties(), encoded.body());
        return id;
    }

    /** Sends raw properties and body to {@code queue}. */
    void sendRaw(String queue, AMQP.BasicProperties properties, byte[] body) throws IOException {
        channel.basicPublish("", queue, properties, body);
    }

    String replyQueue() {
        return replyQueue;
    }

    /** The results received for task {@code id}, in order. */
    List<TaskResult> results(String id) {
        return results.getOrDefault(id, List.of());
    }

    /** The first result of task {@code id}, waited for. */
    TaskResult result(String id) {
        await(() -> !results(id).isEmpty(), "a result for " + id);
        return results(id).get(0);
    }

    /** The task events of type {@code type} (e.g. {@code task-succeeded}) received for task {@code id}. */
    long events(String type, String id) {
        return events.stream().filter(e -> e.path("type").asText().equals(type) && e.path("uuid").asText().equals(id)).count();
    }

    /** Every task event received, as {@code type uuid}, for failure messages. */
    List<String> eventTypes() {
        return events.stream().map(e -> e.path("type").asText() + " " + e.path("uuid").asText()).toList();
    }

    /** Declares {@code queue} as Celery does, so tasks can wait in it before any worker consumes it. */
    void declare(String queue) throws IOException {
        jcyme.tasks.CeleryQueue.named(queue).declare(channel);
    }

    /** Consumers on {@code queue} now. */
    long consumers(String queue) throws IOException {
        return channel.consumerCount(queue);
    }

    /** One control command over the worker's control socket. */
    static JsonNode control(Path socket, String method, Map<String, Object> arguments) throws IOException {
        try (SocketChannel client = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            client.connect(UnixDomainSocketAddress.of(socket));
            Writer out = Channels.newWriter(client, StandardCharsets.UTF_8);
            ObjectNode request = JsonNodeFactory.instance.objectNode().put("method", method);
            request.set("arguments", Json.MAPPER.valueToTree(arguments));
            out.write(Json.string(request) + "\n");
            out.flush();
            BufferedReader in = new BufferedReader(Channels.newReader(client, StandardCharsets.UTF_8));
            return Json.MAPPER.readTree(in.readLine());
        }
    }

    static void await(BooleanSupplier condition, String what) {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError("timed out waiting for " + what);
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted waiting for " + what);
            }
        }
    }

    /** Polls {@code stats} until {@code condition} holds of it; returns the last answer. */
    static JsonNode awaitStats(Path socket, java.util.function.Predicate<JsonNode> condition, String what) {
        return awaitControl(socket, "stats", condition, what);
    }

    /** Polls control command {@code method} until {@code condition} holds of its answer; returns the last one. */
    static JsonNode awaitControl(Path socket, String method, java.util.function.Predicate<JsonNode> condition, String what) {
        JsonNode[] last = {null};
        await(() -> {
            try {
                last[0] = control(socket, method, Map.of());
            } catch (IOException e) {
                return false;
            }
            return condition.test(last[0]);
        }, what);
        return last[0];
    }

    @Override
    public void close() throws Exception {
        for (Worker worker : workers) {
            worker.stop(false);
        }
        connection.close();
        broker.close();
    }
}
