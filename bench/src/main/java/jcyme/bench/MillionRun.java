package jcyme.bench;

import static jcyme.bench.Measure.await;
import static jcyme.bench.Measure.clusterPort;
import static jcyme.bench.Measure.freePort;

import com.fasterxml.jackson.databind.JsonNode;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import jcyme.tasks.BrokerUrl;
import jcyme.tasks.CeleryQueue;
import jcyme.tasks.Json;
import jcyme.tasks.TaskProducer;
import jcyme.tasks.TaskRequest;
import jcyme.tasks.TaskResult;
import jcyme.tasks.TaskState;
import jcyme.worker.Logging;

/**
 * The seed's headline run through the real system: two branch JVMs clustered over TCP, one app,
 * three queues, an instance on each branch consuming all three; producer threads publish N tasks
 * round-robin to the queues in Celery's protocol with an rpc-style reply queue, and every result
 * is collected by id. Once a second it samples tasks/s, queue depth, and RSS and CPU of every
 * process (the branches, the workers, this producer); at a quarter, half and three quarters of the
 * results it reads each JVM's live heap after a full GC. It prints the figures, writes a CSV and a
 * PNG plot, and exits non-zero when a task was lost or failed or memory grew with the task count.
 *
 * <p>Usage: {@code bench/run-million [--tasks N] [--task fib|noop] [--noop] [--fib-n N] [--producers P]
 * [--concurrency C] [--broker URL] [--out DIR] [--screenshot] [--stall-secs S]}.
 */
public final class MillionRun {
    static final String APP = "million";
    static final int QUEUES = 3;
    /** Tasks per publish: one broker confirm is awaited per batch. */
    static final int PUBLISH_BATCH = 100;
    static final Duration SAMPLE_INTERVAL = Duration.ofSeconds(1);
    /** Results a producer's own map keeps, and for how long (this run counts results by id itself). */
    static final Duration PRODUCER_RESULT_TTL = Duration.ofSeconds(1);
    static final int PRODUCER_MAX_RESULTS = 10_000;
    /** Fractions of the results at which every JVM's live heap is read (and once more when the run is over and quiet). */
    static final double[] HEAP_CHECKPOINTS = {0.25, 0.5, 0.75};
    /**
     * Growth of the live heap that still counts as flat: this, or 10 %. Growth is the reading after
     * the run (nothing in flight) over the lowest reading during it — readings during the run also
     * hold whatever is in flight (prefetched tasks, event batches), which is bounded but varies.
     */
    static final long HEAP_SLACK_BYTES = 8L << 20;
    /** After the last result: how long to wait for the branches to finish the events behind it. */
    static final Duration QUIET_TIMEOUT = Duration.ofSeconds(60);
    /** A process counts as quiet below this CPU share (% of one core) over a sample. */
    static final double QUIET_CPU_PCT = 10;
    /**
     * Growth of the resident memory outside the heap (after the run over the first reading) that
     * still counts as flat: this, or 10 % (the JIT keeps compiling for a while). A JVM's whole RSS is
     * no verdict: it rises while the heap committed at start gets touched, leak or not.
     */
    static final long NON_HEAP_SLACK_BYTES = 16L << 20;
    static final Duration BRANCH_READY_TIMEOUT = Duration.ofSeconds(90);
    static final Duration INSTANCE_RUNNING_TIMEOUT = Duration.ofSeconds(60);
    static final Duration TEARDOWN_TIMEOUT = Duration.ofSeconds(30);
    static final List<String> BRANCH_JVM = List.of("-XX:+UseSerialGC", "-XX:-UsePerfData", "-Xmx256m");
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    /** What to run. */
    record Options(int tasks, String task, int fibN, int producers, int concurrency, String broker, Path out,
                   boolean screenshot, int stallSeconds) {}

    /** One sample: counts so far, the rate since the last sample, depth per queue, and per process RSS and CPU. */
    record Sample(double seconds, long published, long completed, double rate, long[] depth, double[] rssMiB, double[] cpuPct) {
        double depthTotal() {
            return Arrays.stream(depth).sum();
        }
    }

    /** A watched process: its name and where its pid comes from (a worker's may change). */
    private record Watched(String name, PidSource pid) {}

    private interface PidSource {
        long pid();
    }

    /** A memory reading of one process (after a full GC) at a point of the run. */
    record HeapPoint(long completed, long bytes, long nonHeapRss) {}

    /** A branch JVM of this run. */
    private record Member(String id, int port, Path dataDir, Process process, Path out) {
        String url() {
            return "http://127.0.0.1:" + port;
        }
    }

