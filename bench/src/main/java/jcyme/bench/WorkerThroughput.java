package jcyme.bench;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.DefaultConsumer;
import com.rabbitmq.client.Envelope;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import jcyme.broker.EmbeddedBroker;
import jcyme.tasks.BrokerUrl;
import jcyme.tasks.Json;
import jcyme.tasks.TaskProducer;
import jcyme.tasks.TaskRequest;
import jcyme.worker.Logging;

/**
 * Noop tasks per second through one jcyme worker, beside two raw amqp-client consumers that drain
 * the same kind of pre-filled queue on the same broker in the same run: one acking each message
 * (prefetch 16), and the best tuned form (prefetch 200, one {@code multiple} ack every 50); and the
 * same worker with task events on ({@code -E}, as a branch starts its instances).
 *
 * <p>Usage: {@code bench/run [--broker URL] [--tasks N] [--concurrency C[,C...]] [--rounds R]}.
 * Without {@code --broker} it starts the embedded broker in this JVM.
 */
public final class WorkerThroughput {
    /** The raw consumer acking each message: prefetch as a Celery worker -c 4 has it. */
    static final int RAW_PREFETCH = 16;
    /** The best raw consumer measured on RabbitMQ: a wide prefetch and one multiple ack per batch. */
    static final int BEST_PREFETCH = 200;
    static final int BEST_ACK_EVERY = 50;
    /** The JVM options a branch starts its workers with, so the worker runs as it does there. */
    private static final List<String> WORKER_JVM = jcyme.branch.Branch.WORKER_JVM_OPTIONS;

    private final String brokerUrl;
    private final int tasks;
    private final Path home;

    private WorkerThroughput(String brokerUrl, int tasks, Path home) {
        this.brokerUrl = brokerUrl;
        this.tasks = tasks;
        this.home = home;
    }

