package jcyme.it;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** A real worker JVM started from dist/, with its files in its own directory. */
final class WorkerProcess implements AutoCloseable {
    static final Duration READY_TIMEOUT = Duration.ofSeconds(60);

    final String name;
    final Path dir;
    private final List<String> command;
    private Process process;

    WorkerProcess(String name, Path dir, String brokerUrl, String... options) {
        this.name = name;
        this.dir = dir;
        command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                marker(), "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xmx128m", "-XX:-UsePerfData",
                "-cp", BranchProcess.lib() + "/*", "jcyme.worker.WorkerMain",
                "-b", brokerUrl, "-n", name,
                "--pidfile", pidfile().toString(), "--logfile", log().toString(),
                "--statedb", dir.resolve("worker.statedb").toString(),
                "--control-socket", socket().toString()));
        command.addAll(List.of(options));
    }

    /** The instance marker a branch puts on a worker's command line (app {@code it}). */
    String marker() {
        return "-Djcyme.instance=it/" + name;
    }

    Path pidfile() {
        return dir.resolve("worker.pid");
    }

    Path log() {
        return dir.resolve("worker.log");
    }

    Path socket() {
        return dir.resolve("worker.sock");
    }

    /** Starts the JVM and waits until it has written its pid file (it consumes by then). */
    WorkerProcess start() throws IOException {
        launch();
        Wait.until(READY_TIMEOUT, "worker " + name + " to be ready",
                () -> Files.exists(pidfile()) || !process.isAlive(), this::logTail);
        if (!process.isAlive()) {
            throw new AssertionError("worker " + name + " exited with " + process.exitValue() + logTail());
        }
        return this;
    }

    /** Starts the JVM without waiting for it. */
    WorkerProcess launch() throws IOException {
        Files.createDirectories(dir);
        Files.deleteIfExists(pidfile());
        process = new ProcessBuilder(command).directory(dir.toFile())
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("stdout.log").toFile()))
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .start();
        return this;
    }

    long pid() {
        return process.pid();
    }

    boolean isAlive() {
        return process.isAlive();
    }

    JsonNode control(String method, Map<String, ?> arguments) throws IOException {
        return ControlClient.call(socket(), method, arguments);
    }

    JsonNode control(String method) throws IOException {
        return control(method, Map.of());
    }

    void kill9() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(10, TimeUnit.SECONDS);
    }

    /** Sends SIGTERM (warm shutdown). */
    void terminate() {
        process.toHandle().destroy();
    }

    int waitForExit(Duration timeout) throws InterruptedException {
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            throw new AssertionError("worker " + name + " still running after " + timeout.toSeconds() + " s" + logTail());
        }
        return process.exitValue();
    }

    String logText() {
        try {
            return Files.exists(log()) ? Files.readString(log()) : "";
        } catch (IOException e) {
            return "";
        }
    }

    String logTail() {
        String text = logText();
        try {
            Path stdout = dir.resolve("stdout.log");
            if (Files.exists(stdout)) {
                text += Files.readString(stdout);
            }
        } catch (IOException e) {
            // best effort
        }
        return "\n--- log of " + name + " ---\n" + (text.length() > 4000 ? text.substring(text.length() - 4000) : text);
    }

    @Override
    public void close() throws InterruptedException {
        if (process != null && process.isAlive()) {
            process.destroyForcibly();
            process.waitFor(10, TimeUnit.SECONDS);
        }
    }
}
