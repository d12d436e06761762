package jcyme.bench;

import static jcyme.bench.Measure.await;
import static jcyme.bench.Measure.percentile;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import jcyme.tasks.BrokerUrl;
import jcyme.tasks.TaskProducer;
import jcyme.tasks.TaskRequest;
import jcyme.worker.Logging;

/**
 * A worker's noop pace under the faults it meets every day, same worker JVM and run: before,
 * after a RabbitMQ restart ({@code restart-app}: every connection dropped, durable queues and
 * messages kept), and then while one task is held for a day-long countdown. Each drain is a fresh
 * queue filled while the worker does not consume it, then bound live with {@code add_consumer}
 * and timed until it holds no ready message; the worker's RSS is read after each phase, and its
 * log is searched for ERROR lines at the end. The held phase is also shown against the phase just
 * before it (after the restart): on a shared machine the pace drifts between phases far apart.
 *
 * <p>Usage: {@code bench/run-faults [--tasks N] [--concurrency C] [--rounds R]}; the script starts
 * the RabbitMQ node of its own that this restarts (never the tests' node).
 */
public final class PaceUnderFaults {
    /** How far ahead the held task's countdown runs: it never comes due during the run. */
    static final Duration HELD_COUNTDOWN = Duration.ofDays(1);
    /** Drains per phase, of which the fastest counts. */
    static final int DRAINS_PER_PHASE = 2;
    /** How long a restarted broker and the worker's reconnect may take. */
    static final Duration RECONNECT_TIMEOUT = Duration.ofSeconds(120);
    /** How long one drain may take. */
    static final Duration DRAIN_TIMEOUT = Duration.ofMinutes(10);

    private final String brokerUrl;
    private final List<String> restartCommand;
    private final int tasks;
    private final int concurrency;
    private final Path home;
    /** The queues filled in this run, deleted at its end. */
    private final List<String> queues = new ArrayList<>();

    private PaceUnderFaults(String brokerUrl, List<String> restartCommand, int tasks, int concurrency, Path home) {
        this.brokerUrl = brokerUrl;
        this.restartCommand = restartCommand;
        this.tasks = tasks;
        this.concurrency = concurrency;
        this.home = home;
    }

    /** One worker's run: tasks/s and RSS (MiB) after each drain, and the ERROR lines of its log. */
    record Run(double before, double afterRestart, double held, double rssBefore, double rssAfter, double rssHeld, long errors) {}

