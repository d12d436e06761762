package jcyme.supervisor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.zeroturnaround.exec.ProcessExecutor;
import org.zeroturnaround.exec.StartedProcess;

/**
 * Starts a worker JVM detached from the branch: its own session ({@code setsid}), stdin from
 * /dev/null, stdout and stderr appended to {@code worker.log}. zt-exec runs a shell that sets up
 * those redirections and then execs the JVM in place, so the pid zt-exec reports is the worker's
 * and the worker holds no pipe to the branch (a pipe would lose its output once the branch dies).
 * The broker URL goes in the environment ({@value #BROKER_ENV}), never on the command
 * line that {@code ps} shows every user; the instance directory, where the control socket lives, is
 * made 0700 from the first moment.
 */
public final class WorkerLauncher implements Launcher {
    /** Where a worker finds its broker URL (the worker's {@code -b} wins when given). */
    public static final String BROKER_ENV = "JCYME_BROKER_URL";
    private static final Logger log = LoggerFactory.getLogger(WorkerLauncher.class);
    private static final Set<PosixFilePermission> PRIVATE = PosixFilePermissions.fromString("rwx------");
    private final Path java;
    private final Path libDir;
    private final List<String> defaultJvmOptions;
    private final Duration shutdownTimeout;
    private volatile ClassArchive archive;
    private volatile Spares spares;

    /**
     * @param libDir             the distribution's {@code lib/} (the worker's own class path)
     * @param defaultJvmOptions  options every worker gets before the app's own
     * @param shutdownTimeout    the warm shutdown time every worker is given ({@code --shutdown-timeout})
     */
    public WorkerLauncher(Path java, Path libDir, List<String> defaultJvmOptions, Duration shutdownTimeout) {
        this.java = java;
        this.libDir = libDir;
        this.defaultJvmOptions = List.copyOf(defaultJvmOptions);
        this.shutdownTimeout = shutdownTimeout;
    }

    /** Workers started from now on map this class-data archive once it exists. */
    public void useArchive(ClassArchive archive) {
        this.archive = archive;
    }

    /**
     * Starts instances from spare workers from now on: {@code perKey} JVMs kept ready per app
     * configuration (JVM options and environment), working in a scratch directory of their own in
     * {@code dataDir} ({@value #SPARES_DIR}, no instance's name) and writing to {@code logFile}
     * until claimed; 0 turns them off.
     */
    public void useSpares(Path dataDir, Path logFile, int perKey) {
        spares = new Spares(java, this::classpathOptions, dataDir.resolve(SPARES_DIR), logFile, perKey);
    }

    /** The spares' working directory in the data directory: an instance's name cannot start with a dot. */
    public static final String SPARES_DIR = ".spares";

    /** The JVM options and main class of a worker (without java and its arguments). */
    public List<String> jvm(List<String> appOptions) {
        List<String> command = classpathOptions(appOptions);
        command.add("jcyme.worker.WorkerMain");
        return command;
    }

    private List<String> classpathOptions(List<String> appOptions) {
        List<String> command = new ArrayList<>(defaultJvmOptions);
        ClassArchive current = archive;
        if (current != null) {
            current.option().ifPresent(command::add);
        }
        command.addAll(appOptions);
        command.add("-cp");
        command.add(libDir + "/*");
        return command;
    }

    /** The worker's command line; the instance and generation markers come first, before anything long. */
    public List<String> command(InstanceSpec spec) {
        List<String> command = new ArrayList<>();
        command.add("setsid");
        command.add(java.toString());
        command.add(spec.marker());
        command.add(spec.generationMarker());
        command.addAll(jvm(spec.jvmOptions()));
        command.addAll(arguments(spec));
        return command;
    }

    /** The worker's own options (what follows its main class). */
    List<String> arguments(InstanceSpec spec) {
        List<String> command = new ArrayList<>(List.of("-n", spec.name(), "-E"));
        if (!spec.queues().isEmpty()) {
            command.addAll(List.of("-Q", String.join(",", spec.queues())));
        }
        command.addAll(List.of("--autoscale", spec.maxConcurrency() + "," + spec.minConcurrency(),
                "--pidfile", spec.pidfile().toString(), "--logfile", spec.logfile().toString(),
                "--statedb", spec.statedb().toString(), "--control-socket", spec.socket().toString(),
                "--shutdown-timeout", Double.toString(shutdownTimeout.toMillis() / 1000.0)));
        if (!spec.classpath().isEmpty()) {
            command.addAll(List.of("--classpath", String.join(":", spec.classpath())));
        }
        if (spec.configId() != null) {
            command.addAll(List.of("--config-file", spec.configFile().toString()));
        }
        command.addAll(spec.arguments());
        return command;
    }

