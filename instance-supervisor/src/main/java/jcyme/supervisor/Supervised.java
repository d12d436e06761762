package jcyme.supervisor;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One instance under supervision: a state machine (see {@link InstanceState}) with one transition
 * method that logs every change. The process is watched from its exit itself — {@code onExit} for
 * a child of this JVM, the worker's lock for an adopted one — not by polling.
 */
final class Supervised {
    private static final Logger log = LoggerFactory.getLogger(Supervised.class);
    private static final Duration CONTROL_TIMEOUT = Duration.ofSeconds(3);
    /** The worker's exit code when another copy of it holds its lock. */
    private static final int ALREADY_RUNNING = 3;

    private final SupervisorSettings settings;
    private final WorkerLauncher launcher;
    private final ScheduledExecutorService executor;
    private final Function<String, Map<String, Object>> queueBinding;
    private volatile InstanceSpec spec;
    private InstanceState state = InstanceState.STOPPED;
    private boolean wanted;
    private ProcessHandle process;
    private CompletableFuture<?> exited = CompletableFuture.completedFuture(null);
    private long generation;
    private int quickFailures;
    private int restarts;
    private Instant startedAt;
    private String lastError;
    private ScheduledFuture<?> pending;

    Supervised(InstanceSpec spec, SupervisorSettings settings, WorkerLauncher launcher, ScheduledExecutorService executor,
               Function<String, Map<String, Object>> queueBinding) {
        this.spec = spec;
        this.settings = settings;
        this.launcher = launcher;
        this.executor = executor;
        this.queueBinding = queueBinding;
    }

    InstanceSpec spec() {
        return spec;
    }

    synchronized InstanceStatus status() {
        return new InstanceStatus(spec.name(), state, process == null ? null : process.pid(), restarts, startedAt, lastError);
    }

    synchronized InstanceState state() {
        return state;
    }

    private void transition(InstanceState to, String why) {
        if (state == to) {
            return;
        }
        log.info("instance {}: {} -> {}{}", spec.name(), state, to, why == null ? "" : " (" + why + ")");
        state = to;
    }

    // ---- starting -----------------------------------------------------------------------------

    /** Wants the instance up; starts it unless it is already starting or running. */
    synchronized void start() {
        wanted = true;
        if (state.isUp()) {
            return;
        }
        cancelPending();
        launch();
    }

    /** Starts again from FATAL or BACKOFF, forgetting earlier failures. */
    synchronized void resetAndStart() {
        quickFailures = 0;
        lastError = null;
        start();
    }

    private void launch() {
        long gen = ++generation;
        transition(InstanceState.STARTING, null);
        Process child;
        try {
            child = launcher.start(spec);
        } catch (IOException e) {
            lastError = e.getMessage();
            failedQuickly(gen, e.getMessage());
            return;
        }
        process = child.toHandle();
        startedAt = null;
        exited = child.onExit().thenAccept(p -> {
            if (p.exitValue() == ALREADY_RUNNING && adoptInstead(gen)) {
                return;
            }
            onExit(gen, "exit code " + p.exitValue());
        });
        Instant deadline = Instant.now().plus(settings.startTimeout());
        pending = executor.schedule(() -> awaitReady(gen, deadline), 100, TimeUnit.MILLISECONDS);
    }

    private void awaitReady(long gen, Instant deadline) {
        boolean answered = ping();
        synchronized (this) {
            if (gen != generation || state != InstanceState.STARTING) {
                return;
            }
            if (answered) {
                startedAt = Instant.now();
                transition(InstanceState.RUNNING, "pid " + process.pid() + " answered ping");
                applyLive();
                return;
            }
            if (Instant.now().isAfter(deadline)) {
                lastError = "did not answer ping within " + settings.startTimeout().toSeconds() + " s";
                log.warn("instance {}: {}; killing it", spec.name(), lastError);
                process.destroyForcibly();
                return;
            }
            pending = executor.schedule(() -> awaitReady(gen, deadline), 100, TimeUnit.MILLISECONDS);
        }
    }