    public static void main(String[] args) throws Exception {
        Logging.configure(Logging.level("WARNING"), null);
        String broker = null;
        int tasks = 20_000;
        List<Integer> concurrency = List.of(2, 4);
        int rounds = 3;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--broker" -> broker = args[++i];
                case "--tasks" -> tasks = Integer.parseInt(args[++i]);
                case "--concurrency" -> concurrency = Arrays.stream(args[++i].split(",")).map(String::trim).map(Integer::valueOf).toList();
                case "--rounds" -> rounds = Integer.parseInt(args[++i]);
                default -> {
                    System.err.println("usage: bench/run [--broker URL] [--tasks N] [--concurrency C[,C...]] [--rounds R]");
                    System.exit(2);
                }
            }
        }
        Path home = Path.of(System.getProperty("jcyme.home", ".")).toAbsolutePath();
        EmbeddedBroker embedded = null;
        if (broker == null) {
            embedded = EmbeddedBroker.start(0, null);
            broker = embedded.amqpUrl();
        }
        try {
            new WorkerThroughput(broker, tasks, home).run(rounds, concurrency, embedded != null);
        } finally {
            if (embedded != null) {
                embedded.close();
            }
        }
    }

    private void run(int rounds, List<Integer> concurrency, boolean embedded) throws Exception {
        System.out.printf(Locale.ROOT, "broker: %s (%s); %d noop tasks (ignore_result) per drain, queue filled before the consumer starts%n",
                BrokerUrl.parse(brokerUrl).display(), embedded ? "embedded, in this JVM" : "external", tasks);
        System.out.printf(Locale.ROOT, "raw ack-each: amqp-client, prefetch %d, one ack per message; raw best: prefetch %d, one multiple"
                + " ack every %d; jcyme: a worker JVM -c C (cold: its first drain, from ready; warm: a second queue bound live"
                + " with add_consumer); -E: the same with task events%n", RAW_PREFETCH, BEST_PREFETCH, BEST_ACK_EVERY);
        System.out.printf(Locale.ROOT, "%-6s %3s %14s %12s %12s %12s %10s %12s %10s%n", "round", "-c", "raw ack-each/s", "raw best/s",
                "jcyme cold/s", "jcyme warm/s", "warm/best", "-E warm/s", "-E/off");
        Map<Integer, List<Double>> ratios = new TreeMap<>();
        Map<Integer, List<Double>> coldRatios = new TreeMap<>();
        Map<Integer, List<Double>> eventRatios = new TreeMap<>();
        for (int round = 1; round <= rounds; round++) {
            double each = rawConsumeAck(RAW_PREFETCH, 1);
            double best = rawConsumeAck(BEST_PREFETCH, BEST_ACK_EVERY);
            for (int c : concurrency) {
                Drain worker = workerDrain(c, false);
                Drain withEvents = workerDrain(c, true);
                ratios.computeIfAbsent(c, k -> new ArrayList<>()).add(worker.warm() / best);
                coldRatios.computeIfAbsent(c, k -> new ArrayList<>()).add(worker.cold() / best);
                eventRatios.computeIfAbsent(c, k -> new ArrayList<>()).add(withEvents.warm() / worker.warm());
                System.out.printf(Locale.ROOT, "%-6d %3d %14.0f %12.0f %12.0f %12.0f %10.2f %12.0f %10.2f%n", round, c, each, best,
                        worker.cold(), worker.warm(), worker.warm() / best, withEvents.warm(), withEvents.warm() / worker.warm());
            }
        }
        for (int c : concurrency) {
            System.out.printf(Locale.ROOT, "median -c %d: jcyme warm / best raw consumer %.2f (cold %.2f); with task events / without %.2f%n",
                    c, Measure.percentile(ratios.get(c), 50), Measure.percentile(coldRatios.get(c), 50),
                    Measure.percentile(eventRatios.get(c), 50));
        }
        System.out.println("(round 1 includes JIT warm-up of this JVM's raw consumers)");
    }

    /** Fills a fresh queue with {@code tasks} noop task messages; returns its name. */
    private String fill(TaskProducer producer) throws IOException {
        return fill(producer, "bench-", tasks);
    }

    /** Fills a fresh queue named {@code prefix} and a random suffix with {@code tasks} noop task messages (ignore_result); returns its name. */
    static String fill(TaskProducer producer, String prefix, int tasks) throws IOException {
        String queue = prefix + UUID.randomUUID().toString().substring(0, 8);
        List<TaskRequest> batch = new ArrayList<>(1000);
        for (int i = 0; i < tasks; i++) {
            batch.add(TaskRequest.of("tasks.noop").queue(queue).ignoreResult(true).build());
            if (batch.size() == 1000 || i == tasks - 1) {
                producer.sendAll(batch);
                batch.clear();
            }
        }
        return queue;
    }

    /**
     * A raw consumer: prefetch {@code prefetch}, one ack per message ({@code ackEvery} 1) or one
     * multiple ack per {@code ackEvery} messages (and for the last).
     */
    private double rawConsumeAck(int prefetch, int ackEvery) throws Exception {
        try (Connection connection = BrokerUrl.parse(brokerUrl).connectionFactory(1000).newConnection("bench-raw");
             TaskProducer producer = TaskProducer.over(connection)) {
            String queue = fill(producer);
            Channel channel = connection.createChannel();
            channel.basicQos(prefetch, true);
            CountDownLatch done = new CountDownLatch(tasks);
            long start = System.nanoTime();
            channel.basicConsume(queue, false, new DefaultConsumer(channel) {
                private int received;

                @Override
                public void handleDelivery(String tag, Envelope envelope, AMQP.BasicProperties props, byte[] body)
                        throws IOException {
                    received++;
                    if (received % ackEvery == 0 || received == tasks) {
                        channel.basicAck(envelope.getDeliveryTag(), ackEvery > 1);
                    }
                    done.countDown();
                }
            });
            if (!done.await(10, TimeUnit.MINUTES)) {
                throw new IllegalStateException("raw consumer did not drain the queue");
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            channel.queueDelete(queue);
            return tasks / seconds;
        }
    }

    /**
     * A worker JVM from {@code home}'s dist, started with a branch's JVM options, consuming {@code
     * queue} with {@code concurrency} threads as node {@code node}, logging warnings only; no task events.
     */
    static List<String> workerCommand(Path home, String broker, String queue, int concurrency, String node) {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        command.addAll(WORKER_JVM);
        command.addAll(List.of("-cp", home.resolve("dist/lib") + "/*", "jcyme.worker.WorkerMain", "-b", broker, "-Q", queue,
                "-c", Integer.toString(concurrency), "-n", node, "-l", "WARNING"));
        return command;
    }

    /** Tasks/s of one worker JVM: cold (its first drain, from ready) and warm (a second drain, as a long-running worker). */
    record Drain(double cold, double warm) {}

    /**
     * One worker JVM drains a pre-filled queue, timed from its ready to the queue holding no ready
     * message (the last prefetched few may still be running then): that is the cold figure, with the
     * JVM compiling its hot path as it goes. Then a second queue is filled while the worker does not
     * consume it, bound live with Celery's {@code add_consumer} over the pidbox, and drained: the warm
     * figure, what a worker that has run for a while does, and what the raw consumers (warm in this JVM)
     * are held against. With {@code events} it runs with {@code -E}, and a follower consumes the
     * celeryev exchange as a branch does (an exclusive queue bound with {@code #}), so the broker
     * routes and delivers them.
     */
    private Drain workerDrain(int concurrency, boolean events) throws Exception {
        try (Connection connection = BrokerUrl.parse(brokerUrl).connectionFactory(1000).newConnection("bench-worker");
             TaskProducer producer = TaskProducer.over(connection)) {
            String queue = fill(producer);
            if (events) {
                Channel follower = connection.createChannel();
                follower.exchangeDeclare("celeryev", "topic", true);
                String eventQueue = follower.queueDeclare("celeryev." + UUID.randomUUID(), false, true, true, null).getQueue();
                follower.queueBind(eventQueue, "celeryev", "#");
                follower.basicConsume(eventQueue, true, new DefaultConsumer(follower));
            }
            Path dir = Files.createTempDirectory("jcyme-bench");
            Path pidfile = dir.resolve("worker.pid");
            List<String> command = workerCommand(home, brokerUrl, queue, concurrency, queue + "@bench");
            command.addAll(List.of("--pidfile", pidfile.toString(), "--logfile", dir.resolve("worker.log").toString()));
            if (events) {
                command.add("-E");
            }
            Process worker = new ProcessBuilder(command)
                    .redirectErrorStream(true).redirectOutput(dir.resolve("stdout.log").toFile()).start();
            try {
                long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
                while (!Files.exists(pidfile)) {
                    if (!worker.isAlive() || System.nanoTime() > deadline) {
                        throw new IllegalStateException("worker did not start; see " + dir);
                    }
                    Thread.sleep(5);
                }
                Channel channel = connection.createChannel();
                double cold = tasks / secondsToEmpty(channel, queue, System.nanoTime());
                String second = fill(producer);
                long start = System.nanoTime();
                addConsumer(channel, queue + "@bench", second);
                double warm = tasks / secondsToEmpty(channel, second, start);
                channel.queueDelete(queue);
                channel.queueDelete(second);
                return new Drain(cold, warm);
            } finally {
                worker.destroy();
                worker.waitFor(30, TimeUnit.SECONDS);
            }
        }
    }

    private static double secondsToEmpty(Channel channel, String queue, long start) throws Exception {
        while (channel.queueDeclarePassive(queue).getMessageCount() > 0) {
            Thread.sleep(10);
        }
        return (System.nanoTime() - start) / 1e9;
    }

    /** Celery's {@code add_consumer} control command to one node, over the broker's pidbox. */
    static void addConsumer(Channel channel, String node, String queue) throws IOException {
        byte[] body = Json.MAPPER.writeValueAsBytes(Map.of("method", "add_consumer", "arguments", Map.of("queue", queue),
                "destination", List.of(node)));
        channel.basicPublish("celery.pidbox", "", new AMQP.BasicProperties.Builder().contentType("application/json")
                .contentEncoding("utf-8").build(), body);
    }
}
