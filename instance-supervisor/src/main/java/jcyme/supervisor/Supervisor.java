package jcyme.supervisor;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReadWriteLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Function;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The processes of worker instances: spawns, watches, stops and re-adopts them, one state
 * machine each. It keeps what runs, not what should: callers say start, stop or forget, and hear
 * of every transition through the {@link Listener}. Knows nothing of HTTP or of where specs come from.
 */
public final class Supervisor implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Supervisor.class);

    /** Hears every state transition (and a BACKOFF whose retry is due) and every exit of a watched worker; must not block. */
    @FunctionalInterface
    public interface Listener {
        void changed(String instance, InstanceState from, InstanceState to, String why);

        /** A watched worker is gone; heard just before the transition its exit causes. */
        default void exited(String instance, Exit exit) {}
    }

    /**
     * How a worker ended. Java reports a death by signal N as exit code 128 + N (a JVM that runs
     * its shutdown hooks on SIGTERM exits 143 itself), so such a code names that signal. A worker
     * adopted from an earlier branch run is no child of this JVM: its exit code is unknown.
     *
     * @param code    the exit code, or null when unknown
     * @param signal  the signal's name ({@code "SIGKILL"}) for a code of 129 to 159, {@code "unknown"} when the code is, else null
     */
    public record Exit(String app, long pid, Integer code, String signal) {
        private static final String[] SIGNALS = {null, "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS",
                "SIGFPE", "SIGKILL", "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT", "SIGCHLD",
                "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF",
                "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS"};

        /** The exit of a child of this JVM, as {@link Process#exitValue} reports it. */
        public static Exit of(String app, long pid, int code) {
            int signal = code - 128;
            String name = signal > 0 && signal < SIGNALS.length ? SIGNALS[signal] : null;
            return new Exit(app, pid, code, name);
        }

        /** The exit of a worker whose exit code cannot be known (adopted, or found dead). */
        public static Exit unknown(String app, long pid) {
            return new Exit(app, pid, null, "unknown");
        }
    }

    private final SupervisorSettings settings;
    private final Launcher launcher;
    private final Listener listener;
    private final Map<String, Supervised> instances = new ConcurrentHashMap<>();
    /** Starts hold it shared; {@link #close} takes it alone, so nothing starts once it returns. */
    private final ReadWriteLock starting = new ReentrantReadWriteLock();
    private boolean closed;
    private final ScheduledExecutorService executor = Executors.newScheduledThreadPool(2, task -> {
        Thread thread = new Thread(task, "supervisor");
        thread.setDaemon(true);
        return thread;
    });

    public Supervisor(SupervisorSettings settings, WorkerLauncher launcher, Listener listener) {
        this(settings, (Launcher) launcher, listener);
    }

    Supervisor(SupervisorSettings settings, Launcher launcher, Listener listener) {
        this.settings = settings;
        this.launcher = launcher;
        this.listener = listener;
    }

    public SupervisorSettings settings() {
        return settings;
    }

    private Supervised supervised(InstanceSpec spec) {
        return instances.computeIfAbsent(spec.name(), name -> new Supervised(spec, settings, launcher, executor, listener));
    }

    /** True if the instance has a state machine here (it was adopted, started or stopped since this branch started). */
    public boolean knows(String name) {
        return instances.containsKey(name);
    }

    /** Takes over the instance's worker if it already runs; false if none does. */
    public boolean adopt(InstanceSpec spec) {
        return supervised(spec).adopt();
    }

    /**
     * Starts the instance's worker unless one is up, after the app's setup command (which runs on
     * the calling thread, STARTING throughout); nothing starts once this supervisor is closed.
     */
    public void start(InstanceSpec spec) {
        if (isClosed()) {
            log.info("instance {}: not started, the supervisor is closing", spec.name());
            return;
        }
        Supervised instance = supervised(spec);
        long attempt = instance.prepare(spec);
        if (attempt < 0) {
            return;
        }
        starting.readLock().lock();
        try {
            if (closed) {
                instance.abandon(attempt);
                return;
            }
            instance.spawn(spec, attempt);
        } finally {
            starting.readLock().unlock();
        }
    }

    private boolean isClosed() {
        starting.readLock().lock();
        try {
            return closed;
        } finally {
            starting.readLock().unlock();
        }
    }

    /** Stops the instance's worker (if one is up) and waits for it to be gone. */
    public void stop(String name) {
        Supervised instance = instances.get(name);
        if (instance != null) {
            instance.stop();
        }
    }

    /** Stops the worker and drops the instance's state machine. */
    public void forget(String name) {
        stop(name);
        instances.remove(name);
        launcher.retainSpares(instances.values().stream().map(Supervised::spec).toList());
    }

    /**
     * Brings a running worker's live configuration, autoscale bounds and queues to the spec's, and
     * tells what the worker has used (from the same look at its stats); empty unless it is RUNNING.
     */
    public Optional<Usage> applyLive(InstanceSpec spec, Function<String, Map<String, Object>> queueBinding) throws IOException {
        Supervised instance = instances.get(spec.name());
        if (instance != null && instance.status().state() == InstanceState.RUNNING) {
            return Optional.of(instance.applyLive(spec, queueBinding));
        }
        return Optional.empty();
    }

    /** What a recycle did: the worker drained and the one that replaced it. */
    public record Recycled(long oldPid, long newPid) {}

    /**
     * What a running worker has used and asks for, from one look at its {@code stats}.
     *
     * @param tasks             tasks processed ({@code total} summed)
     * @param rssKib            resident memory (VmRSS) in KiB
     * @param stuckThreads      pool threads given up on (past a hard time limit, or terminated) that still run ({@code stuck_threads})
     * @param recycleRequested  why the worker asks to be replaced ({@code recycle_requested}: too many stuck threads, a
     *                          {@code pool_restart}), or null when it does not
     */
    public record Usage(long pid, long tasks, long rssKib, int stuckThreads, String recycleRequested) {
        /** The usage a worker's {@code stats} answer tells, with its pid and resident memory. */
        public static Usage of(long pid, JsonNode stats, long rssKib) {
            long tasks = 0;
            for (JsonNode count : stats.path("total")) {
                tasks += count.asLong();
            }
            JsonNode recycle = stats.path("recycle_requested");
            return new Usage(pid, tasks, rssKib, stats.path("stuck_threads").asInt(0), recycle.isTextual() ? recycle.asText() : null);
        }
    }

    /**
     * Replaces the RUNNING worker: its replacement consumes before it drains (see {@code Supervised.recycle});
     * returns once the old one is gone, empty when nothing was replaced. Nothing starts once this supervisor is closed.
     */
    public Optional<Recycled> recycle(InstanceSpec spec) {
        Supervised instance = instances.get(spec.name());
        if (instance == null || isClosed()) {
            return Optional.empty();
        }
        return instance.recycle(spec);
    }

    /** Notices a worker that died without its exit being seen. */
    public void checkAlive(String name) {
        Supervised instance = instances.get(name);
        if (instance != null) {
            instance.checkAlive();
        }
    }

    /** The app of an instance with a state machine here (safe to call from the listener). */
    public Optional<String> app(String name) {
        return Optional.ofNullable(instances.get(name)).map(instance -> instance.spec().app());
    }

    public Optional<InstanceStatus> status(String name) {
        return Optional.ofNullable(instances.get(name)).map(Supervised::status);
    }

    /** Names of every instance with a state machine here. */
    public List<String> names() {
        return List.copyOf(instances.keySet());
    }

    /** Sends a control command to a running instance. */
    public JsonNode control(String name, String method, Map<String, ?> arguments, Duration timeout)
            throws ControlClient.UnreachableException {
        Supervised instance = instances.get(name);
        if (instance == null) {
            throw new ControlClient.UnreachableException("no such instance " + name, null);
        }
        return ControlClient.call(instance.spec().socket(), method, arguments, timeout);
    }

    /**
     * Stops a worker left in {@code dir} whose record is gone (never leave an orphan) and deletes
     * the directory. Only a process proven to be that instance's worker is signalled.
     */
    public void stopOrphan(Path dir) {
        String name = dir.getFileName().toString();
        for (String stem : List.of("worker", "worker-1")) {
            stopOrphan(dir, name, stem);
        }
        deleteTree(dir);
    }

    private void stopOrphan(Path dir, String name, String stem) {
        try {
            long pid = Long.parseLong(Files.readAllLines(dir.resolve(stem + ".pid")).get(0).trim());
            String cmdline = ProcessIdentity.cmdline(pid) + " ";
            if (ProcessIdentity.lockHeld(dir.resolve(stem + ".lock")) && cmdline.contains("-Djcyme.instance=")
                    && cmdline.contains("/" + name + " ")) {
                log.warn("stopping orphan instance {} (pid {}): its record is gone", name, pid);
                ProcessHandle.of(pid).ifPresent(p -> {
                    p.destroy();
                    try {
                        ProcessExits.of(p).get(settings.warmStopWait().toMillis(), TimeUnit.MILLISECONDS);
                    } catch (Exception e) {
                        p.destroyForcibly();
                    }
                });
            }
        } catch (IOException | RuntimeException e) {
            log.debug("orphan {}: no live worker in {} ({})", name, stem, e.getMessage());
        }
    }

    /**
     * Stops supervising and starts nothing more; running workers keep running (a restarted branch
     * re-adopts them), spare workers are stopped.
     */
    @Override
    public void close() {
        starting.writeLock().lock();
        try {
            closed = true;
        } finally {
            starting.writeLock().unlock();
        }
        executor.shutdownNow();
        launcher.closeSpares();
    }

    /** Deletes a directory tree (best effort, logged). */
    public static void deleteTree(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
        } catch (IOException e) {
            log.warn("could not delete {}: {}", dir, e.getMessage());
        }
    }
}
