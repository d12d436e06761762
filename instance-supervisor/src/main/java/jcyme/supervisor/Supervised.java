package jcyme.supervisor;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One instance's process under supervision: a state machine (see {@link InstanceState}) with one
 * transition method that logs every change and tells the listener. It holds what runs, never what
 * should: it starts and stops only when told, and an exit only moves it to EXITED, BACKOFF or
 * FATAL. The process is watched from its exit itself ({@code onExit} for a child of this JVM, the
 * worker's lock for an adopted one), not by polling.
 */
final class Supervised {
    private static final Logger log = LoggerFactory.getLogger(Supervised.class);
    private static final Duration CONTROL_TIMEOUT = Duration.ofSeconds(3);
    /** The worker's exit code when another copy of it holds its lock. */
    private static final int ALREADY_RUNNING = 3;

    private final String name;
    private final SupervisorSettings settings;
    private final Launcher launcher;
    private final ScheduledExecutorService executor;
    private final Supervisor.Listener listener;
    private InstanceSpec spec;
    private InstanceState state = InstanceState.STOPPED;
    private ProcessHandle process;
    /** The process is a child of this JVM, whose reaper reports its exit with its code (an adopted one is not). */
    private boolean ownChild;
    private CompletableFuture<?> exited = CompletableFuture.completedFuture(null);
    /** Counts processes watched, so that news about an older one is ignored. */
    private long watch;
    private int quickFailures;
    private int restarts;
    private Instant startedAt;
    private Instant retryAt;
    private String lastError;
    private ScheduledFuture<?> pending;
    /** Why this supervisor killed the watched process, told with its exit; null when it did not. */
    private String killedBecause;
    /** The setup command running before a spawn, if any. */
    private SetupRun setup;

    Supervised(InstanceSpec spec, SupervisorSettings settings, Launcher launcher, ScheduledExecutorService executor,
               Supervisor.Listener listener) {
        this.name = spec.name();
        this.spec = spec;
        this.settings = settings;
        this.launcher = launcher;
        this.executor = executor;
        this.listener = listener;
    }

    synchronized InstanceSpec spec() {
        return spec;
    }

    synchronized InstanceStatus status() {
        return new InstanceStatus(name, state, process == null || !state.isUp() ? null : process.pid(), restarts, startedAt,
                lastError, spec.generation(), state == InstanceState.BACKOFF ? retryAt : null);
    }

    private void transition(InstanceState to, String why) {
        if (state == to) {
            return;
        }
        InstanceState from = state;
        log.info("instance {}: {} -> {}{}", name, from, to, why == null ? "" : " (" + why + ")");
        state = to;
        listener.changed(name, from, to, why);
    }

    // ---- starting -----------------------------------------------------------------------------

    /**
     * The first half of a start: enters STARTING and runs the app's setup command, if any, without holding this lock (a long
     * setup must not block status reads). A new generation starts with a clean failure count (an
     * asked-for restart or enable leaves FATAL); a retry of the same one after EXITED or BACKOFF
     * counts as a restart. A failed setup is a quick failure.
     *
     * @return the watch to spawn under, or -1 when nothing is to be spawned
     */
    long prepare(InstanceSpec desired) {
        long current;
        SetupRun run;
        synchronized (this) {
            if (state.isUp()) {
                return -1;
            }
            if (desired.generation() != spec.generation()) {
                quickFailures = 0;
                lastError = null;
            } else if (state == InstanceState.EXITED || state == InstanceState.BACKOFF) {
                restarts++;
            }
            spec = desired.inSlot(spec.slot());
            cancelPending();
            current = ++watch;
            process = null;
            killedBecause = null;
            transition(InstanceState.STARTING, "generation " + desired.generation());
            if (!desired.hasSetup()) {
                return current;
            }
            try {
                setup = SetupRun.start(desired);
            } catch (IOException e) {
                failedQuickly(e.getMessage());
                return -1;
            }
            run = setup;
        }
        Optional<String> failure = run.await(settings.setupTimeout());
        synchronized (this) {
            setup = null;
            if (current != watch || state != InstanceState.STARTING) {
                return -1;
            }
            if (failure.isPresent()) {
                failedQuickly(failure.get());
                return -1;
            }
            return current;
        }
    }

    /** Leaves the STARTING of {@link #prepare} without a worker (the supervisor is closing). */
    synchronized void abandon(long current) {
        if (current == watch && state == InstanceState.STARTING) {
            watch++;
            transition(InstanceState.STOPPED, "not started, the supervisor is closing");
        }
    }

    /** Spawns the worker after {@link #prepare} and waits (on the timer) for it to answer ping. */
    synchronized void spawn(InstanceSpec asked, long current) {
        if (current != watch || state != InstanceState.STARTING) {
            return;
        }
        InstanceSpec desired = asked.inSlot(spec.slot());
        Process child;
        try {
            child = launcher.start(desired);
        } catch (IOException e) {
            failedQuickly(e.getMessage());
            return;
        }
        process = child.toHandle();
        ownChild = true;
        startedAt = null;
        exited = watchChild(child, desired.app(), current, true);
        Instant deadline = Instant.now().plus(settings.startTimeout());
        schedule(() -> awaitReady(current, deadline), settings.readyPoll().toMillis());
    }

    /**
     * Reports the child's exit (on a thread of {@link ProcessExits}, never the common pool).
     *
     * @param adoptIfRunning  an exit because another copy holds the instance's lock adopts that copy
     */
    private CompletableFuture<Void> watchChild(Process child, String app, long current, boolean adoptIfRunning) {
        return ProcessExits.of(child).thenAccept(p -> {
            if (adoptIfRunning && p.exitValue() == ALREADY_RUNNING && adoptInstead(current)) {
                return;
            }
            Supervisor.Exit exit = Supervisor.Exit.of(app, p.pid(), p.exitValue());
            onExit(current, exit, "exit code " + p.exitValue() + (exit.signal() == null ? "" : " (" + exit.signal() + ")"));
        });
    }

    /** Polls until the worker answers ping; an answer counts only from the worker we started (it holds the lock). */
    private void awaitReady(long current, Instant deadline) {
        InstanceSpec watched;
        ProcessHandle started;
        synchronized (this) {
            watched = spec;
            started = process;
        }
        boolean answered = started != null && ping() && ProcessIdentity.claimedBy(watched.lockfile(), started.pid());
        synchronized (this) {
            if (current != watch || state != InstanceState.STARTING) {
                return;
            }
            if (answered) {
                startedAt = Instant.now();
                transition(InstanceState.RUNNING, "pid " + process.pid() + " answered ping");
                launcher.refillSpares(watched);
                return;
            }
            if (Instant.now().isAfter(deadline)) {
                killedBecause = "did not answer ping within " + settings.startTimeout().toSeconds() + " s";
                log.warn("instance {}: {}; killing it", name, killedBecause);
                process.destroyForcibly();
                return;
            }
            schedule(() -> awaitReady(current, deadline), settings.readyPoll().toMillis());
        }
    }

    private boolean ping() {
        try {
            return ControlClient.call(spec().socket(), "ping", Map.of(), Duration.ofSeconds(1)).path("ok").asText().equals("pong");
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Takes over a worker of this instance that is already running (found by
     * {@link ProcessIdentity}); false if there is none. A worker still starting holds its lock
     * before it writes its pid file: wait for that.
     */
    synchronized boolean adopt() {
        long deadline = System.nanoTime() + settings.startTimeout().toNanos();
        while (!Files.exists(spec.pidfile()) && ProcessIdentity.lockHeld(spec.lockfile()) && System.nanoTime() < deadline) {
            try {
                wait(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        Optional<ProcessHandle> first = ProcessIdentity.find(spec.inSlot(0));
        Optional<ProcessHandle> second = ProcessIdentity.find(spec.inSlot(1));
        if (first.isEmpty() && second.isEmpty()) {
            return false;
        }
        int slot = first.isEmpty() || (second.isPresent() && startOf(second.get()).isAfter(startOf(first.get()))) ? 1 : 0;
        Optional<ProcessHandle> found = slot == 0 ? first : second;
        Optional<ProcessHandle> older = slot == 0 ? second : first;
        spec = spec.inSlot(slot);
        older.ifPresent(p -> {
            log.info("instance {}: pid {} was left from an unfinished recycle; draining it", name, p.pid());
            InstanceSpec olderSpec = spec.inSlot(1 - slot);
            Thread drainer = new Thread(() -> drain(p, ProcessExits.of(p), olderSpec.socket()), "drain-" + name);
            drainer.setDaemon(true);
            drainer.start();
        });
        long current = ++watch;
        process = found.get();
        ownChild = false;
        spec = spec.withGeneration(generationOf(process.pid()).orElse(spec.generation()));
        startedAt = process.info().startInstant().orElse(Instant.now());
        exited = watchLock(current);
        transition(InstanceState.RUNNING, "adopted pid " + process.pid());
        return true;
    }

    private static Instant startOf(ProcessHandle process) {
        return process.info().startInstant().orElse(Instant.EPOCH);
    }

    /** The generation on a worker's command line (absent for one started by an older branch). */
    private static Optional<Long> generationOf(long pid) {
        for (String word : ProcessIdentity.cmdline(pid).split(" ")) {
            if (word.startsWith(InstanceSpec.GENERATION_PROPERTY)) {
                try {
                    return Optional.of(Long.parseLong(word.substring(InstanceSpec.GENERATION_PROPERTY.length())));
                } catch (NumberFormatException e) {
                    return Optional.empty();
                }
            }
        }
        return Optional.empty();
    }

    /** Our start found the instance already running (say, still starting from before a branch restart): take it over. */
    private synchronized boolean adoptInstead(long current) {
        if (current != watch || state != InstanceState.STARTING) {
            return false;
        }
        log.info("instance {}: another copy is running; adopting it", name);
        return adopt();
    }

    /** Completes when the worker's lock can be taken: the worker is gone. */
    private CompletableFuture<Void> watchLock(long current) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        java.nio.file.Path lockfile = spec.lockfile();
        Thread watcher = new Thread(() -> {
            try (FileChannel channel = FileChannel.open(lockfile, StandardOpenOption.WRITE)) {
                FileLock lock = channel.lock();
                lock.release();
            } catch (IOException e) {
                if (Thread.currentThread().isInterrupted()) {
                    return;
                }
            }
            done.complete(null);
            onExit(current, null, "its lock was released");
        }, "watch-" + name);
        watcher.setDaemon(true);
        watcher.start();
        done.whenComplete((v, e) -> watcher.interrupt());
        return done;
    }

    // ---- exits --------------------------------------------------------------------------------

    /** @param exit how it ended, or null when this JVM cannot know (not its child, or found dead) */
    private synchronized void onExit(long current, Supervisor.Exit exit, String ended) {
        if (current != watch || !state.isUp()) {
            return;
        }
        String how = killedBecause == null ? ended : killedBecause + ", killed: " + ended;
        killedBecause = null;
        cancelPending();
        listener.exited(name, exit != null ? exit : Supervisor.Exit.unknown(spec.app(), process.pid()));
        if (state == InstanceState.STOPPING) {
            transition(InstanceState.STOPPED, "exited: " + how);
            return;
        }
        boolean quick = state == InstanceState.STARTING
                || (startedAt != null && Duration.between(startedAt, Instant.now()).compareTo(settings.startSecs()) < 0);
        if (quick) {
            failedQuickly("exited while starting or within " + settings.startSecs().toSeconds() + " s: " + how);
            return;
        }
        quickFailures = 0;
        transition(InstanceState.EXITED, how);
    }

    private void failedQuickly(String why) {
        quickFailures++;
        lastError = why;
        if (quickFailures >= settings.startRetries()) {
            transition(InstanceState.FATAL, quickFailures + " quick failures in a row; last: " + why);
            return;
        }
        Duration delay = settings.backoff(quickFailures);
        retryAt = Instant.now().plus(delay);
        transition(InstanceState.BACKOFF, why + "; retry in " + delay.toMillis() + " ms");
        long current = watch;
        schedule(() -> {
            synchronized (this) {
                if (current == watch && state == InstanceState.BACKOFF) {
                    listener.changed(name, InstanceState.BACKOFF, InstanceState.BACKOFF, "retry due");
                }
            }
        }, delay.toMillis());
    }

    /**
     * Notices an adopted process that died unseen (say, a zombie whose exit was never reported). Our
     * own children are left to the reaper: a killed child is a zombie for the moment before it is
     * reaped, and reporting it here would lose its exit code and signal.
     */
    void checkAlive() {
        long current;
        ProcessHandle p;
        synchronized (this) {
            if (state != InstanceState.RUNNING || process == null || ownChild) {
                return;
            }
            current = watch;
            p = process;
        }
        if (!p.isAlive() || ProcessIdentity.isZombie(p.pid())) {
            onExit(current, null, "found dead by the periodic check");
        }
    }

    // ---- stopping -----------------------------------------------------------------------------

    /**
     * Stops the process and waits: warm shutdown over its socket for the instance's warm shutdown
     * time (plus the kill grace), then SIGTERM, then SIGKILL after the kill grace. Leaves STOPPED.
     */
    void stop() {
        ProcessHandle target;
        CompletableFuture<?> gone;
        java.nio.file.Path socket;
        synchronized (this) {
            cancelPending();
            if (setup != null) {
                setup.kill();
            }
            if (!state.isUp() || process == null) {
                transition(InstanceState.STOPPED, null);
                return;
            }
            transition(InstanceState.STOPPING, null);
            target = process;
            gone = exited;
            socket = spec.socket();
        }
        drain(target, gone, socket);
        synchronized (this) {
            if (state == InstanceState.STOPPING) {
                watch++;
                transition(InstanceState.STOPPED, "stopped");
            }
        }
    }

    /**
     * Warm shutdown over the worker's socket (it stops consuming, finishes its running tasks, acks
     * and exits), bounded by the warm shutdown time plus the kill grace; then SIGTERM, then SIGKILL.
     */
    private void drain(ProcessHandle target, CompletableFuture<?> gone, java.nio.file.Path socket) {
        try {
            ControlClient.call(socket, "shutdown", Map.of(), CONTROL_TIMEOUT);
        } catch (IOException e) {
            target.destroy();
        }
        if (!await(gone, target, settings.warmStopWait())) {
            log.warn("instance {}: pid {}: no exit {} s after shutdown; SIGTERM", name, target.pid(), settings.warmStopWait().toSeconds());
            target.destroy();
            if (!await(gone, target, settings.killGrace())) {
                log.warn("instance {}: pid {} still alive; SIGKILL", name, target.pid());
                target.destroyForcibly();
                await(gone, target, settings.killGrace());
            }
        }
    }

    // ---- recycling ----------------------------------------------------------------------------

    /**
     * Replaces the RUNNING worker without a moment of lower capacity: the replacement starts in the
     * directory's other slot (its own pid, lock, socket and statedb; the same queues), and only once it
     * answers ping does it become this instance's process and the old one drain as {@link #stop} would.
     * If the replacement does not come up within the start timeout it is killed and the old one keeps
     * running. Setup commands are not run again: the directory is already set up.
     *
     * @return the pids, or empty when nothing was replaced
     */
    Optional<Supervisor.Recycled> recycle(InstanceSpec desired) {
        ProcessHandle old;
        CompletableFuture<?> oldGone;
        InstanceSpec next;
        synchronized (this) {
            if (state != InstanceState.RUNNING || process == null) {
                return Optional.empty();
            }
            old = process;
            oldGone = exited;
            next = desired.withGeneration(spec.generation()).inSlot(1 - spec.slot());
        }
        Process child;
        try {
            child = launcher.start(next);
        } catch (IOException e) {
            log.warn("instance {}: recycle: {}", name, e.getMessage());
            return Optional.empty();
        }
        long deadline = System.nanoTime() + settings.startTimeout().toNanos();
        while (!answers(next.socket())) {
            if (!child.isAlive() || System.nanoTime() > deadline) {
                log.warn("instance {}: recycle: replacement pid {} {}; keeping pid {}", name, child.pid(),
                        child.isAlive() ? "did not answer ping in time" : "exited with " + child.exitValue(), old.pid());
                child.destroyForcibly();
                return Optional.empty();
            }
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                child.destroyForcibly();
                return Optional.empty();
            }
        }
        java.nio.file.Path oldSocket;
        synchronized (this) {
            if (state != InstanceState.RUNNING || process != old) {
                child.destroyForcibly();
                return Optional.empty();
            }
            oldSocket = spec.socket();
            long current = ++watch;
            spec = next;
            process = child.toHandle();
            ownChild = true;
            startedAt = Instant.now();
            exited = watchChild(child, next.app(), current, false);
        }
        log.info("instance {}: recycle: pid {} answered ping; draining pid {}", name, child.pid(), old.pid());
        launcher.refillSpares(next);
        drain(old, oldGone, oldSocket);
        return Optional.of(new Supervisor.Recycled(old.pid(), child.pid()));
    }

    private static boolean answers(java.nio.file.Path socket) {
        try {
            return ControlClient.call(socket, "ping", Map.of(), Duration.ofSeconds(1)).path("ok").asText().equals("pong");
        } catch (IOException e) {
            return false;
        }
    }

    /** VmRSS from /proc/<pid>/status, 0 when it cannot be read. */
    static long rssKib(long pid) {
        try {
            for (String line : Files.readAllLines(java.nio.file.Path.of("/proc", Long.toString(pid), "status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.substring(6).trim().split("\\s+")[0]);
                }
            }
        } catch (IOException | RuntimeException e) {
            log.debug("instance rss of pid {}: {}", pid, e.getMessage());
        }
        return 0;
    }

    private static boolean await(CompletableFuture<?> gone, ProcessHandle process, Duration timeout) {
        try {
            gone.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            return true;
        } catch (Exception e) {
            return !process.isAlive() || ProcessIdentity.isZombie(process.pid());
        }
    }

    /** Runs {@code work} later on the supervisor's timer; nothing once the supervisor is closed. */
    private void schedule(Runnable work, long delayMillis) {
        try {
            pending = executor.schedule(work, delayMillis, TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException e) {
            pending = null;
        }
    }

    private void cancelPending() {
        if (pending != null) {
            pending.cancel(false);
            pending = null;
        }
    }

    // ---- live settings ------------------------------------------------------------------------

    /**
     * Brings the running worker's live configuration, autoscale bounds and consumed queues to {@code wanted}, and
     * tells what it has used and asks for (tasks processed, resident memory, stuck threads, a recycle) from the same look at
     * its stats.
     */
    Supervisor.Usage applyLive(InstanceSpec wanted, Function<String, Map<String, Object>> queueBinding) throws IOException {
        InstanceSpec desired = wanted.inSlot(spec().slot());
        ProcessHandle worker;
        synchronized (this) {
            worker = process;
        }
        if (worker == null) {
            throw new IOException("no worker process");
        }
        JsonNode stats = ControlClient.call(desired.socket(), "stats", Map.of(), CONTROL_TIMEOUT);
        try {
            applyLive(desired, stats, queueBinding);
        } catch (IOException e) {
            log.debug("instance {}: live settings not applied now: {}", name, e.getMessage());
        }
        return Supervisor.Usage.of(worker.pid(), stats, rssKib(worker.pid()));
    }

    private void applyLive(InstanceSpec desired, JsonNode stats, Function<String, Map<String, Object>> queueBinding)
            throws IOException {
        JsonNode autoscaler = stats.path("autoscaler");
        if (desired.configId() != null && !desired.configId().equals(stats.path("config_id").asText())) {
            log.info("instance {}: config {} -> {}", name, stats.path("config_id").asText(), desired.configId());
            ControlClient.call(desired.socket(), "config", Map.of("config_id", desired.configId(), "config", desired.config()), CONTROL_TIMEOUT);
        }
        if (autoscaler.path("max").asInt() != desired.maxConcurrency() || autoscaler.path("min").asInt() != desired.minConcurrency()) {
            log.info("instance {}: autoscale {},{} -> {},{}", name, autoscaler.path("max").asInt(), autoscaler.path("min").asInt(),
                    desired.maxConcurrency(), desired.minConcurrency());
            ControlClient.call(desired.socket(), "autoscale",
                    Map.of("max", desired.maxConcurrency(), "min", desired.minConcurrency()), CONTROL_TIMEOUT);
        }
        Set<String> live = new HashSet<>();
        ControlClient.call(desired.socket(), "active_queues", Map.of(), CONTROL_TIMEOUT).forEach(q -> live.add(q.path("name").asText()));
        live.remove("dq." + name);
        for (String queue : desired.queues()) {
            if (!live.remove(queue)) {
                log.info("instance {}: start consuming {}", name, queue);
                ControlClient.call(desired.socket(), "add_consumer", queueBinding.apply(queue), CONTROL_TIMEOUT);
            }
        }
        for (String extra : live) {
            log.info("instance {}: stop consuming {}", name, extra);
            ControlClient.call(desired.socket(), "cancel_consumer", Map.of("queue", extra), CONTROL_TIMEOUT);
        }
        synchronized (this) {
            spec = desired.withGeneration(spec.generation());
        }
    }
}