    private boolean ping() {
        try {
            return ControlClient.call(spec.socket(), "ping", Map.of(), Duration.ofSeconds(1)).path("ok").asText().equals("pong");
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Takes over a worker that is already running (found by {@link ProcessIdentity}); false if
     * none. A worker still starting holds its lock before it writes its pid file: wait for that.
     */
    synchronized boolean adopt() {
        long deadline = System.nanoTime() + settings.startTimeout().toNanos();
        while (!java.nio.file.Files.exists(spec.pidfile()) && ProcessIdentity.lockHeld(spec.lockfile())
                && System.nanoTime() < deadline) {
            try {
                wait(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        Optional<ProcessHandle> found = ProcessIdentity.find(spec);
        if (found.isEmpty()) {
            return false;
        }
        long gen = ++generation;
        wanted = true;
        process = found.get();
        startedAt = process.info().startInstant().orElse(Instant.now());
        exited = watchLock(gen);
        transition(InstanceState.RUNNING, "adopted pid " + process.pid());
        return true;
    }

    /** Our start found the instance already running (say, still starting from before a branch restart): take it over. */
    private synchronized boolean adoptInstead(long gen) {
        if (gen != generation || !wanted) {
            return false;
        }
        log.info("instance {}: another copy is running; adopting it", spec.name());
        return adopt();
    }

    /** Completes when the worker's lock can be taken: the worker is gone. */
    private CompletableFuture<Void> watchLock(long gen) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        Thread watcher = new Thread(() -> {
            try (FileChannel channel = FileChannel.open(spec.lockfile(), StandardOpenOption.WRITE)) {
                FileLock lock = channel.lock();
                lock.release();
            } catch (IOException e) {
                if (Thread.currentThread().isInterrupted()) {
                    return;
                }
            }
            done.complete(null);
            onExit(gen, "its lock was released");
        }, "watch-" + spec.name());
        watcher.setDaemon(true);
        watcher.start();
        done.whenComplete((v, e) -> watcher.interrupt());
        return done;
    }

    // ---- exits --------------------------------------------------------------------------------

    private synchronized void onExit(long gen, String how) {
        if (gen != generation) {
            return;
        }
        cancelPending();
        if (state == InstanceState.STOPPING || !wanted) {
            transition(InstanceState.STOPPED, "exited: " + how);
            return;
        }
        boolean quick = state == InstanceState.STARTING
                || (startedAt != null && Duration.between(startedAt, Instant.now()).compareTo(settings.startSecs()) < 0);
        if (quick) {
            failedQuickly(gen, "exited while starting or within " + settings.startSecs().toSeconds() + " s: " + how);
            return;
        }
        quickFailures = 0;
        transition(InstanceState.EXITED, how);
        restarts++;
        launch();
    }

    private void failedQuickly(long gen, String why) {
        quickFailures++;
        lastError = why;
        if (quickFailures >= settings.startRetries()) {
            transition(InstanceState.FATAL, quickFailures + " quick failures in a row; last: " + why);
            return;
        }
        Duration delay = settings.backoff(quickFailures);
        transition(InstanceState.BACKOFF, why + "; retry in " + delay.toMillis() + " ms");
        pending = executor.schedule(() -> {
            synchronized (this) {
                if (gen == generation && state == InstanceState.BACKOFF && wanted) {
                    restarts++;
                    launch();
                }
            }
        }, delay.toMillis(), TimeUnit.MILLISECONDS);
    }

    // ---- stopping -----------------------------------------------------------------------------

    /**
     * Stops the instance and waits: warm shutdown over its socket, SIGTERM after the stop grace,
     * SIGKILL after the kill grace.
     */
    void stop() {
        ProcessHandle target;
        CompletableFuture<?> gone;
        synchronized (this) {
            wanted = false;
            cancelPending();
            if (!state.isUp() || process == null) {
                transition(InstanceState.STOPPED, null);
                return;
            }
            transition(InstanceState.STOPPING, null);
            target = process;
            gone = exited;
        }
        try {
            ControlClient.call(spec.socket(), "shutdown", Map.of(), CONTROL_TIMEOUT);
        } catch (IOException e) {
            target.destroy();
        }
        if (!await(gone, target, settings.stopGrace())) {
            log.warn("instance {}: no exit {} s after shutdown; SIGTERM", spec.name(), settings.stopGrace().toSeconds());
            target.destroy();
            if (!await(gone, target, settings.killGrace())) {
                log.warn("instance {}: still alive; SIGKILL", spec.name());
                target.destroyForcibly();
                await(gone, target, settings.killGrace());
            }
        }
        synchronized (this) {
            if (state == InstanceState.STOPPING) {
                transition(InstanceState.STOPPED, "stopped");
            }
        }
    }

    private static boolean await(CompletableFuture<?> gone, ProcessHandle process, Duration timeout) {
        try {
            gone.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            return true;
        } catch (Exception e) {
            return !process.isAlive() || ProcessIdentity.isZombie(process.pid());
        }
    }

    private void cancelPending() {
        if (pending != null) {
            pending.cancel(false);
            pending = null;
        }
    }

    // ---- live settings ------------------------------------------------------------------------

    /** Replaces what the instance should run; autoscale and queues apply live when it runs. */
    void update(InstanceSpec newSpec) {
        this.spec = newSpec;
        if (state() == InstanceState.RUNNING) {
            applyLive();
        }
    }

    /** Corrects autoscale and queue drift against the worker's live stats; also restarts the missing. */
    void reconcile() {
        InstanceState now = state();
        if (now == InstanceState.RUNNING) {
            ProcessHandle p;
            synchronized (this) {
                p = process;
            }
            if (p != null && (!p.isAlive() || ProcessIdentity.isZombie(p.pid()))) {
                onExit(generation, "found dead by the periodic check");
                return;
            }
            applyLive();
        } else if ((now == InstanceState.STOPPED || now == InstanceState.EXITED) && wanted()) {
            start();
        }
    }

    private synchronized boolean wanted() {
        return wanted;
    }

    private void applyLive() {
        executor.execute(() -> {
            try {
                InstanceSpec desired = spec;
                JsonNode autoscaler = ControlClient.call(desired.socket(), "stats", Map.of(), CONTROL_TIMEOUT).path("autoscaler");
                if (autoscaler.path("max").asInt() != desired.maxConcurrency()
                        || autoscaler.path("min").asInt() != desired.minConcurrency()) {
                    log.info("instance {}: autoscale {},{} -> {},{}", desired.name(), autoscaler.path("max").asInt(),
                            autoscaler.path("min").asInt(), desired.maxConcurrency(), desired.minConcurrency());
                    ControlClient.call(desired.socket(), "autoscale",
                            Map.of("max", desired.maxConcurrency(), "min", desired.minConcurrency()), CONTROL_TIMEOUT);
                }
                Set<String> live = new HashSet<>();
                ControlClient.call(desired.socket(), "active_queues", Map.of(), CONTROL_TIMEOUT)
                        .forEach(q -> live.add(q.path("name").asText()));
                live.remove("dq." + desired.name());
                for (String queue : desired.queues()) {
                    if (!live.remove(queue)) {
                        log.info("instance {}: start consuming {}", desired.name(), queue);
                        ControlClient.call(desired.socket(), "add_consumer", queueBinding.apply(queue), CONTROL_TIMEOUT);
                    }
                }
                for (String extra : live) {
                    log.info("instance {}: stop consuming {}", desired.name(), extra);
                    ControlClient.call(desired.socket(), "cancel_consumer", Map.of("queue", extra), CONTROL_TIMEOUT);
                }
            } catch (IOException e) {
                log.debug("instance {}: live settings not applied now: {}", spec.name(), e.getMessage());
            }
        });
    }
}
