package jcyme.worker;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.ReadWriteLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import jcyme.tasks.ConfigAware;
import jcyme.tasks.Json;
import jcyme.tasks.Task;
import jcyme.tasks.TaskCall;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The app's live configuration in this worker: the one tasks read, and the {@link ConfigAware}
 * hooks called when it changes. A change waits for running calls of hooked task classes to end
 * (they hold the read lock) and runs the hooks under the write lock, so calls never see a
 * half-applied configuration; changes themselves are serialized by the same lock. A configuration
 * that a hook's {@code birth} throws on is not applied: the hooks get the one in use back, and it
 * is {@linkplain #refused() refused} with the hook's error.
 */
final class LiveConfig {
    private static final Logger log = LoggerFactory.getLogger(LiveConfig.class);

    /** A configuration and its id. */
    record Version(String id, JsonNode config) {
        Version {
            config = config == null || config.isNull() ? Json.MAPPER.createObjectNode() : config.deepCopy();
        }
    }

    /** A configuration not applied, and why. */
    record Refused(String id, String error) {}

    /** How long a stopping worker waits for running hooked calls before it calls {@code death} anyway. */
    static final java.time.Duration STOP_WAIT = java.time.Duration.ofSeconds(10);

    private final List<ConfigAware> hooked;
    private final java.util.concurrent.ExecutorService changes = java.util.concurrent.Executors.newSingleThreadExecutor(r -> {
        Thread thread = new Thread(r, "live-config");
        thread.setDaemon(true);
        return thread;
    });
    private String target;
    private final ReadWriteLock lock = new ReentrantReadWriteLock(true);
    private volatile Version current;
    private volatile Refused refused;
    private boolean born;

    LiveConfig(Map<String, Task> tasks, Version initial) {
        this.hooked = tasks.values().stream().filter(ConfigAware.class::isInstance).map(ConfigAware.class::cast).distinct().toList();
        this.current = initial;
        this.target = initial.id();
    }

    /** {@code {"config_id": ..., "config": {...}}} from {@code file}, or the empty initial configuration when there is none. */
    static Version read(Path file) throws IOException {
        if (file == null) {
            return new Version(TaskCall.INITIAL_CONFIG_ID, null);
        }
        JsonNode node = Json.MAPPER.readTree(Files.readAllBytes(file));
        return parse(node);
    }

    /** A configuration as the control command and the config file give it; anything else is an {@link IllegalArgumentException}. */
    static Version parse(JsonNode node) {
        String id = node.path("config_id").asText("");
        if (id.isEmpty()) {
            throw new IllegalArgumentException("config_id must be a non-empty string");
        }
        JsonNode config = node.path("config");
        if (!config.isMissingNode() && !config.isNull() && !config.isObject()) {
            throw new IllegalArgumentException("config must be a JSON object");
        }
        return new Version(id, config);
    }

    Version current() {
        return current;
    }

    /** The last configuration a hook could not take (while no later one was applied), or null. */
    Refused refused() {
        return refused;
    }

    /** Calls {@code birth} with the initial configuration. */
    void start() {
        lock.writeLock().lock();
        try {
            birth(current);
            born = true;
        } finally {
            lock.writeLock().unlock();
        }
    }

    /**
     * Replaces the configuration, on the configuration's own thread (it waits for running hooked
     * calls to end), unless it has, or is about to have, this id already; false then.
     */
    synchronized boolean submit(Version next) {
        if (next.id().equals(target)) {
            return false;
        }
        target = next.id();
        changes.execute(() -> replace(next));
        return true;
    }

    private boolean replace(Version next) {
        lock.writeLock().lock();
        try {
            if (next.id().equals(current.id())) {
                return false;
            }
            if (born) {
                death();
                List<String> errors = birth(next);
                if (!errors.isEmpty()) {
                    refused = new Refused(next.id(), String.join("; ", errors));
                    log.warn("config {} not applied, {} stays: {}", next.id(), current.id(), refused.error());
                    death();
                    birth(current);
                    return false;
                }
            }
            log.info("config {} -> {}", current.id(), next.id());
            current = next;
            refused = null;
            return true;
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** Calls {@code death} once, when the worker stops. */
    void stop() {
        changes.shutdown();
        boolean locked = false;
        try {
            changes.awaitTermination(STOP_WAIT.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
            locked = lock.writeLock().tryLock(STOP_WAIT.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            if (born) {
                death();
                born = false;
            }
        } finally {
            if (locked) {
                lock.writeLock().unlock();
            }
        }
    }

    /** Runs a call of {@code task} with the configuration current when it starts; a hooked task holds off changes meanwhile. */
    Object run(Task task, CallWithConfig call) throws Exception {
        if (!(task instanceof ConfigAware)) {
            return call.run(current);
        }
        lock.readLock().lock();
        try {
            return call.run(current);
        } finally {
            lock.readLock().unlock();
        }
    }

    @FunctionalInterface
    interface CallWithConfig {
        Object run(Version config) throws Exception;
    }

    /** Gives every hooked task {@code version}; returns what the ones that failed threw. */
    private List<String> birth(Version version) {
        List<String> errors = new java.util.ArrayList<>();
        for (ConfigAware task : hooked) {
            try {
                task.birth(version.id(), version.config().deepCopy());
            } catch (Exception e) {
                String error = task.getClass().getName() + ".birth(" + version.id() + ") failed: " + e;
                log.warn(error);
                errors.add(error);
            }
        }
        return errors;
    }

    private void death() {
        for (ConfigAware task : hooked) {
            try {
                task.death();
            } catch (Exception e) {
                log.warn("{}.death() failed: {}", task.getClass().getName(), e.toString());
            }
        }
    }
}
