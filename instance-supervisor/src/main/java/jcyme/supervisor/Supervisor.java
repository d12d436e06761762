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
import java.util.function.Function;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps worker instances running: spawns, watches, restarts, stops and re-adopts them, and
 * reconciles every {@code interval}. Knows nothing of HTTP or of where specs come from.
 */
public final class Supervisor implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Supervisor.class);

    private final SupervisorSettings settings;
    private final WorkerLauncher launcher;
    private final Function<String, Map<String, Object>> queueBinding;
    private final Map<String, Supervised> instances = new ConcurrentHashMap<>();
    private final ScheduledExecutorService executor = Executors.newScheduledThreadPool(4, task -> {
        Thread thread = new Thread(task, "supervisor");
        thread.setDaemon(true);
        return thread;
    });

    /**
     * @param queueBinding  the {@code add_consumer} arguments (queue, exchange, exchange_type, routing_key) of a queue name
     */
    public Supervisor(SupervisorSettings settings, WorkerLauncher launcher,
                      Function<String, Map<String, Object>> queueBinding) {
        this.settings = settings;
        this.launcher = launcher;
        this.queueBinding = queueBinding;
        executor.scheduleWithFixedDelay(this::reconcileAll, settings.interval().toMillis(),
                settings.interval().toMillis(), TimeUnit.MILLISECONDS);
    }

    public SupervisorSettings settings() {
        return settings;
    }

    private Supervised supervised(InstanceSpec spec) {
        return instances.computeIfAbsent(spec.name(),
                name -> new Supervised(spec, settings, launcher, executor, queueBinding));
    }

    /** Adopts the instance if its worker already runs, else starts it (when {@code enabled}). */
    public void adoptOrStart(InstanceSpec spec, boolean enabled) {
        Supervised instance = supervised(spec);
        if (!instance.adopt() && enabled) {
            instance.start();
        }
    }

    public void start(InstanceSpec spec) {
        supervised(spec).start();
    }

    /** Stops (if running) and starts again; clears a FATAL state. */
    public void restart(String name) {
        Supervised instance = instances.get(name);
        if (instance != null) {
            instance.stop();
            instance.resetAndStart();
        }
    }

    public void stop(String name) {
        Supervised instance = instances.get(name);
        if (instance != null) {
            instance.stop();
        }
    }

    /** Stops the instance and deletes its directory. */
    public void remove(String name) {
        Supervised instance = instances.remove(name);
        if (instance != null) {
            instance.stop();
            deleteTree(instance.spec().dir());
        }
    }

    /** New settings for an instance; autoscale and queues apply live. */
    public void update(InstanceSpec spec) {
        Supervised instance = instances.get(spec.name());
        if (instance == null) {
            supervised(spec);
        } else {
            instance.update(spec);
        }
    }

    public Optional<InstanceStatus> status(String name) {
        return Optional.ofNullable(instances.get(name)).map(Supervised::status);
    }

    public List<InstanceStatus> statuses() {
        return instances.values().stream().map(Supervised::status).toList();
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
        InstanceSpec probe = new InstanceSpec("?", name, dir, "", List.of(), 0, 1, List.of(), List.of(), Map.of(), List.of());
        try {
            List<String> lines = Files.readAllLines(probe.pidfile());
            long pid = Long.parseLong(lines.get(0).trim());
            String cmdline = ProcessIdentity.cmdline(pid);
            if (ProcessIdentity.lockHeld(probe.lockfile()) && cmdline.contains("-Djcyme.instance=")
                    && cmdline.contains("/" + name + " ")) {
                log.warn("stopping orphan instance {} (pid {}): its record is gone", name, pid);
                ProcessHandle.of(pid).ifPresent(p -> {
                    p.destroy();
                    try {
                        p.onExit().get(settings.stopGrace().toMillis(), TimeUnit.MILLISECONDS);
                    } catch (Exception e) {
                        p.destroyForcibly();
                    }
                });
            }
        } catch (IOException | RuntimeException e) {
            log.debug("orphan {}: no live worker ({})", name, e.getMessage());
        }
        deleteTree(dir);
    }

    private void reconcileAll() {
        for (Supervised instance : instances.values()) {
            try {
                instance.reconcile();
            } catch (RuntimeException e) {
                log.warn("reconcile of {} failed: {}", instance.spec().name(), e.toString());
            }
        }
    }

    /** Stops supervising; running workers keep running (a restarted branch re-adopts them). */
    @Override
    public void close() {
        executor.shutdownNow();
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