    private final Options options;
    /** The distribution the branches run from: {@code jcyme.dist}, else the checkout's dist/. */
    private final Path dist = Path.of(System.getProperty("jcyme.dist",
            Path.of(System.getProperty("jcyme.home", ".")).resolve("dist").toString())).toAbsolutePath();
    private final Path javaBin = Path.of(System.getProperty("java.home"), "bin", "java");
    private final String tag = UUID.randomUUID().toString().substring(0, 8);
    private final List<String> queues = new ArrayList<>();
    private final List<Member> members = new CopyOnWriteArrayList<>();
    private final List<TaskProducer> producers = new CopyOnWriteArrayList<>();
    private final List<Watched> watched = new ArrayList<>();
    private final List<Sample> samples = new CopyOnWriteArrayList<>();
    private final Map<String, List<HeapPoint>> heap = new ConcurrentHashMap<>();
    private final AtomicIntegerArray seen;
    private final AtomicLong published = new AtomicLong();
    private final AtomicLong completed = new AtomicLong();
    private final AtomicLong duplicates = new AtomicLong();
    private final AtomicLong failed = new AtomicLong();
    private final AtomicLong foreign = new AtomicLong();
    private final AtomicReference<String> firstFailure = new AtomicReference<>();
    private final AtomicReference<Throwable> producerError = new AtomicReference<>();
    private final ConcurrentLinkedQueue<String> notes = new ConcurrentLinkedQueue<>();
    private final ExecutorService background = Executors.newSingleThreadExecutor(r -> daemon(r, "million-heap"));
    private final Object teardownLock = new Object();
    private final long expected;
    private Path dataRoot;
    private Connection monitor;
    private Channel monitorChannel;
    private PrintWriter csv;
    private boolean tornDown;
    private int nextCheckpoint;
    private Thread shooter;
    private Path screenshot;

    private MillionRun(Options options) {
        this.options = options;
        this.seen = new AtomicIntegerArray(options.tasks());
        this.expected = options.task().equals("tasks.fib") ? fib(options.fibN()) : 0;
    }

    public static void main(String[] args) throws Exception {
        System.setProperty("java.awt.headless", "true");
        Logging.configure(Logging.level("WARNING"), null);
        Options options = parse(args);
        MillionRun run = new MillionRun(options);
        Thread hook = new Thread(() -> run.teardown("interrupted"), "million-teardown");
        Runtime.getRuntime().addShutdownHook(hook);
        int status;
        try {
            status = run.run();
        } catch (Exception e) {
            System.out.println("run-million: FAILED: " + e.getMessage());
            status = 1;
        } finally {
            run.teardown(null);
        }
        System.exit(status);
    }