    /** The worker's environment: the app's, then the broker URL (which the app cannot override). */
    public static Map<String, String> environment(Map<String, String> appEnv, String broker) {
        Map<String, String> env = new HashMap<>(appEnv);
        env.put(BROKER_ENV, broker);
        return env;
    }

    /**
     * Makes {@code dir} with mode 0700 from the first moment (no window in which another user
     * could enter it), or narrows an existing one (made by an earlier version) to 0700.
     */
    public static void privateDirectory(Path dir) throws IOException {
        if (Files.isDirectory(dir)) {
            Files.setPosixFilePermissions(dir, PRIVATE);
        } else {
            Files.createDirectories(dir.getParent());
            Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(PRIVATE));
        }
    }

    /**
     * Spawns the worker, or hands the instance to a spare worker when one is ready (not for an app
     * with a setup command: its workers start in the directory the setup prepared); returns its
     * process (a child of this JVM until this JVM dies).
     */
    @Override
    public Process start(InstanceSpec spec) throws IOException {
        privateDirectory(spec.dir());
        writeConfig(spec);
        Spares pool = spares;
        if (pool == null || spec.hasSetup()) {
            return spawn(spec);
        }
        Map<String, Object> claim = new java.util.LinkedHashMap<>();
        claim.put("title", List.of(spec.marker(), spec.generationMarker()));
        claim.put("broker", spec.broker());
        claim.put("dir", spec.dir().toString());
        claim.put("log", spec.logfile().toString());
        claim.put("args", arguments(spec));
        Optional<Process> spare = pool.claim(spec, JSON.writeValueAsString(claim));
        Process process = spare.isPresent() ? spare.get() : spawn(spec);
        spare.ifPresent(p -> log.info("instance {}: started from spare worker pid {}", spec.name(), p.pid()));
        return process;
    }

    /**
     * Makes, in the background, the spare workers the spec's configuration lacks. Called once a
     * worker of it is ready, not as it starts: a JVM starting beside it would take the CPU it
     * needs to get there.
     */
    @Override
    public void refillSpares(InstanceSpec spec) {
        Spares pool = spares;
        if (pool != null && !spec.hasSetup()) {
            pool.refill(spec);
        }
    }

    /** Keeps only the spare workers the given instances could use. */
    @Override
    public void retainSpares(java.util.Collection<InstanceSpec> live) {
        Spares pool = spares;
        if (pool != null) {
            pool.retain(live);
        }
    }

    /** The pids of the spare workers waiting to be claimed. */
    public List<Long> sparePids() {
        Spares pool = spares;
        return pool == null ? List.of() : pool.pids();
    }

    /** Stops the spare workers; none are made from now on. */
    @Override
    public void closeSpares() {
        Spares pool = spares;
        if (pool != null) {
            pool.close();
        }
    }

    private Process spawn(InstanceSpec spec) throws IOException {
        String script = "exec " + shellWords(command(spec)) + " </dev/null >>" + quote(spec.logfile().toString()) + " 2>&1";
        try {
            StartedProcess started = new ProcessExecutor("/bin/sh", "-c", script)
                    .directory(spec.dir().toFile())
                    .environment(environment(spec.env(), spec.broker()))
                    .start();
            return started.getProcess();
        } catch (IOException e) {
            throw new IOException("cannot start instance " + spec.name() + ": " + e.getMessage(), e);
        }
    }

    /** Writes the live configuration the worker starts with (mode 0600: it may hold secrets). */
    static void writeConfig(InstanceSpec spec) throws IOException {
        if (spec.configId() == null) {
            return;
        }
        Map<String, Object> file = new java.util.LinkedHashMap<>();
        file.put("config_id", spec.configId());
        file.put("config", spec.config());
        Path tmp = spec.dir().resolve("config.json.tmp");
        Files.deleteIfExists(tmp);
        Files.createFile(tmp, PosixFilePermissions.asFileAttribute(Set.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE)));
        Files.write(tmp, JSON.writeValueAsBytes(file));
        Files.move(tmp, spec.configFile(), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private static final com.fasterxml.jackson.databind.ObjectMapper JSON = new com.fasterxml.jackson.databind.ObjectMapper();

    /** Runs a short helper command (e.g. {@code kill}) and returns its exit code. */
    static int run(List<String> command) {
        try {
            return new ProcessExecutor(command).timeout(10, TimeUnit.SECONDS).execute().getExitValue();
        } catch (Exception e) {
            return -1;
        }
    }

    static String shellWords(List<String> words) {
        StringBuilder out = new StringBuilder();
        for (String word : words) {
            if (out.length() > 0) out.append(' ');
            out.append(quote(word));
        }
        return out.toString();
    }

    static String quote(String word) {
        return "'" + word.replace("'", "'\\''") + "'";
    }
}
