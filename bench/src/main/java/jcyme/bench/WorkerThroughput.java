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
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import jcyme.broker.EmbeddedBroker;
import jcyme.tasks.BrokerUrl;
import jcyme.tasks.TaskProducer;
import jcyme.tasks.TaskRequest;
import jcyme.worker.Logging;

/**
 * Noop tasks per second through one jcyme worker, beside the floor: a raw amqp-client loop that
 * drains the same kind of pre-filled queue with manual acks, on the same broker, in the same run;
 * and the same worker with task events on ({@code -E}, as a branch starts its instances).
 *
 * <p>Usage: {@code bench/run [--broker URL] [--tasks N] [--concurrency C] [--rounds R]}. Without
 * {@code --broker} it starts the embedded broker in this JVM.
 */
public final class WorkerThroughput {
    private final String brokerUrl;
    private final int tasks;
    private final int concurrency;
    private final Path home;

    private WorkerThroughput(String brokerUrl, int tasks, int concurrency, Path home) {
        this.brokerUrl = brokerUrl;
        this.tasks = tasks;
        this.concurrency = concurrency;
        this.home = home;
    }

    public static void main(String[] args) throws Exception {
        Logging.configure(Logging.level("WARNING"), null);
        String broker = null;
        int tasks = 20_000;
        int concurrency = 4;
        int rounds = 3;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--broker" -> broker = args[++i];
                case "--tasks" -> tasks = Integer.parseInt(args[++i]);
                case "--concurrency" -> concurrency = Integer.parseInt(args[++i]);
                case "--rounds" -> rounds = Integer.parseInt(args[++i]);
                default -> {
                    System.err.println("usage: bench/run [--broker URL] [--tasks N] [--concurrency C] [--rounds R]");
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
            new WorkerThroughput(broker, tasks, concurrency, home).run(rounds, embedded != null);
        } finally {
            if (embedded != null) {
                embedded.close();
            }
        }
    }

    private void run(int rounds, boolean embedded) throws Exception {
        System.out.printf(Locale.ROOT, "broker: %s (%s); %d noop tasks per round; worker -c %d, prefetch %d%n",
                BrokerUrl.parse(brokerUrl).display(), embedded ? "embedded, in this JVM" : "external",
                tasks, concurrency, concurrency * 4);
        System.out.printf(Locale.ROOT, "%-6s %18s %18s %8s %18s %10s%n", "round", "raw consume+ack/s", "jcyme worker/s", "ratio",
                "with -E/s", "-E ratio");
        List<Double> ratios = new ArrayList<>();
        List<Double> eventRatios = new ArrayList<>();
        for (int round = 1; round <= rounds; round++) {
            double raw = rawConsumeAck();
            double worker = workerDrain(false);
            double withEvents = workerDrain(true);
            double ratio = worker / raw;
            ratios.add(ratio);
            eventRatios.add(withEvents / worker);
            System.out.printf(Locale.ROOT, "%-6d %18.0f %18.0f %8.2f %18.0f %10.2f%n", round, raw, worker, ratio, withEvents,
                    withEvents / worker);
        }
        ratios.sort(Double::compare);
        eventRatios.sort(Double::compare);
        System.out.printf(Locale.ROOT, "median ratio jcyme/raw: %.2f (round 1 includes JIT warm-up)%n",
                ratios.get(ratios.size() / 2));
        System.out.printf(Locale.ROOT, "median ratio with task events (-E, followed as a branch does) / without: %.2f%n",
                eventRatios.get(eventRatios.size() / 2));
    }

    /** Fills a fresh queue with {@code tasks} noop task messages; returns its name. */
    private String fill(TaskProducer producer) throws IOException {
        String queue = "bench-" + UUID.randomUUID().toString().substring(0, 8);
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

    /** The floor: one consumer, manual ack per message, prefetch as the worker's. */
    private double rawConsumeAck() throws Exception {
        try (Connection connection = BrokerUrl.parse(brokerUrl).connectionFactory(1000).newConnection("bench-raw");
             TaskProducer producer = TaskProducer.over(connection)) {
            String queue = fill(producer);
            Channel channel = connection.createChannel();
            channel.basicQos(concurrency * 4, true);
            CountDownLatch done = new CountDownLatch(tasks);
            long start = System.nanoTime();
            channel.basicConsume(queue, false, new DefaultConsumer(channel) {
                @Override
                public void handleDelivery(String tag, Envelope envelope, AMQP.BasicProperties props, byte[] body)
                        throws IOException {
                    channel.basicAck(envelope.getDeliveryTag(), false);
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
     * One worker JVM drains a pre-filled queue; timed from its ready to the queue being empty. With
     * {@code events} it runs with {@code -E}, and a follower consumes the celeryev exchange as a
     * branch does (an exclusive queue bound with {@code #}), so the broker routes and delivers them.
     */
    private double workerDrain(boolean events) throws Exception {
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
            List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-XX:+UseSerialGC", "-XX:-UsePerfData", "-cp", home.resolve("dist/lib") + "/*",
                    "jcyme.worker.WorkerMain", "-b", brokerUrl, "-Q", queue, "-c", Integer.toString(concurrency),
                    "-n", queue, "--pidfile", pidfile.toString(), "--logfile", dir.resolve("worker.log").toString(),
                    "-l", "WARNING"));
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
                long start = System.nanoTime();
                Channel channel = connection.createChannel();
                while (channel.queueDeclarePassive(queue).getMessageCount() > 0) {
                    Thread.sleep(10);
                }
                double seconds = (System.nanoTime() - start) / 1e9;
                channel.queueDelete(queue);
                return tasks / seconds;
            } finally {
                worker.destroy();
                worker.waitFor(30, TimeUnit.SECONDS);
            }
        }
    }
}
