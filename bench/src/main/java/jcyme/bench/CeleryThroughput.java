package jcyme.bench;

import static jcyme.bench.Measure.await;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import jcyme.tasks.BrokerUrl;
import jcyme.tasks.Json;

/**
 * The same workload — N {@code tasks.fib(25)} published from Python Celery and awaited through
 * {@code rpc://}, and 10 N {@code tasks.noop()} with {@code ignore_result} — once through a Python
 * Celery worker (prefork) and once through a jcyme worker (threads), with the same concurrency, on
 * the same RabbitMQ, in the same run. Each worker runs two rounds. Cold: the queue is full before the
 * worker starts, so the figure includes whatever the worker does while it is new (the JVM compiling
 * its hot path). Warm: the same worker, once a second queue is full, is told to consume it with
 * Celery's {@code add_consumer}; the figure is its pace once it has run for a while.
 *
 * <p>Usage: {@code bench/run-celery [--broker URL] [--tasks N] [--concurrency C]}.
 */
public final class CeleryThroughput {
    private static final Path PYTHON = Path.of("/usr/bin/python3");
    /** The noop drain is this many times --tasks long (noops are that much quicker). */
    private static final int NOOP_FACTOR = 10;

    private final Path home = Path.of(System.getProperty("jcyme.home", ".")).toAbsolutePath();
    private final String broker;
    private final int concurrency;
    private final Path dir;

    /** Tasks/s of one worker's two rounds. */
    private record Rates(double cold, double warm) {}

    /** A load published to its own queue by a Python producer, which times the results unless they are ignored. */
    private record Load(String queue, Process producer, Path log) {}

    private CeleryThroughput(String broker, int concurrency, Path dir) {
        this.broker = broker;
        this.concurrency = concurrency;
        this.dir = dir;
    }

