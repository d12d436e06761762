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
 * the same RabbitMQ, in the same run. The queue is full before the worker starts, so the figure is
 * the worker's pace.
 *
 * <p>Usage: {@code bench/run-celery [--broker URL] [--tasks N] [--concurrency C]}.
 */
public final class CeleryThroughput {
    private static final Path PYTHON = Path.of("/usr/bin/python3");
    /** The noop drain is this many times --tasks long (noops are that much quicker). */
    private static final int NOOP_FACTOR = 10;

    private final Path home = Path.of(System.getProperty("jcyme.home", ".")).toAbsolutePath();
    private final Path java = Path.of(System.getProperty("java.home"), "bin", "java");
    private final String broker;
    private final int concurrency;
    private final Path dir;

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
            double python = bench.run("python", workload, count);
            double jcyme = bench.run("jcyme", workload, count);
            String label = workload[0] + (workload[1].startsWith("--") ? "()" : "(" + workload[1] + ")");
            rows.add(new String[] {label, Integer.toString(count), String.format(Locale.ROOT, "%.0f", python),
                    String.format(Locale.ROOT, "%.0f", jcyme), String.format(Locale.ROOT, "%.1f", jcyme / python)});
        }
        System.out.printf(Locale.ROOT, "published from Python Celery before the worker starts; concurrency %d; %s%n"
                + "tasks.fib(25): results via rpc://, timed first to last; tasks.noop(): ignore_result, timed by the queue's depth"
                + " from the first message taken to none left%n", concurrency, jcyme.tasks.BrokerUrl.parse(broker).display());
        System.out.printf(Locale.ROOT, "%-16s %8s %16s %16s %12s%n", "workload", "tasks", "Python tasks/s", "jcyme tasks/s", "jcyme/Python");
        for (String[] row : rows) {
            System.out.printf(Locale.ROOT, "%-16s %8s %16s %16s %12s%n", (Object[]) row);
        }
    }

    /**
     * Python publishes the load to a fresh queue first; then a worker of the given kind starts on
     * the full queue and the results are timed from the first to the last. Returns tasks/s.
     */
    private double run(String kind, String[] workload, int tasks) throws Exception {
        String queue = "bench-celery-" + UUID.randomUUID().toString().substring(0, 8);
        List<String> load = new ArrayList<>(List.of(PYTHON.toString(), home.resolve("bench/python/celery_load.py").toString(),
                queue, workload[0], Integer.toString(tasks)));
        for (int i = 1; i < workload.length; i++) {
            load.add(workload[i]);
        }
        System.err.println("bench: " + tasks + " x " + workload[0] + " through the " + kind + " worker...");
        Path producerLog = dir.resolve("producer-" + queue + ".log");
        Process producer = python(new ProcessBuilder(load)).redirectErrorStream(true).redirectOutput(producerLog.toFile()).start();
        await(() -> {
            if (!producer.isAlive() && producer.exitValue() != 0) {
                throw new IllegalStateException("the producer failed: " + Files.readString(producerLog));
            }
            return Files.readString(producerLog).contains("published");
        }, 300_000, "the load to be published");
        Path log = dir.resolve(kind + "-" + queue + ".log");
        List<String> command = kind.equals("python")
                ? List.of(PYTHON.toString(), "-m", "celery", "-A", "interop", "worker", "-Q", queue, "-c", Integer.toString(concurrency),
                        "-n", queue + "@%h", "-l", "WARNING", "--without-mingle", "--without-gossip", "--without-heartbeat")
                : jcymeWorker(queue);
        Process worker = python(new ProcessBuilder(command)).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            if (Arrays.asList(workload).contains("--ignore-result")) {
                return drain(queue, tasks);
            }
            if (!producer.waitFor(15, TimeUnit.MINUTES) || producer.exitValue() != 0) {
                throw new IllegalStateException("the producer failed: " + Files.readString(producerLog) + "\nworker: " + Files.readString(log));
            }
            String[] lines = Files.readString(producerLog).strip().split("\n");
            JsonNode result = Json.MAPPER.readTree(lines[lines.length - 1]);
            return result.path("per_second").asDouble();
        } finally {
            producer.destroyForcibly();
            worker.destroy();
            if (!worker.waitFor(60, TimeUnit.SECONDS)) {
                worker.destroyForcibly();
            }
        }
    }

    /** Tasks/s of the worker draining {@code queue}, from the first message it takes to none left. */
    private double drain(String queue, int tasks) throws Exception {
        try (Connection connection = BrokerUrl.parse(broker).connectionFactory(1000).newConnection("bench-celery-drain")) {
            Channel channel = connection.createChannel();
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
            double seconds = (System.nanoTime() - start) / 1e9;
            channel.queueDelete(queue);
            return tasks / seconds;
        }
    }

    /** A jcyme worker started as a branch starts its instances (same JVM options), without task events as the Python one. */
    private List<String> jcymeWorker(String queue) {
        List<String> command = new ArrayList<>(List.of(java.toString()));
        command.addAll(WorkerThroughput.WORKER_JVM);
        command.addAll(List.of("-cp", home.resolve("dist/lib") + "/*", "jcyme.worker.WorkerMain",
                "-b", broker, "-Q", queue, "-c", Integer.toString(concurrency), "-n", queue + "@%h", "-l", "WARNING"));
        return command;
    }

    private ProcessBuilder python(ProcessBuilder builder) throws IOException {
        builder.environment().put("JCYME_RABBITMQ_URL", broker);
        builder.environment().put("PYTHONPATH", home.resolve("examples/python").toString());
        builder.directory(dir.toFile());
        return builder;
    }
}