    public static void main(String[] args) throws Exception {
        Logging.configure(Logging.level("WARNING"), null);
        String broker = null;
        String restart = null;
        int tasks = 20_000;
        int concurrency = 2;
        int rounds = 3;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--broker" -> broker = args[++i];
                case "--restart" -> restart = args[++i];
                case "--tasks" -> tasks = Integer.parseInt(args[++i]);
                case "--concurrency" -> concurrency = Integer.parseInt(args[++i]);
                case "--rounds" -> rounds = Integer.parseInt(args[++i]);
                default -> {
                    System.err.println("usage: bench/run-faults [--tasks N] [--concurrency C] [--rounds R]");
                    System.exit(2);
                }
            }
        }
        if (broker == null || restart == null) {
            System.err.println("bench/run-faults: --broker and --restart are set by the script");
            System.exit(2);
        }
        Path home = Path.of(System.getProperty("jcyme.home", ".")).toAbsolutePath();
        new PaceUnderFaults(broker, List.of(restart.split(" ")), tasks, concurrency, home).run(rounds);
    }

    private void run(int rounds) throws Exception {
        System.out.printf(Locale.ROOT, "broker: %s (RabbitMQ of the bench's own); %d noop tasks (ignore_result) per drain; one worker"
                + " JVM -c %d per round: warm-up drains, then before, after a RabbitMQ restart-app, and then while one task is"
                + " held for a %d-day countdown (each the faster of %d drains)%n", BrokerUrl.parse(brokerUrl).display(), tasks,
                concurrency, HELD_COUNTDOWN.toDays(), DRAINS_PER_PHASE);
        System.out.printf(Locale.ROOT, "%-6s %10s %10s %10s %8s %8s %8s %11s %11s %11s %7s%n", "round", "before/s", "after/s", "held/s",
                "after/b", "held/b", "held/a", "RSS before", "RSS after", "RSS held", "ERRORs");
        List<Double> heldRatios = new ArrayList<>();
        List<Double> afterRatios = new ArrayList<>();
        List<Double> heldToAfter = new ArrayList<>();
        List<Double> rssGrowth = new ArrayList<>();
        for (int round = 1; round <= rounds; round++) {
            Run run = oneWorker(round);
            heldRatios.add(run.held() / run.before());
            afterRatios.add(run.afterRestart() / run.before());
            heldToAfter.add(run.held() / run.afterRestart());
            rssGrowth.add(run.rssHeld() - run.rssBefore());
            System.out.printf(Locale.ROOT, "%-6d %10.0f %10.0f %10.0f %8.2f %8.2f %8.2f %7.0f MiB %7.0f MiB %7.0f MiB %7d%n", round,
                    run.before(), run.afterRestart(), run.held(), run.afterRestart() / run.before(), run.held() / run.before(),
                    run.held() / run.afterRestart(),
                    run.rssBefore(), run.rssAfter(), run.rssHeld(), run.errors());
        }
        System.out.printf(Locale.ROOT, "median: after restart/before %.2f, held/before %.2f, held/after restart (the phase just before) %.2f,"
                + " RSS at the end - before %+.0f MiB%n", percentile(afterRatios, 50), percentile(heldRatios, 50),
                percentile(heldToAfter, 50), percentile(rssGrowth, 50));
    }

    private Run oneWorker(int round) throws Exception {
        Path dir = Files.createTempDirectory("jcyme-bench-faults");
        Path pidfile = dir.resolve("worker.pid");
        Path log = dir.resolve("worker.log");
        Side side = Side.open(brokerUrl);
        String first = fill(side.producer());
        String node = first + "@bench";
        List<String> command = WorkerThroughput.workerCommand(home, brokerUrl, first, concurrency, node);
        command.addAll(List.of("--pidfile", pidfile.toString(), "--logfile", log.toString()));
        Process worker = new ProcessBuilder(command)
                .redirectErrorStream(true).redirectOutput(dir.resolve("stdout.log").toFile()).start();
        try {
            await(() -> Files.exists(pidfile) || !worker.isAlive(), 60_000, "the worker's pid file");
            if (!worker.isAlive()) {
                throw new IllegalStateException("worker did not start; see " + dir);
            }
            secondsToEmpty(side.channel(), first, System.nanoTime()); // warm-up: the JVM compiles its hot path
            drain(side, node);
            double before = drain(side, node);
            double rssBefore = rssMiB(worker);
            side.close();
            restartBroker();
            side = Side.open(brokerUrl);
            awaitConsumer(side.channel(), first);
            double after = drain(side, node);
            double rssAfter = rssMiB(worker);
            side.producer().send(TaskRequest.of("tasks.noop").queue(first).ignoreResult(true).countdown(HELD_COUNTDOWN).build());
            awaitConsumer(side.channel(), first);
            double held = drain(side, node);
            double rssHeld = rssMiB(worker);
            long errors;
            try (var lines = Files.lines(log)) {
                errors = lines.filter(line -> line.contains(" ERROR ")).count();
            }
            if (errors > 0) {
                System.out.println("ERROR lines in the worker's log: " + log);
            }
            return new Run(before, after, held, rssBefore, rssAfter, rssHeld, errors);
        } finally {
            worker.destroy();
            worker.waitFor(30, TimeUnit.SECONDS);
            for (String queue : queues) {
                side.channel().queueDelete(queue);
            }
            queues.clear();
            side.close();
        }
    }

    /** The bench's own connection: a producer that fills queues, and a channel that reads their depth. */
    private record Side(Connection connection, TaskProducer producer, Channel channel) {
        /** Connects, waiting for a broker that is starting. */
        static Side open(String brokerUrl) throws Exception {
            long deadline = System.nanoTime() + RECONNECT_TIMEOUT.toNanos();
            while (true) {
                try {
                    Connection connection = BrokerUrl.parse(brokerUrl).connectionFactory(1000).newConnection("bench-faults");
                    return new Side(connection, TaskProducer.over(connection), connection.createChannel());
                } catch (IOException | java.util.concurrent.TimeoutException e) {
                    if (System.nanoTime() > deadline) {
                        throw e;
                    }
                    Thread.sleep(100);
                }
            }
        }

        void close() {
            if (connection.isOpen()) {
                try {
                    connection.close(1000);
                } catch (IOException | RuntimeException e) {
                    connection.abort(1000);
                }
            }
        }
    }

    /**
     * The pace of one phase: the faster of {@link #DRAINS_PER_PHASE} drains, each a fresh queue
     * filled, bound to the worker with {@code add_consumer}, and timed to empty (tasks/s); on a
     * shared machine the slower one is mostly what else ran. The queues stay until the worker has
     * stopped (a queue deleted under a consumer is a fault of another kind).
     */
    private double drain(Side side, String node) throws Exception {
        double best = 0;
        for (int i = 0; i < DRAINS_PER_PHASE; i++) {
            String queue = fill(side.producer());
            long start = System.nanoTime();
            WorkerThroughput.addConsumer(side.channel(), node, queue);
            best = Math.max(best, tasks / secondsToEmpty(side.channel(), queue, start));
        }
        return best;
    }

    private String fill(TaskProducer producer) throws IOException {
        String queue = WorkerThroughput.fill(producer, "faults-", tasks);
        queues.add(queue);
        return queue;
    }

    private static double secondsToEmpty(Channel channel, String queue, long start) throws Exception {
        await(() -> channel.queueDeclarePassive(queue).getMessageCount() == 0, DRAIN_TIMEOUT.toMillis(), "queue " + queue + " to drain");
        return (System.nanoTime() - start) / 1e9;
    }

    /** The worker consumes {@code queue} and has taken what it held (the countdown task, once sent). */
    private static void awaitConsumer(Channel channel, String queue) throws Exception {
        await(() -> {
            var ok = channel.queueDeclarePassive(queue);
            return ok.getConsumerCount() > 0 && ok.getMessageCount() == 0;
        }, RECONNECT_TIMEOUT.toMillis(), 50, "the worker to consume " + queue);
    }

    private void restartBroker() throws Exception {
        Process restart = new ProcessBuilder(restartCommand).inheritIO().start();
        if (!restart.waitFor(RECONNECT_TIMEOUT.toSeconds(), TimeUnit.SECONDS) || restart.exitValue() != 0) {
            throw new IllegalStateException("broker restart failed: " + restartCommand);
        }
    }

    private static double rssMiB(Process worker) {
        ProcStats.Reading reading = ProcStats.read(worker.pid());
        return reading == null ? Double.NaN : reading.rssBytes() / (1024.0 * 1024.0);
    }
}