    static Options parse(String[] args) {
        int tasks = 1_000_000;
        String task = "tasks.fib";
        int fibN = 25;
        int producers = 10;
        int concurrency = 2;
        String broker = System.getenv("JCYME_RABBITMQ_URL");
        Path out = null;
        boolean screenshot = false;
        int stall = 120;
        try {
            for (int i = 0; i < args.length; i++) {
                switch (args[i]) {
                    case "--tasks" -> tasks = positive(args[++i].replace("_", ""));
                    case "--task" -> task = "tasks." + args[++i].replaceFirst("^tasks\\.", "");
                    case "--noop" -> task = "tasks.noop";
                    case "--fib-n" -> fibN = Integer.parseInt(args[++i]);
                    case "--producers" -> producers = positive(args[++i]);
                    case "--concurrency" -> concurrency = positive(args[++i]);
                    case "--broker" -> broker = args[++i];
                    case "--out" -> out = Path.of(args[++i]);
                    case "--screenshot" -> screenshot = true;
                    case "--stall-secs" -> stall = positive(args[++i]);
                    default -> throw new IllegalArgumentException("unknown option " + args[i]);
                }
            }
            if (!task.equals("tasks.fib") && !task.equals("tasks.noop")) {
                throw new IllegalArgumentException("--task is fib or noop, not " + task);
            }
            if (fibN < 0 || fibN > 40) {
                throw new IllegalArgumentException("--fib-n is 0..40");
            }
            if (broker == null || broker.isBlank()) {
                throw new IllegalArgumentException("no broker: give --broker URL (bench/run-million starts its own RabbitMQ node)");
            }
            if (BrokerUrl.parse(broker).display().matches(".*:5672(/.*)?")) {
                throw new IllegalArgumentException("--broker on port 5672 is the quickstart's; this run uses a node of its own");
            }
        } catch (ArrayIndexOutOfBoundsException | IllegalArgumentException e) {
            System.err.println("run-million: " + (e instanceof ArrayIndexOutOfBoundsException ? "an option lacks its value" : e.getMessage()));
            System.err.println("usage: bench/run-million [--tasks N] [--task fib|noop] [--noop] [--fib-n N] [--producers P]"
                    + " [--concurrency C] [--broker URL] [--out DIR] [--screenshot] [--stall-secs S]");
            System.exit(2);
        }
        if (out == null) {
            out = Path.of("target", "run-million", LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
        }
        return new Options(tasks, task, fibN, producers, concurrency, broker, out.toAbsolutePath(), screenshot, stall);
    }

    private static int positive(String value) {
        int n = Integer.parseInt(value);
        if (n < 1) {
            throw new IllegalArgumentException("expected a positive number, got " + value);
        }
        return n;
    }

    private int run() throws Exception {
        Files.createDirectories(options.out());
        dataRoot = Files.createTempDirectory("jcyme-million-");
        for (int q = 0; q < QUEUES; q++) {
            queues.add("million-" + tag + "-q" + q);
        }
        String work = options.task() + (options.task().equals("tasks.fib") ? "(" + options.fibN() + ")" : "()");
        System.out.printf(Locale.ROOT, "run-million: %d %s, %d producers -> %d queues -> 2 instances (one per branch, pool %d fixed), broker %s%n",
                options.tasks(), work, options.producers(), QUEUES, options.concurrency(), BrokerUrl.parse(options.broker()).display());
        System.out.println("data " + dataRoot);
        System.out.println("out  " + options.out());

        long setupStart = System.nanoTime();
        startCluster();
        startInstances();
        System.out.printf(Locale.ROOT, "setup: 2 branches clustered, app, %d queues, 2 instances RUNNING in %.1f s%n",
                QUEUES, (System.nanoTime() - setupStart) / 1e9);

        watched.add(new Watched("branch-a", () -> members.get(0).process().pid()));
        watched.add(new Watched("branch-b", () -> members.get(1).process().pid()));
        watched.add(new Watched("w1", () -> workerPid(members.get(0), "w1")));
        watched.add(new Watched("w2", () -> workerPid(members.get(1), "w2")));
        watched.add(new Watched("producer", () -> ProcessHandle.current().pid()));
        monitor = BrokerUrl.parse(options.broker()).connectionFactory(5_000).newConnection("jcyme-million-monitor");
        csv = new PrintWriter(Files.newBufferedWriter(options.out().resolve("run-million.csv")), true);
        csv.println(csvHeader());

        for (int p = 0; p < options.producers(); p++) {
            TaskProducer producer = TaskProducer.connect(options.broker());
            producer.retainResults(PRODUCER_RESULT_TTL, PRODUCER_MAX_RESULTS);
            producer.addResultListener(this::onResult);
            producers.add(producer);
        }
        long start = System.nanoTime();
        List<Thread> threads = new ArrayList<>();
        for (int p = 0; p < options.producers(); p++) {
            int first = p;
            Thread thread = new Thread(() -> publish(producers.get(first), first), "million-producer-" + p);
            thread.start();
            threads.add(thread);
        }
        long[] publishDone = {0};
        var sampler = Executors.newSingleThreadScheduledExecutor(r -> daemon(r, "million-sampler"));
        Sampling sampling = new Sampling(start);
        sampler.scheduleWithFixedDelay(() -> sampling.sample(false), SAMPLE_INTERVAL.toMillis(), SAMPLE_INTERVAL.toMillis(), TimeUnit.MILLISECONDS);
        long lastCompleted = -1;
        long lastProgress = System.nanoTime();
        try {
            while (completed.get() < options.tasks()) {
                if (producerError.get() != null) {
                    throw new IllegalStateException("a producer failed: " + producerError.get(), producerError.get());
                }
                if (publishDone[0] == 0 && published.get() == options.tasks()) {
                    publishDone[0] = System.nanoTime();
                }
                long now = completed.get();
                if (now != lastCompleted) {
                    lastCompleted = now;
                    lastProgress = System.nanoTime();
                } else if (System.nanoTime() - lastProgress > TimeUnit.SECONDS.toNanos(options.stallSeconds())) {
                    notes.add("no result for " + options.stallSeconds() + " s: stopped waiting");
                    break;
                }
                Thread.sleep(20);
            }
        } finally {
            sampler.shutdown();
            sampler.awaitTermination(10, TimeUnit.SECONDS);
        }
        long end = System.nanoTime();
        if (publishDone[0] == 0) {
            publishDone[0] = end;
        }
        for (Thread thread : threads) {
            thread.join(TimeUnit.SECONDS.toMillis(30));
        }
        sampling.sample(true);  // the last, partial second
        if (shooter != null) {
            shooter.join(Screenshot.TIMEOUT.toMillis());
        }
        takeMissedCheckpoints();
        awaitQuiet();
        background.submit(this::readHeaps);
        background.shutdown();
        background.awaitTermination(2, TimeUnit.MINUTES);
        csv.close();
        return report(start, publishDone[0], end);
    }

    // ---- the cluster ----

    private void startCluster() throws Exception {
        String cluster = "million-" + tag;
        List<Integer> clusterPorts = List.of(clusterPort(), clusterPort());
        String peers = String.join(",", clusterPorts.stream().map(p -> "127.0.0.1:" + p).toList());
        String secret = "million-" + UUID.randomUUID();
        for (int i = 0; i < 2; i++) {
            String id = "branch-" + (char) ('a' + i);
            int port = freePort();
            Path dir = dataRoot.resolve(id);
            List<String> command = new ArrayList<>(List.of(javaBin.toString()));
            command.addAll(BRANCH_JVM);
            command.addAll(List.of("-cp", dist.resolve("lib") + "/*", "jcyme.cli.BranchMain",
                    "-D", dir.toString(), "--bind", Integer.toString(port), "--id", id, "--cluster", cluster,
                    "--cluster-bind", "127.0.0.1:" + clusterPorts.get(i), "--peers", peers,
                    "--shutdown-timeout", "10", "--kill-grace", "3"));
            Path out = dataRoot.resolve(id + ".out");
            ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(out.toFile());
            builder.environment().put("JCYME_BROKER_URL", options.broker());
            builder.environment().put("JCYME_CLUSTER_SECRET", secret);
            builder.environment().keySet().removeIf(k -> k.equals("JCYME_TOKEN"));
            synchronized (teardownLock) {
                if (tornDown) {
                    throw new IllegalStateException("interrupted");
                }
                members.add(new Member(id, port, dir, builder.start(), out));
            }
        }
        for (Member member : members) {
            await(() -> {
                if (!member.process().isAlive()) {
                    throw new IllegalStateException(member.id() + " exited: " + Files.readString(member.out()));
                }
                return Files.readString(member.out()).contains("\nready");
            }, BRANCH_READY_TIMEOUT.toMillis(), member.id() + " ready");
        }
        await(() -> {
            for (Member member : members) {
                String listed = get(member, "/branches").toString();
                if (!listed.contains("\"branch-a\"") || !listed.contains("\"branch-b\"")) {
                    return false;
                }
            }
            return true;
        }, BRANCH_READY_TIMEOUT.toMillis(), "the branches to see each other");
    }

    private void startInstances() throws Exception {
        Member a = members.get(0);
        Member b = members.get(1);
        call(a, "PUT", "/" + APP, null);
        for (String queue : queues) {
            call(a, "PUT", "/" + APP + "/queues/" + queue, null);
        }
        await(() -> status(b, "/" + APP) == 200, BRANCH_READY_TIMEOUT.toMillis(), "branch-b to know the app");
        String body = Json.MAPPER.writeValueAsString(Map.of("queues", queues, "min", options.concurrency(), "max", options.concurrency()));
        call(a, "POST", "/" + APP + "/instances/w1", body);
        call(b, "POST", "/" + APP + "/instances/w2", body);
        for (Object[] instance : new Object[][] {{a, "w1"}, {b, "w2"}}) {
            Member owner = (Member) instance[0];
            String name = (String) instance[1];
            await(() -> get(owner, "/" + APP + "/instances/" + name).path("state").asText().equals("RUNNING"),
                    INSTANCE_RUNNING_TIMEOUT.toMillis(), name + " RUNNING");
        }
    }

    private static long workerPid(Member owner, String name) {
        try {
            return Long.parseLong(Files.readString(owner.dataDir().resolve(name).resolve("worker.pid")).trim());
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
    }

    // ---- producing and collecting ----

    /** Producer {@code first} publishes tasks first, first + P, first + 2P, ...; task i goes to queue i mod 3. */
    private void publish(TaskProducer producer, int first) {
        try {
            List<CeleryQueue> targets = queues.stream().map(CeleryQueue::named).toList();
            List<TaskRequest> batch = new ArrayList<>(PUBLISH_BATCH);
            for (int i = first; i < options.tasks(); i += options.producers()) {
                TaskRequest.Builder request = TaskRequest.of(options.task()).id(taskId(i)).queue(targets.get(i % QUEUES));
                if (options.task().equals("tasks.fib")) {
                    request.args(options.fibN());
                }
                batch.add(request.build());
                if (batch.size() == PUBLISH_BATCH) {
                    producer.sendAll(batch);
                    published.addAndGet(batch.size());
                    batch.clear();
                }
            }
            if (!batch.isEmpty()) {
                producer.sendAll(batch);
                published.addAndGet(batch.size());
            }
        } catch (IOException | RuntimeException e) {
            producerError.compareAndSet(null, e);
        }
    }

    /** Ids carry the run's tag and the task's index: a result maps back to its task without a table. */
    private String taskId(int index) {
        return String.format(Locale.ROOT, "%s-0000-4000-8000-%012x", tag, index);
    }

    private void onResult(TaskResult result) {
        String id = result.taskId();
        if (id.length() != 36 || !id.startsWith(tag)) {
            foreign.incrementAndGet();
            return;
        }
        int index = Integer.parseInt(id.substring(24), 16);
        if (index < 0 || index >= options.tasks()) {
            foreign.incrementAndGet();
            return;
        }
        if (seen.getAndIncrement(index) > 0) {
            duplicates.incrementAndGet();
            return;
        }
        boolean right = result.state() == TaskState.SUCCESS
                && (!options.task().equals("tasks.fib") || (result.result() != null && result.result().asLong() == expected));
        if (!right) {
            failed.incrementAndGet();
            firstFailure.compareAndSet(null, id + ": " + result.state() + " " + result.result());
        }
        completed.incrementAndGet();
    }

    // ---- sampling ----

    private String csvHeader() {
        StringBuilder header = new StringBuilder("seconds,published,completed,tasks_per_s,depth_total");
        for (int q = 0; q < QUEUES; q++) {
            header.append(",depth_q").append(q);
        }
        for (Watched process : watched) {
            header.append(',').append(process.name()).append("_rss_mib,").append(process.name()).append("_cpu_pct");
        }
        return header.toString();
    }

    /** The once-a-second sampler: its state is the previous sample's. */
    private final class Sampling {
        private final long start;
        private long lastAt;
        private long lastCompleted;
        private final long[] lastCpu;

        Sampling(long start) {
            this.start = start;
            this.lastAt = start;
            this.lastCpu = new long[watched.size()];
            for (int p = 0; p < watched.size(); p++) {
                ProcStats.Reading reading = ProcStats.read(watched.get(p).pid().pid());
                lastCpu[p] = reading == null ? -1 : reading.cpuNanos();
            }
        }

        /** One sample; the final one may come sooner than a full interval and is then taken over a full one (no spike). */
        synchronized void sample(boolean last) {
            try {
                long now = System.nanoTime();
                double interval = Math.max(last ? SAMPLE_INTERVAL.toNanos() / 1e9 : 1e-3, (now - lastAt) / 1e9);
                long done = completed.get();
                double rate = (done - lastCompleted) / interval;
                long[] depth = depths();
                double[] rss = new double[watched.size()];
                double[] cpu = new double[watched.size()];
                for (int p = 0; p < watched.size(); p++) {
                    ProcStats.Reading reading = ProcStats.read(watched.get(p).pid().pid());
                    rss[p] = reading == null ? Double.NaN : reading.rssBytes() / 1048576.0;
                    cpu[p] = reading == null || lastCpu[p] < 0 ? Double.NaN : (reading.cpuNanos() - lastCpu[p]) / (interval * 1e7);
                    lastCpu[p] = reading == null ? -1 : reading.cpuNanos();
                }
                Sample sample = new Sample((now - start) / 1e9, published.get(), done, rate, depth, rss, cpu);
                samples.add(sample);
                lastAt = now;
                lastCompleted = done;
                print(sample);
                csv.println(csvLine(sample));
                checkpoints(done);
            } catch (RuntimeException e) {
                notes.add("a sample failed: " + e);
            }
        }
    }

    private long[] depths() {
        long[] depth = new long[QUEUES];
        for (int q = 0; q < QUEUES; q++) {
            try {
                if (monitorChannel == null || !monitorChannel.isOpen()) {
                    monitorChannel = monitor.createChannel();
                }
                depth[q] = monitorChannel.queueDeclarePassive(queues.get(q)).getMessageCount();
            } catch (IOException e) {
                depth[q] = -1;
            }
        }
        return depth;
    }

    private void print(Sample sample) {
        StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "[%5.0fs] published %d/%d  done %d  %6.0f/s  depth %d (",
                sample.seconds(), sample.published(), options.tasks(), sample.completed(), sample.rate(), (long) sample.depthTotal()));
        for (int q = 0; q < QUEUES; q++) {
            line.append(q == 0 ? "" : "/").append(sample.depth()[q]);
        }
        line.append(")  RSS MiB");
        for (int p = 0; p < watched.size(); p++) {
            line.append(String.format(Locale.ROOT, " %s %.0f", watched.get(p).name(), sample.rssMiB()[p]));
        }
        line.append("  CPU%");
        for (int p = 0; p < watched.size(); p++) {
            line.append(String.format(Locale.ROOT, " %s %.0f", watched.get(p).name(), sample.cpuPct()[p]));
        }
        System.out.println(line);
    }

