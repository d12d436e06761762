package jcyme.bench;

import static jcyme.bench.Measure.await;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import jcyme.tasks.Json;

/**
 * The same workload — N {@code tasks.fib(25)} and N {@code tasks.noop()} published from Python
 * Celery and awaited through {@code rpc://} — once through a Python Celery worker (prefork) and
 * once through a jcyme worker (threads), with the same concurrency, on the same RabbitMQ, in the
 * same run. The queue is full before the worker starts, so the figure is the worker's pace.
 *
 * <p>Usage: {@code bench/run-celery [--broker URL] [--tasks N] [--concurrency C]}.
 */
public final class CeleryThroughput {
    private static final Path PYTHON = Path.of("/usr/bin/python3");

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
        String broker = System.getenv().getOrDefault("JCYME_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//");
        int tasks = 400;
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
        for (String[] workload : List.of(new String[] {"tasks.fib", "25"}, new String[] {"tasks.noop"})) {
            double python = bench.run("python", workload, tasks);
            double jcyme = bench.run("jcyme", workload, tasks);
            String label = workload[0] + (workload.length > 1 ? "(" + workload[1] + ")" : "()");
            rows.add(new String[] {label, String.format(Locale.ROOT, "%.0f", python), String.format(Locale.ROOT, "%.0f", jcyme),
                    String.format(Locale.ROOT, "%.1f", jcyme / python)});
        }
        System.out.printf(Locale.ROOT, "%d tasks per workload, published from Python Celery before the worker starts, results"
                + " via rpc:// timed first to last; concurrency %d; %s%n",
                tasks, concurrency, jcyme.tasks.BrokerUrl.parse(broker).display());
        System.out.printf(Locale.ROOT, "%-16s %16s %16s %12s%n", "workload", "Python tasks/s", "jcyme tasks/s", "jcyme/Python");
        for (String[] row : rows) {
            System.out.printf(Locale.ROOT, "%-16s %16s %16s %12s%n", (Object[]) row);
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
