package jcyme.supervisor;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A launcher that starts {@code fake-worker.pl} instead of a worker JVM: real child processes that
 * hold the instance's lock, write their pid and answer on their control socket as a worker does,
 * in a few milliseconds. Each start takes the next behaviour queued with {@link #next} (an environment
 * for the script), or behaves as a healthy worker.
 */
final class FakeWorkers implements Launcher, AutoCloseable {
    /** Exits at once with this code. */
    static Map<String, String> exitingWith(int code) {
        return Map.of("FAKE_EXIT", Integer.toString(code));
    }

    /** Takes its lock but never answers on its socket. */
    static final Map<String, String> SILENT = Map.of("FAKE_SILENT", "1");

    private final ConcurrentLinkedDeque<Map<String, String>> behaviours = new ConcurrentLinkedDeque<>();
    private final List<Process> started = java.util.Collections.synchronizedList(new ArrayList<>());
    final AtomicInteger refills = new AtomicInteger();

    /** The next start behaves so. */
    FakeWorkers next(Map<String, String> behaviour) {
        behaviours.add(behaviour);
        return this;
    }

    @Override
    public Process start(InstanceSpec spec) throws IOException {
        Map<String, String> behaviour = behaviours.poll();
        Process process = launch(spec, behaviour == null ? Map.of() : behaviour);
        started.add(process);
        return process;
    }

    /** Starts a fake worker of the spec outside any supervisor (as one left running by an earlier branch would be). */
    static Process launch(InstanceSpec spec, Map<String, String> behaviour) throws IOException {
        Files.createDirectories(spec.dir());
        ProcessBuilder builder = new ProcessBuilder("perl", script().toString(), spec.lockfile().toString(),
                spec.pidfile().toString(), spec.socket().toString(), spec.marker(), spec.generationMarker())
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(spec.logfile().toFile()));
        builder.environment().putAll(behaviour);
        return builder.start();
    }

    /** Waits until the fake worker of {@code spec} holds its lock with pid {@code pid} written. */
    static void awaitLocked(InstanceSpec spec, long pid) {
        Waiting.until(Duration.ofSeconds(10), "pid " + pid + " to hold " + spec.lockfile(),
                () -> ProcessIdentity.lockHeld(spec.lockfile()) && ProcessIdentity.claimedBy(spec.lockfile(), pid));
    }

    private static Path script() {
        try {
            return Path.of(FakeWorkers.class.getResource("fake-worker.pl").toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Every process started so far. */
    List<Process> started() {
        return List.copyOf(started);
    }

    @Override
    public void refillSpares(InstanceSpec spec) {
        refills.incrementAndGet();
    }

    @Override
    public void retainSpares(Collection<InstanceSpec> live) {}

    @Override
    public void closeSpares() {}

    @Override
    public void close() {
        started().forEach(Process::destroyForcibly);
    }
}