    private String csvLine(Sample sample) {
        StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "%.3f,%d,%d,%.1f,%d", sample.seconds(), sample.published(),
                sample.completed(), sample.rate(), (long) sample.depthTotal()));
        for (long depth : sample.depth()) {
            line.append(',').append(depth);
        }
        for (int p = 0; p < watched.size(); p++) {
            line.append(String.format(Locale.ROOT, ",%.1f,%.1f", sample.rssMiB()[p], sample.cpuPct()[p]));
        }
        return line.toString().replace("NaN", "");
    }

    /** Live-heap readings and the dashboard screenshot, started once the results pass their marks. */
    private void checkpoints(long done) {
        while (nextCheckpoint < HEAP_CHECKPOINTS.length && done >= HEAP_CHECKPOINTS[nextCheckpoint] * options.tasks()) {
            nextCheckpoint++;
            background.submit(this::readHeaps);
        }
        if (options.screenshot() && shooter == null && done >= options.tasks() / 2) {
            shooter = daemon(this::takeScreenshot, "million-screenshot");
            shooter.start();
        }
    }

    /** Checkpoints the run finished too fast to reach are read after it (a short run still gets its readings). */
    private void takeMissedCheckpoints() {
        while (nextCheckpoint < HEAP_CHECKPOINTS.length) {
            nextCheckpoint++;
            background.submit(this::readHeaps);
        }
    }

    /** Waits until the branches and workers are idle: the events of the last tasks followed and stored. */
    private void awaitQuiet() throws InterruptedException {
        long deadline = System.nanoTime() + QUIET_TIMEOUT.toNanos();
        List<Watched> system = watched.stream().filter(w -> !w.name().equals("producer")).toList();
        while (System.nanoTime() < deadline) {
            long[] before = system.stream().mapToLong(w -> cpuNanos(w.pid().pid())).toArray();
            long start = System.nanoTime();
            Thread.sleep(SAMPLE_INTERVAL.toMillis());
            double interval = System.nanoTime() - start;
            boolean quiet = true;
            for (int p = 0; p < system.size(); p++) {
                quiet &= (cpuNanos(system.get(p).pid().pid()) - before[p]) * 100 / interval < QUIET_CPU_PCT;
            }
            if (quiet) {
                return;
            }
        }
        notes.add("the branches and workers were still busy " + QUIET_TIMEOUT.toSeconds() + " s after the last result");
    }

    private static long cpuNanos(long pid) {
        ProcStats.Reading reading = ProcStats.read(pid);
        return reading == null ? 0 : reading.cpuNanos();
    }

    private void readHeaps() {
        long done = completed.get();
        for (Watched process : watched) {
            long pid = process.pid().pid();
            ProcStats.Memory memory = ProcStats.memoryAfterGc(pid);
            if (memory != null) {
                heap.computeIfAbsent(process.name(), n -> new CopyOnWriteArrayList<>())
                        .add(new HeapPoint(done, memory.liveHeapBytes(), memory.nonHeapRssBytes()));
            }
        }
        System.out.printf(Locale.ROOT, "after a full GC at %d results, live heap / RSS outside the heap (MiB):%s%n", done,
                watched.stream().map(w -> {
                    List<HeapPoint> points = heap.getOrDefault(w.name(), List.of());
                    HeapPoint last = points.isEmpty() ? null : points.get(points.size() - 1);
                    return last == null || last.completed() != done ? " " + w.name() + " ?" : String.format(Locale.ROOT, " %s %.1f/%.1f",
                            w.name(), last.bytes() / 1048576.0, last.nonHeapRss() / 1048576.0);
                }).reduce("", String::concat));
    }

    private void takeScreenshot() {
        Path target = options.out().resolve("dashboard.png");
        Path profile = null;
        try {
            profile = Files.createTempDirectory("jcyme-million-chromium");
            String url = members.get(0).url() + "/ui/#/charts/" + APP;
            Screenshot.take(profile, target, url);
            screenshot = target;
        } catch (IOException e) {
            notes.add("no dashboard screenshot: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            if (profile != null) {
                deleteTree(profile);
            }
        }
    }

    // ---- the report ----

    private int report(long start, long publishEnd, long end) throws IOException {
        double wall = (end - start) / 1e9;
        long done = completed.get();
        long lost = options.tasks() - done;
        List<String> names = watched.stream().map(Watched::name).toList();
        Path plot = options.out().resolve("run-million.png");
        String work = options.task() + (options.task().equals("tasks.fib") ? "(" + options.fibN() + ")" : "()");
        MillionPlot.write(plot, String.format(Locale.ROOT, "run-million: %d %s", options.tasks(), work), samples, queues, names);

        System.out.println();
        System.out.printf(Locale.ROOT, "%-22s %.1f s (publishing took %.1f s)%n", "wall time", wall, (publishEnd - start) / 1e9);
        System.out.printf(Locale.ROOT, "%-22s %.0f%n", "tasks/s", done / wall);
        System.out.printf(Locale.ROOT, "%-22s %d of %d%n", "lost", lost, options.tasks());
        System.out.printf(Locale.ROOT, "%-22s %d%n", "duplicates", duplicates.get());
        System.out.printf(Locale.ROOT, "%-22s %d%s%n", "failed", failed.get(), firstFailure.get() == null ? "" : " (first: " + firstFailure.get() + ")");
        if (foreign.get() > 0) {
            System.out.printf(Locale.ROOT, "%-22s %d%n", "results not of this run", foreign.get());
        }
        StringBuilder peaks = new StringBuilder();
        for (int p = 0; p < names.size(); p++) {
            int index = p;
            double peak = samples.stream().mapToDouble(s -> s.rssMiB()[index]).filter(v -> !Double.isNaN(v)).max().orElse(Double.NaN);
            peaks.append(String.format(Locale.ROOT, "%s %.0f  ", names.get(p), peak));
        }
        System.out.printf(Locale.ROOT, "%-22s %s%n", "peak RSS (MiB)", peaks.toString().trim());
        boolean flat = true;
        System.out.println("memory after a full GC at 25/50/75 % of the results and after the run (live heap: after vs the lowest; RSS outside the heap: after vs the first):");
        for (int p = 0; p < names.size(); p++) {
            Verdict verdict = verdict(names.get(p), p);
            flat &= !verdict.grows();
            System.out.printf(Locale.ROOT, "  %-10s %s%n", names.get(p), verdict.text());
        }
        System.out.printf(Locale.ROOT, "%-22s %s%n", "memory", flat ? "flat" : "GROWS");
        for (String note : notes) {
            System.out.println("note: " + note);
        }
        System.out.println("csv        " + options.out().resolve("run-million.csv"));
        System.out.println("plot       " + plot);
        if (screenshot != null) {
            System.out.println("dashboard  " + screenshot);
        }
        boolean ok = lost == 0 && failed.get() == 0 && flat;
        System.out.println(ok ? "run-million: OK" : "run-million: FAILED (" + (lost > 0 ? "lost tasks " : "")
                + (failed.get() > 0 ? "failed tasks " : "") + (flat ? "" : "memory grows") + ")");
        return ok ? 0 : 1;
    }

    /** A process's memory verdict: the line to print, and whether it grows. */
    private record Verdict(String text, boolean grows) {}

    private Verdict verdict(String name, int index) {
        StringBuilder text = new StringBuilder();
        boolean grows = false;
        List<HeapPoint> points = heap.getOrDefault(name, List.of());
        if (points.size() >= 2) {
            HeapPoint after = points.get(points.size() - 1);
            HeapPoint lowest = points.subList(0, points.size() - 1).stream().min(Comparator.comparingLong(HeapPoint::bytes)).orElseThrow();
            long growth = after.bytes() - lowest.bytes();
            long tasks = Math.max(1, after.completed() - lowest.completed());
            boolean heapGrows = growth > Math.max(HEAP_SLACK_BYTES, lowest.bytes() / 10);
            grows = heapGrows;
            String perTask = tasks >= options.tasks() / 10 ? String.format(Locale.ROOT, " (%+.1f bytes/task)", (double) growth / tasks) : "";
            text.append(String.format(Locale.ROOT, "heap %s MiB, after %.1f: %+.1f MiB over the lowest%s %s",
                    points.subList(0, points.size() - 1).stream().map(h -> String.format(Locale.ROOT, "%.1f", h.bytes() / 1048576.0))
                            .reduce((x, y) -> x + " / " + y).orElse(""),
                    after.bytes() / 1048576.0, growth / 1048576.0, perTask, heapGrows ? "GROWS" : "flat"));
        } else {
            text.append("heap: too few readings");
        }
        if (points.size() >= 2) {
            HeapPoint first = points.get(0);
            HeapPoint after = points.get(points.size() - 1);
            long growth = after.nonHeapRss() - first.nonHeapRss();
            boolean nativeGrows = growth > Math.max(NON_HEAP_SLACK_BYTES, first.nonHeapRss() / 10);
            grows |= nativeGrows;
            text.append(String.format(Locale.ROOT, "; RSS outside the heap %.1f -> %.1f MiB %s", first.nonHeapRss() / 1048576.0,
                    after.nonHeapRss() / 1048576.0, nativeGrows ? "GROWS" : "flat"));
        }
        List<Double> rss = samples.stream().map(s -> s.rssMiB()[index]).filter(v -> !Double.isNaN(v)).toList();
        if (rss.size() >= 2) {
            text.append(String.format(Locale.ROOT, "; peak RSS %.0f (first half) / %.0f MiB (second half)",
                    rss.subList(0, rss.size() / 2).stream().mapToDouble(Double::doubleValue).max().orElse(0),
                    rss.subList(rss.size() / 2, rss.size()).stream().mapToDouble(Double::doubleValue).max().orElse(0)));
        }
        return new Verdict(text.toString(), grows);
    }

    // ---- teardown ----

    /** Stops everything this run started and removes its data; once, from the end of the run or from Ctrl-C. */
    private void teardown(String why) {
        synchronized (teardownLock) {
            if (tornDown) {
                return;
            }
            tornDown = true;
        }
        if (why != null) {
            System.out.println("run-million: " + why + ", tearing down...");
        }
        for (TaskProducer producer : producers) {
            quietly(producer::close);
        }
        for (Member member : members) {
            if (member.process().isAlive()) {
                quietly(() -> call(member, "DELETE", "/" + APP, null));
            }
        }
        List<Long> workers = new ArrayList<>();
        for (Member member : members) {
            for (String name : List.of("w1", "w2")) {
                long pid = workerPid(member, name);
                if (pid > 0) {
                    workers.add(pid);
                }
            }
            member.process().destroy();
        }
        for (Member member : members) {
            quietly(() -> {
                if (!member.process().waitFor(TEARDOWN_TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
                    member.process().destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                }
            });
        }
        for (long pid : workers) {   // a worker the DELETE did not stop (the branch went first)
            ProcessHandle.of(pid).filter(p -> p.info().commandLine().orElse("").contains("-Djcyme.instance=" + APP + "/"))
                    .ifPresent(ProcessHandle::destroyForcibly);
        }
        if (monitor != null) {
            quietly(() -> {
                try (Channel channel = monitor.createChannel()) {
                    for (String queue : queues) {
                        channel.queueDelete(queue);
                    }
                }
                monitor.close();
            });
        }
        if (dataRoot != null) {
            for (Member member : members) {
                quietly(() -> Files.copy(member.out(), options.out().resolve(member.id() + ".log"),
                        StandardCopyOption.REPLACE_EXISTING));
            }
            deleteTree(dataRoot);
        }
        background.shutdownNow();
    }

    private interface Action {
        void run() throws Exception;
    }

    private static void quietly(Action action) {
        try {
            action.run();
        } catch (Exception e) {
            // tearing down: go on with the rest
        }
    }

    private static void deleteTree(Path root) {
        try (Stream<Path> files = Files.walk(root)) {
            files.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
        } catch (IOException | UncheckedIOException e) {
            // already gone
        }
    }

    // ---- HTTP ----

    private static JsonNode get(Member member, String path) throws IOException, InterruptedException {
        return call(member, "GET", path, null);
    }

    private static int status(Member member, String path) throws IOException, InterruptedException {
        return HTTP.send(HttpRequest.newBuilder(URI.create(member.url() + path)).build(), HttpResponse.BodyHandlers.discarding())
                .statusCode();
    }

    private static JsonNode call(Member member, String method, String path, String json) throws IOException, InterruptedException {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(member.url() + path)).timeout(TEARDOWN_TIMEOUT)
                .method(method, json == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(json));
        if (json != null) {
            request.header("Content-Type", "application/json");
        }
        HttpResponse<String> response = HTTP.send(request.build(), HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() >= 300) {
            throw new IllegalStateException(method + " " + path + " on " + member.id() + " -> " + response.statusCode() + " " + response.body());
        }
        return Json.MAPPER.readTree(response.body());
    }

    private static Thread daemon(Runnable runnable, String name) {
        Thread thread = new Thread(runnable, name);
        thread.setDaemon(true);
        return thread;
    }

    static long fib(int n) {
        long a = 0;
        long b = 1;
        for (int i = 0; i < n; i++) {
            long next = a + b;
            a = b;
            b = next;
        }
        return a;
    }
}
