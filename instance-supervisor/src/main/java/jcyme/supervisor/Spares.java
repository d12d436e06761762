package jcyme.supervisor;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Spare workers: JVMs started ahead of need, one set per launch configuration (an app's JVM options
 * and environment), that have loaded what every worker needs and wait to be claimed. A start that
 * finds one hands it the instance's arguments instead of starting a JVM; a new spare is then made
 * in the background. A spare is no instance: it has no record, no state machine and no directory.
 *
 * <p>The spare's stdin is a pipe from this JVM: its preparation (broker and task class path) and
 * then the claim travel over it (so the broker URL never
 * shows on a command line), and its end of input tells an unclaimed spare that its branch is gone.
 * That is why spares are started with a plain {@link ProcessBuilder}, which keeps that pipe, while
 * workers go through zt-exec. Until claimed, they work in a scratch directory of their own and
 * their output is appended to one log file; a claimed spare moves into its instance's directory and log.
 */
final class Spares implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Spares.class);
    static final String MAIN = "jcyme.worker.SpareMain";
    static final String PLACEHOLDER = "-Djcyme.spare=";
    /** The placeholder's width: room for the instance marker (two names of up to 128 characters) and the generation marker. */
    private static final int TITLE_ROOM = 360;
    /**
     * What a claimed spare needs to move Java's view of its working directory into the instance's
     * (the JDK keeps {@code user.dir} from its start in {@code java.io} and {@code sun.nio.fs}).
     */
    private static final List<String> OPENS = List.of("--add-opens=java.base/java.io=ALL-UNNAMED",
            "--add-opens=java.base/sun.nio.fs=ALL-UNNAMED");
    /** A spare's exit code when it cannot take an instance's name here; spares are then given up. */
    private static final int EXIT_UNSUPPORTED = 4;

    /**
     * What a spare must share with the instance it becomes: the JVM's options and environment, and
     * what it prepares ahead, the broker it connects to and the class path of the tasks it loads.
     */
    record Key(List<String> jvmOptions, Map<String, String> env, String broker, List<String> classpath) {
        static Key of(InstanceSpec spec) {
            return new Key(spec.jvmOptions(), spec.env(), spec.broker(), spec.classpath());
        }

        /** The spare's first line on stdin (the broker URL travels there, never on a command line). */
        String preparation() {
            Map<String, Object> line = new java.util.LinkedHashMap<>();
            line.put("broker", broker);
            line.put("classpath", classpath);
            try {
                return JSON.writeValueAsString(line);
            } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                throw new IllegalStateException(e);
            }
        }
    }

    private static final com.fasterxml.jackson.databind.ObjectMapper JSON = new com.fasterxml.jackson.databind.ObjectMapper();

    private final Path java;
    private final Function<List<String>, List<String>> jvm;
    private final Path workDir;
    private final Path logFile;
    private final int perKey;
    private final Map<Key, Deque<Process>> idle = new HashMap<>();
    private final ExecutorService starter = Executors.newSingleThreadExecutor(task -> {
        Thread thread = new Thread(task, "spares");
        thread.setDaemon(true);
        return thread;
    });
    private boolean closed;
    private boolean unsupported;

    /**
     * @param jvm      a worker's JVM options for an app's options, ending in the class path (no main class)
     * @param workDir  the spares' working directory until claimed (made 0700 when missing)
     * @param logFile  where spares write until they are claimed
     * @param perKey   spares kept per launch configuration; 0 turns them off
     */
    Spares(Path java, Function<List<String>, List<String>> jvm, Path workDir, Path logFile, int perKey) {
        this.java = java;
        this.jvm = jvm;
        this.workDir = workDir;
        this.logFile = logFile;
        this.perKey = perKey;
    }

    /** Hands {@code claim} (one JSON line) to an idle spare of the spec's configuration; empty when there is none. */
    Optional<Process> claim(InstanceSpec spec, String claim) {
        Key key = Key.of(spec);
        while (true) {
            Process spare;
            synchronized (this) {
                Deque<Process> ready = idle.get(key);
                spare = ready == null ? null : ready.poll();
            }
            if (spare == null) {
                return Optional.empty();
            }
            try (OutputStream in = spare.getOutputStream()) {
                in.write((claim + "\n").getBytes(StandardCharsets.UTF_8));
            } catch (IOException e) {
                log.debug("spare pid {} could not be claimed: {}", spare.pid(), e.getMessage());
                spare.destroyForcibly();
                continue;
            }
            return Optional.of(spare);
        }
    }

    /** Makes, in the background, the spares the spec's configuration lacks. */
    void refill(InstanceSpec spec) {
        Key key = Key.of(spec);
        synchronized (this) {
            if (closed || unsupported || perKey <= 0) {
                return;
            }
        }
        try {
            starter.execute(() -> fill(key));
        } catch (RejectedExecutionException e) {
            // closed meanwhile
        }
    }

    private void fill(Key key) {
        while (true) {
            synchronized (this) {
                if (closed || unsupported || idle.computeIfAbsent(key, k -> new ArrayDeque<>()).size() >= perKey) {
                    return;
                }
            }
            Process spare;
            try {
                spare = spawn(key);
            } catch (IOException e) {
                log.warn("spare worker not started: {}", e.getMessage());
                return;
            }
            synchronized (this) {
                Deque<Process> ready = idle.get(key);
                if (closed || ready == null) {
                    spare.destroyForcibly();
                    return;
                }
                ready.add(spare);
            }
            ProcessExits.of(spare).thenAccept(this::exitedIdle);
            log.debug("spare worker pid {} started", spare.pid());
        }
    }

    private Process spawn(Key key) throws IOException {
        WorkerLauncher.privateDirectory(workDir);
        List<String> command = new ArrayList<>(List.of("setsid", java.toString(), PLACEHOLDER + ".".repeat(TITLE_ROOM)));
        command.addAll(OPENS);
        command.addAll(jvm.apply(key.jvmOptions()));
        command.add(MAIN);
        String script = "exec " + WorkerLauncher.shellWords(command) + " >>" + WorkerLauncher.quote(logFile.toString()) + " 2>&1";
        ProcessBuilder builder = new ProcessBuilder("/bin/sh", "-c", script).directory(workDir.toFile());
        builder.environment().putAll(key.env());
        builder.environment().remove(WorkerLauncher.BROKER_ENV);
        Process spare = builder.start();
        try {
            OutputStream in = spare.getOutputStream();
            in.write((key.preparation() + "\n").getBytes(StandardCharsets.UTF_8));
            in.flush();
        } catch (IOException e) {
            spare.destroyForcibly();
            throw e;
        }
        return spare;
    }

    /** An idle spare died (never one that was claimed: that is an instance now, watched as such). */
    private void exitedIdle(Process spare) {
        synchronized (this) {
            boolean wasIdle = idle.values().stream().anyMatch(ready -> ready.remove(spare));
            if (!wasIdle) {
                return;
            }
            if (spare.exitValue() == EXIT_UNSUPPORTED && !unsupported) {
                unsupported = true;
                log.warn("spare workers are off: a spare cannot take an instance's name on this system (see {})", logFile);
            } else if (!closed) {
                log.info("spare worker pid {} exited unclaimed (code {}); see {}", spare.pid(), spare.exitValue(), logFile);
            }
        }
    }

    /** Stops the idle spares of configurations no instance in {@code live} uses (and one being made for them). */
    void retain(Collection<InstanceSpec> live) {
        Set<Key> used = live.stream().map(Key::of).collect(Collectors.toSet());
        List<Process> unused = new ArrayList<>();
        synchronized (this) {
            idle.entrySet().removeIf(entry -> {
                if (used.contains(entry.getKey())) {
                    return false;
                }
                unused.addAll(entry.getValue());
                return true;
            });
        }
        unused.forEach(Process::destroy);
    }

    /** The pids of idle spares. */
    synchronized List<Long> pids() {
        return idle.values().stream().flatMap(Collection::stream).map(Process::pid).toList();
    }

    /** Stops every idle spare and makes no more. */
    @Override
    public void close() {
        List<Process> all;
        synchronized (this) {
            closed = true;
            all = idle.values().stream().flatMap(Collection::stream).toList();
            idle.clear();
        }
        starter.shutdownNow();
        all.forEach(Process::destroy);
    }
}
