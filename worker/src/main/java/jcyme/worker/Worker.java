package jcyme.worker;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.rabbitmq.client.Connection;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import jcyme.tasks.CeleryQueue;
import jcyme.tasks.CeleryTime;
import jcyme.tasks.Task;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One worker instance, built from steps started in dependency order and stopped in reverse (as
 * Celery's bootsteps): state, broker connection, pool (with autoscaler), consumer, control socket,
 * events (with the heartbeat), pidbox (remote control over the broker), housekeeping. The control
 * socket comes right after the consumer, so a stop reaches a worker still starting. Once every step
 * is up the worker writes its pid file and only then answers {@code ping}: a supervisor takes the
 * first answer to mean "started", and whoever reads {@code worker.pid} finds every step up. A warm
 * stop first stops consuming and drains the pool, so the events and results of the tasks that
 * finish meanwhile still go out before the rest stops and the connection closes.
 */
public final class Worker {
    private static final Logger log = LoggerFactory.getLogger(Worker.class);

    /** A part of the worker with a start and a stop. */
    private record Step(String name, Starter start, Stopper stop) {}

    private interface Starter {
        void run() throws Exception;
    }

    private interface Stopper {
        void run(boolean warm) throws Exception;
    }

    /** The steps a warm stop stops first, in this order: no new task, then every running one ended. */
    private static final List<String> WARM_STOP_FIRST = List.of("consumer", "pool");

    private final WorkerConfig config;
    private final long pid = ProcessHandle.current().pid();
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(task -> {
        Thread thread = new Thread(task, "timer");
        thread.setDaemon(true);
        return thread;
    });
    /** How often the statedb is read for revokes the other slot's worker took during a recycle. */
    static final Duration STATEDB_READ_INTERVAL = Duration.ofSeconds(1);

    private final ControlCommands commands = new ControlCommands();
    private final List<Step> steps = new ArrayList<>();
    private final List<Step> started = new ArrayList<>();
    private final List<ScheduledFuture<?>> housekeeping = new ArrayList<>();
    private final CountDownLatch stopped = new CountDownLatch(1);
    private final CountDownLatch stopRequested = new CountDownLatch(1);
    private final AtomicBoolean stopping = new AtomicBoolean();
    private volatile boolean ready;
    /** The connect timeout the broker connections are opened with, in seconds. */
    private final double connectTimeoutSeconds;
    /** Why this worker asks its branch to replace it, or null (stats' {@code recycle_requested}). */
    private volatile String recycleRequested;
    private final TaskExecutor executor;
    private final BrokerConsumer broker;
    private final LiveConfig liveConfig;
    private StateDb statedb;
    private WorkerState state;
    private TaskPool pool;
    private Autoscaler autoscaler;
    private ControlServer control;
    private Connection sideConnection;
    private Events events;
    private Pidbox pidbox;
    private Pidfile pidfile;

    public Worker(WorkerConfig config, Map<String, Task> tasks) {
        this(config, tasks, new LiveConfig.Version(jcyme.tasks.TaskCall.INITIAL_CONFIG_ID, null));
    }

    /** A worker whose tasks start with {@code initialConfig} as the app's live configuration. */
    Worker(WorkerConfig config, Map<String, Task> tasks, LiveConfig.Version initialConfig) {
        this.config = config;
        this.connectTimeoutSeconds = config.broker().connectionFactory(config.maxReconnectDelay().toMillis()).getConnectionTimeout() / 1000.0;
        this.liveConfig = new LiveConfig(tasks, initialConfig);
        this.broker = new BrokerConsumer(config.broker(), config.nodename(), config.maxReconnectDelay(), config.batching(),
                timer, this::updatePrefetch, new BrokerConsumer.Handler() {
                    @Override
                    public void onTask(Request request) {
                        executor.receive(request);
                    }

                    @Override
                    public void onConnectionLost() {
                        int dropped = executor.dropPending();
                        if (dropped > 0) {
                            log.info("dropped {} reserved task(s); the broker redelivers them", dropped);
                        }
                    }
                });
        this.executor = new TaskExecutor(tasks, broker, timer, config.softTimeLimit(), config.hardTimeLimit(),
                WorkDirs.on(config.workDirs()), liveConfig);
        steps.add(new Step("state", this::openState, warm -> closeState()));
        steps.add(new Step("config", liveConfig::start, warm -> liveConfig.stop()));
        steps.add(new Step("broker", () -> broker.connect(stopRequested), warm -> {
            if (warm) broker.close(); else broker.abort();
        }));
        steps.add(new Step("events", this::startEvents, warm -> stopEvents()));
        steps.add(new Step("pool", this::startPool, this::stopPool));
        steps.add(new Step("consumer", this::startConsuming, warm -> stopConsuming()));
        steps.add(new Step("control", this::startControl, warm -> { }));
        steps.add(new Step("pidbox", this::startPidbox, warm -> {
            if (pidbox != null) pidbox.stop();
        }));
        steps.add(new Step("housekeeping", this::startHousekeeping, warm -> stopHousekeeping()));
        ControlPanel.register(commands, this);
    }

    /**
     * Starts every step; returns once the worker consumes. A stop asked for meanwhile is carried
     * out once the step starting then is done: the steps after it never start.
     */
    public void start() throws Exception {
        for (Step step : steps) {
            if (isStopRequested()) {
                log.info("stop asked for while starting: not starting {} and what follows it", step.name());
                stop(true);
                return;
            }
            log.debug("starting {}", step.name());
            step.start().run();
            started.add(0, step);
        }
        if (pidfile != null) {
            pidfile.write();
        }
        ready = true;
        log.info("{} ready: consuming {} from {} with {} thread(s){}", config.nodename(), broker.queueNames(),
                broker.brokerDisplay(), pool.size(),
                config.autoscale() ? " (autoscale " + config.maxConcurrency() + "," + config.minConcurrency() + ")" : "");
        if (isStopRequested()) {
            stop(true);
        }
    }

    /**
     * Asks for a warm stop: now when the worker has started, else {@link #start()} stops it. The
     * request is recorded before {@code ready} is read and {@code start()} sets {@code ready}
     * before it reads the request, so one of them always acts.
     */
    public void requestStop() {
        stopRequested.countDown();
        if (ready) {
            new Thread(() -> stop(true), "warm-shutdown").start();
        }
    }

    public boolean isStopRequested() {
        return stopRequested.getCount() == 0;
    }

    /**
     * Stops the worker. Warm: stop consuming, let running tasks finish (up to the shutdown
     * timeout) and ack them. Cold: drop the connection now; unacked tasks go back to their queue.
     * Only the first call acts. The control socket closes last, so whoever asks during a warm
     * shutdown (a supervisor repeating its stop) is answered rather than driven to a second signal.
     */
    public void stop(boolean warm) {
        if (!stopping.compareAndSet(false, true)) {
            return;
        }
        log.info("{} shutdown: {}", warm ? "warm" : "cold",
                warm ? "finishing " + executor.activeCount() + " running task(s)" : "abandoning running tasks");
        List<Step> order = new ArrayList<>(started);
        if (warm) {
            List<Step> first = new ArrayList<>();
            for (String name : WARM_STOP_FIRST) {
                order.stream().filter(step -> step.name().equals(name)).findFirst().ifPresent(first::add);
            }
            order.removeAll(first);
            order.addAll(0, first);
        }
        for (Step step : order) {
            try {
                step.stop().run(warm);
            } catch (Exception e) {
                log.warn("error while stopping {}: {}", step.name(), e.toString());
            }
        }
        if (control != null) {
            control.close();
        }
        timer.shutdownNow();
        stopped.countDown();
    }

    /** Cold shutdown while a warm one is under way: drop the connection and let the process exit. */
    public void forceStop() {
        log.warn("cold shutdown: abandoning {} running task(s); their messages return to the queue",
                executor.activeCount());
        broker.abort();
        stopped.countDown();
    }

    /** Waits until the worker has stopped, ignoring interrupts. */
    public void awaitStop() {
        while (true) {
            try {
                stopped.await();
                return;
            } catch (InterruptedException e) {
                // keep waiting: only stop() ends the wait
            }
        }
    }

    /** True once every step has started. */
    public boolean isReady() {
        return ready;
    }

    // ---- steps --------------------------------------------------------------------------------

    private void openState() throws Exception {
        statedb = config.statedb() == null ? null : StateDb.open(config.statedb());
        state = WorkerState.restore(statedb);
        executor.bind(state);
    }

    private void closeState() throws Exception {
        state.saveClock();
        if (statedb != null) {
            statedb.close();
        }
    }

    private void startPool() {
        pool = new TaskPool(config.minConcurrency(), executor::execute);
        if (config.autoscale()) {
            autoscaler = new Autoscaler(new AutoscalePolicy(config.minConcurrency(), config.maxConcurrency(),
                    config.keepalive()), pool, executor::demand);
        }
        executor.attach(pool, new TaskExecutor.Listener() {
            @Override
            public void onDemandChanged() {
                if (autoscaler != null) autoscaler.maybeScale();
            }

            @Override
            public void onHeldChanged() {
                updatePrefetch();
            }

            @Override
            public void onStuck(int stuckThreads) {
                int threshold = config.recycleWhenStuck();
                if (threshold > 0 && stuckThreads >= threshold) {
                    requestRecycle(stuckThreads + " stuck threads >= " + threshold);
                }
            }
        });
        updatePrefetch();
    }

    private void stopPool(boolean warm) throws InterruptedException {
        if (!warm) {
            pool.shutdown();
        } else if (!pool.drain(config.shutdownTimeout().toMillis())) {
            log.warn("{} task(s) still running after {} s; leaving them unacked", executor.activeCount(),
                    config.shutdownTimeout().toSeconds());
        }
    }

    /**
     * Declares and consumes every queue, all at once: each declare waits on the broker (a round
     * trip per declare and binding), not on this JVM.
     */
    private void startConsuming() throws Exception {
        List<String> names = new ArrayList<>(config.queues());
        names.add(config.directQueue());
        List<java.util.concurrent.FutureTask<Boolean>> consumes = new ArrayList<>();
        for (String name : names) {
            java.util.concurrent.FutureTask<Boolean> consume = new java.util.concurrent.FutureTask<>(() -> broker.consume(CeleryQueue.named(name)));
            consumes.add(consume);
            if (consumes.size() < names.size()) {
                Thread thread = new Thread(consume, "consume-" + name);
                thread.setDaemon(true);
                thread.start();
            } else {
                consume.run();
            }
        }
        for (java.util.concurrent.FutureTask<Boolean> consume : consumes) {
            try {
                consume.get();
            } catch (java.util.concurrent.ExecutionException e) {
                throw e.getCause() instanceof Exception cause ? cause : e;
            }
        }
    }

    private void stopConsuming() {
        broker.cancelAll();
        int dropped = executor.dropPending();
        if (dropped > 0) {
            log.info("returned {} reserved task(s) to the broker", dropped);
        }
    }

    /**
     * Events and the pidbox share a connection of their own, so heartbeats and control replies
     * never queue behind task traffic.
     */
    private void startEvents() throws Exception {
        sideConnection = broker.openSideConnection(config.nodename() + " (events, control)");
        events = new Events(config.nodename(), pid, state.clock(), config.heartbeatInterval(), config.batching().eventInterval(),
                config.taskEvents(),
                executor::activeCount, this::processed);
        events.start(sideConnection);
        executor.events(events, config.nodename());
    }

    private void stopEvents() {
        executor.events(TaskEvents.NONE, config.nodename());
        if (events != null) {
            events.stop();
        }
        if (sideConnection != null) {
            try {
                sideConnection.close(2_000);
            } catch (IOException | com.rabbitmq.client.AlreadyClosedException e) {
                log.debug("closing the events connection: {}", e.getMessage());
            }
        }
    }

    private void startPidbox() {
        Pidbox box = new Pidbox(config.nodename(), commands, state.clock());
        try {
            box.start(sideConnection);
            pidbox = box;
        } catch (IOException e) {
            log.error("remote control over the broker is off: cannot open mailbox {}: {}", box.queueName(),
                    BrokerConsumer.reason(e));
        }
    }

    /** The pid file written once every step is up (its lock is taken before the worker is built); none by default. */
    void announceIn(Pidfile pidfile) {
        this.pidfile = pidfile;
    }

    private void startControl() throws IOException {
        if (config.controlSocket() != null) {
            control = new ControlServer(config.controlSocket(), commands);
            control.start();
        }
    }

    private void startHousekeeping() {
        if (autoscaler != null) {
            housekeeping.add(timer.scheduleWithFixedDelay(autoscaler::maybeScale, 1, 1, TimeUnit.SECONDS));
        }
        housekeeping.add(timer.scheduleWithFixedDelay(state::saveClock, 5, 5, TimeUnit.SECONDS));
        if (statedb != null) {
            long every = STATEDB_READ_INTERVAL.toMillis();
            housekeeping.add(timer.scheduleWithFixedDelay(state::readRevokes, every, every, TimeUnit.MILLISECONDS));
        }
    }

    private void stopHousekeeping() {
        housekeeping.forEach(task -> task.cancel(false));
    }

    // ---- what the control commands act on ----------------------------------------------------

    WorkerConfig config() {
        return config;
    }

    WorkerState state() {
        return state;
    }

    TaskExecutor executor() {
        return executor;
    }

    BrokerConsumer broker() {
        return broker;
    }

    TaskPool pool() {
        return pool;
    }

    Autoscaler autoscaler() {
        return autoscaler;
    }

    long pid() {
        return pid;
    }

    Events events() {
        return events;
    }

    /** Tasks started since boot (Celery's {@code processed}). */
    long processed() {
        return state.total().values().stream().mapToLong(Long::longValue).sum();
    }

    /** The pool's upper bound: autoscale max, or the fixed size. */
    int maxConcurrency() {
        return autoscaler != null ? autoscaler.policy().max() : pool.size();
    }

    /**
     * Celery's rule: prefetch = max concurrency × multiplier, plus one per ETA task held; plus the
     * ack window while fast tasks have their acks coalesced.
     */
    void updatePrefetch() {
        if (config.prefetchMultiplier() == 0) {
            broker.setPrefetch(0);
            return;
        }
        broker.setPrefetch(maxConcurrency() * config.prefetchMultiplier() + executor.heldCount() + broker.ackWindowPrefetch());
    }

    LiveConfig liveConfig() {
        return liveConfig;
    }

    /**
     * Asks the branch to replace this worker (a rolling recycle): stats carry {@code reason} as
     * {@code recycle_requested} from now on. The first reason stays.
     */
    void requestRecycle(String reason) {
        synchronized (this) {
            if (recycleRequested != null) {
                return;
            }
            recycleRequested = reason;
        }
        log.info("asking to be recycled: {}", reason);
    }

    /** Celery's {@code stats} reply. */
    ObjectNode stats() {
        JsonNodeFactory json = JsonNodeFactory.instance;
        ObjectNode stats = json.objectNode();
        ObjectNode total = stats.putObject("total");
        state.total().forEach(total::put);
        stats.put("pid", pid);
        stats.put("clock", Long.toString(state.clock().value()));
        stats.put("uptime", Duration.between(state.startedAt(), Instant.now()).toSeconds());
        stats.put("active", executor.active().size()); // jcyme's own, beside Celery's fields: tasks running now
        stats.put("failed", state.failed());          // and tasks that ended in FAILURE since the worker started
        ObjectNode poolInfo = stats.putObject("pool");
        poolInfo.put("implementation", "jcyme.worker:ThreadPool");
        poolInfo.put("max-concurrency", pool.size());
        poolInfo.put("threads", pool.liveThreads());
        poolInfo.putArray("timeouts")
                .add(seconds(config.softTimeLimit()))
                .add(seconds(config.hardTimeLimit()));
        if (autoscaler != null) {
            stats.set("autoscaler", json.pojoNode(autoscaler.info()));
        }
        ObjectNode brokerInfo = brokerInfo();
        stats.set("broker", brokerInfo);
        stats.put("prefetch_count", broker.prefetch());
        stats.put("config_id", liveConfig.current().id());
        stats.put("stuck_threads", executor.stuckThreads()); // jcyme's own: threads still in a task given up on
        stats.put("recycle_requested", recycleRequested);  // and why this worker wants replacing, or null
        ObjectNode consumer = stats.putObject("consumer");
        consumer.put("prefetch_count", broker.prefetch());
        consumer.set("broker", brokerInfo.deepCopy());
        stats.set("rusage", rusage());
        return stats;
    }

    private ObjectNode brokerInfo() {
        ObjectNode info = JsonNodeFactory.instance.objectNode();
        var url = config.broker();
        info.put("hostname", url.host());
        info.put("userid", url.user());
        info.put("virtual_host", url.virtualHost());
        info.put("port", url.port());
        info.put("insist", false);
        info.put("ssl", url.scheme().equals("amqps"));
        info.put("transport", "amqp");
        info.put("connect_timeout", connectTimeoutSeconds);
        info.putObject("transport_options");
        info.put("login_method", "PLAIN");
        info.putNull("uri_prefix");
        if (sideConnection != null) {
            info.put("heartbeat", (double) sideConnection.getHeartbeat()); // as agreed with the broker
        }
        info.put("failover_strategy", "round-robin");
        info.putArray("alternates");
        return info;
    }

    private static ObjectNode rusage() {
        ObjectNode rusage = JsonNodeFactory.instance.objectNode();
        var os = ManagementFactory.getOperatingSystemMXBean();
        if (os instanceof com.sun.management.OperatingSystemMXBean unix) {
            rusage.put("utime", unix.getProcessCpuTime() / 1e9);
        }
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    rusage.put("maxrss", Long.parseLong(line.replaceAll("\\D+", "")));
                } else if (line.startsWith("VmRSS:")) {
                    rusage.put("rss", Long.parseLong(line.replaceAll("\\D+", "")));
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux: report what the JVM knows
        }
        return rusage;
    }

    private static JsonNode seconds(Duration limit) {
        return limit == null ? JsonNodeFactory.instance.numberNode(0) : JsonNodeFactory.instance.numberNode(limit.toMillis() / 1000.0);
    }

    static String iso(Instant instant) {
        return CeleryTime.format(instant);
    }
}
