package jcyme.branch;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The embedded broker as a supervised child process of the branch, detached (own session, output
 * to {@code broker.log}) so that a branch restart neither stops it nor loses its messages. A
 * restarted branch finds it again through its pid file and command-line marker.
 */
final class BrokerProcess {
    private static final Logger log = LoggerFactory.getLogger(BrokerProcess.class);
    private static final Duration READY_TIMEOUT = Duration.ofSeconds(60);
    /** How long a stop waits for the broker to exit after SIGTERM before it kills it. */
    static final Duration STOP_TIMEOUT = Duration.ofSeconds(30);

    private final Path java;
    private final Path libDir;
    private final Path dataDir;
    private final int port;
    private volatile ProcessHandle process;

    BrokerProcess(Path java, Path libDir, Path dataDir, int port) {
        this.java = java;
        this.libDir = libDir;
        this.dataDir = dataDir.toAbsolutePath();
        this.port = port;
    }

    String url() {
        return "amqp://guest:guest@127.0.0.1:" + port + "//";
    }

    private String marker() {
        return "-Djcyme.broker=" + dataDir;
    }

    private Path pidfile() {
        return dataDir.resolve("broker.pid");
    }

    /** Finds our running broker or starts one; fails clearly when a stranger holds the port. */
    void ensureRunning() throws IOException {
        Optional<ProcessHandle> ours = running();
        if (ours.isPresent()) {
            if (process == null) {
                log.info("embedded broker already running (pid {}) on {}", ours.get().pid(), jcyme.tasks.BrokerUrl.mask(url()));
            }
            process = ours.get();
            return;
        }
        if (portOpen()) {
            throw new IOException("port " + port + " on 127.0.0.1 is already in use by another program: pick another"
                    + " with --broker-port, or use that broker with --broker amqp://...");
        }
        Files.createDirectories(dataDir);
        List<String> command = List.of("setsid", java.toString(), marker(), "-Xmx256m", "-XX:+UseSerialGC",
                "-XX:-UsePerfData", "-cp", libDir + "/*", "jcyme.cli.CymeMain", "broker",
                "--port", Integer.toString(port), "--data-dir", dataDir.toString(), "--pidfile", pidfile().toString());
        Files.deleteIfExists(pidfile());
        Process child = new ProcessBuilder(command).directory(dataDir.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(dataDir.resolve("broker.log").toFile()))
                .start();
        process = child.toHandle();
        long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
        while (!(portOpen() && Files.exists(pidfile()))) {
            if (!child.isAlive()) {
                throw new IOException("embedded broker exited at start (code " + child.exitValue() + "); see "
                        + dataDir.resolve("broker.log"));
            }
            if (System.nanoTime() > deadline) {
                throw new IOException("embedded broker not ready within " + READY_TIMEOUT.toSeconds() + " s");
            }
            sleep(50);
        }
        log.info("embedded broker started (pid {}) on {}, data in {}", child.pid(), jcyme.tasks.BrokerUrl.mask(url()), dataDir);
    }

    /** Stops our broker (SIGTERM, SIGKILL after {@link #STOP_TIMEOUT}) and waits until it is gone; nothing if none runs. */
    void stop() {
        Optional<ProcessHandle> ours = running();
        if (ours.isEmpty()) {
            return;
        }
        ProcessHandle broker = ours.get();
        broker.destroy();
        try {
            broker.onExit().get(STOP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException | ExecutionException e) {
            log.warn("embedded broker pid {}: no exit {} s after SIGTERM; SIGKILL", broker.pid(), STOP_TIMEOUT.toSeconds());
            broker.destroyForcibly();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        }
        log.info("embedded broker stopped (pid {})", broker.pid());
    }

    private Optional<ProcessHandle> running() {
        try {
            long pid = Long.parseLong(Files.readAllLines(pidfile()).get(0).trim());
            return ProcessHandle.of(pid).filter(ProcessHandle::isAlive)
                    .filter(p -> p.info().commandLine().orElse("").contains(marker()));
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    private boolean portOpen() {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress("127.0.0.1", port), 200);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