    public static void main(String[] args) throws Exception {
        jcyme.worker.Logging.configure(jcyme.worker.Logging.level("WARNING"), null);
        String broker = System.getenv().getOrDefault("JCYME_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//");
        int tasks = 2000;
        int concurrency = 2;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--broker" -> broker = args[++i];
                case "--tasks" -> tasks = Integer.parseInt(args[++i]);
                case "--concurrency" -> concurrency = Integer.parseInt(args[++i]);
                default -> {
                    System.err.println("usage: bench/run-celery [--broker URL] [--tasks N] [--concurrency C]");
                    System.exit(2);
                }
            }
        }
        CeleryThroughput bench = new CeleryThroughput(broker, concurrency, Files.createTempDirectory("jcyme-bench-celery"));
        List<String[]> rows = new ArrayList<>();
        List<String[]> workloads = List.of(new String[] {"tasks.fib", "25"}, new String[] {"tasks.noop", "--ignore-result"});
        for (String[] workload : workloads) {
            int count = workload[0].equals("tasks.noop") ? tasks * NOOP_FACTOR : tasks;
            Rates python = bench.run("python", workload, count);
            Rates jcyme = bench.run("jcyme", workload, count);
            String label = workload[0] + (workload[1].startsWith("--") ? "()" : "(" + workload[1] + ")");
            rows.add(row(label + " cold", count, python.cold(), jcyme.cold()));
            rows.add(row(label + " warm", count, python.warm(), jcyme.warm()));
        }
        System.out.printf(Locale.ROOT, "published from Python Celery before the worker consumes; concurrency %d; %s%n"
                + "tasks.fib(25): results via rpc://, timed first to last; tasks.noop(): ignore_result, timed by the queue's depth"
                + " from the first message taken to none left%n"
                + "cold: a new worker started on the full queue; warm: the same worker, told to consume a second full queue"
                + " with add_consumer%n", concurrency, jcyme.tasks.BrokerUrl.parse(broker).display());
        System.out.printf(Locale.ROOT, "%-20s %8s %16s %16s %12s%n", "workload", "tasks", "Python tasks/s", "jcyme tasks/s", "jcyme/Python");
        for (String[] row : rows) {
            System.out.printf(Locale.ROOT, "%-20s %8s %16s %16s %12s%n", (Object[]) row);
        }
    }

    private static String[] row(String label, int tasks, double python, double jcyme) {
        return new String[] {label, Integer.toString(tasks), String.format(Locale.ROOT, "%.0f", python),
                String.format(Locale.ROOT, "%.0f", jcyme), String.format(Locale.ROOT, "%.1f", jcyme / python)};
    }

    /**
     * Runs both rounds through one worker of the given kind: it starts on a full queue (cold), then
     * is told to consume a second one once that is full (warm). Returns tasks/s of each.
     */
    private Rates run(String kind, String[] workload, int tasks) throws Exception {
        Load first = publish(kind, workload, tasks);
        String node = first.queue() + "@bench";
        Path log = dir.resolve(kind + "-" + first.queue() + ".log");
        List<String> command = kind.equals("python")
                ? List.of(PYTHON.toString(), "-m", "celery", "-A", "interop", "worker", "-Q", first.queue(), "-c", Integer.toString(concurrency),
                        "-n", node, "-l", "WARNING", "--without-mingle", "--without-gossip", "--without-heartbeat")
                : WorkerThroughput.workerCommand(home, broker, first.queue(), concurrency, node);
        Process worker = python(new ProcessBuilder(command)).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        List<Load> loads = new ArrayList<>(List.of(first));
        try (Connection connection = BrokerUrl.parse(broker).connectionFactory(1000).newConnection("bench-celery")) {
            Channel channel = connection.createChannel();
            double cold = finish(channel, first, workload, tasks, log);
            Load second = publish(kind, workload, tasks);
            loads.add(second);
            WorkerThroughput.addConsumer(channel, node, second.queue());
            double warm = finish(channel, second, workload, tasks, log);
            return new Rates(cold, warm);
        } finally {
            loads.forEach(load -> load.producer().destroyForcibly());
            worker.destroy();
            if (!worker.waitFor(60, TimeUnit.SECONDS)) {
                worker.destroyForcibly();
            }
            deleteQueues(loads);
        }
    }

    /** Python publishes the load to a fresh queue; returns once all of it is there. */
    private Load publish(String kind, String[] workload, int tasks) throws Exception {
        String queue = "bench-celery-" + UUID.randomUUID().toString().substring(0, 8);
        List<String> load = new ArrayList<>(List.of(PYTHON.toString(), home.resolve("bench/python/celery_load.py").toString(),
                queue, workload[0], Integer.toString(tasks)));
        load.addAll(Arrays.asList(workload).subList(1, workload.length));
        System.err.println("bench: " + tasks + " x " + workload[0] + " through the " + kind + " worker...");
        Path producerLog = dir.resolve("producer-" + queue + ".log");
        Process producer = python(new ProcessBuilder(load)).redirectErrorStream(true).redirectOutput(producerLog.toFile()).start();
        await(() -> {
            if (!producer.isAlive() && producer.exitValue() != 0) {
                throw new IllegalStateException("the producer failed: " + Files.readString(producerLog));
            }
            return Files.readString(producerLog).contains("published");
        }, 300_000, "the load to be published");
        return new Load(queue, producer, producerLog);
    }

    /** Waits for the worker to get through a load; returns its tasks/s. */
    private double finish(Channel channel, Load load, String[] workload, int tasks, Path workerLog) throws Exception {
        if (Arrays.asList(workload).contains("--ignore-result")) {
            return drain(channel, load.queue(), tasks);
        }
        Process producer = load.producer();
        if (!producer.waitFor(15, TimeUnit.MINUTES) || producer.exitValue() != 0) {
            throw new IllegalStateException("the producer failed: " + Files.readString(load.log()) + "\nworker: " + Files.readString(workerLog));
        }
        String[] lines = Files.readString(load.log()).strip().split("\n");
        JsonNode result = Json.MAPPER.readTree(lines[lines.length - 1]);
        return result.path("per_second").asDouble();
    }

    /** Deletes the queues once the worker is gone (a queue deleted under a Celery consumer makes it reconnect). */
    private void deleteQueues(List<Load> loads) throws IOException, java.util.concurrent.TimeoutException {
        try (Connection connection = BrokerUrl.parse(broker).connectionFactory(1000).newConnection("bench-celery-cleanup")) {
            Channel channel = connection.createChannel();
            for (Load load : loads) {
                channel.queueDelete(load.queue());
            }
        }
    }

    /** Tasks/s of the worker draining {@code queue}, from the first message it takes to none left. */
    private static double drain(Channel channel, String queue, int tasks) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(15);
        long start = 0;
        int left;
        while ((left = channel.queueDeclarePassive(queue).getMessageCount()) > 0) {
            if (start == 0 && left < tasks) {
                start = System.nanoTime();
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("the worker did not drain " + queue);
            }
            Thread.sleep(5);
        }
        if (start == 0) {
            throw new IllegalStateException("the queue emptied between two looks: use a larger --tasks");
        }
        return tasks / ((System.nanoTime() - start) / 1e9);
    }


    private ProcessBuilder python(ProcessBuilder builder) throws IOException {
        builder.environment().put("JCYME_RABBITMQ_URL", broker);
        builder.environment().put("PYTHONPATH", home.resolve("examples/python").toString());
        builder.directory(dir.toFile());
        return builder;
    }
}
