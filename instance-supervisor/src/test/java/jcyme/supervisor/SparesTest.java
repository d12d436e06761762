package jcyme.supervisor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Spare workers: made ahead per configuration, claimed once each, replaced, and never left behind.
 * The spares are real processes of a stand-in for {@code java} that speaks a spare's stdin protocol:
 * it notes its pid, then the preparation and the claim it reads, in its working directory.
 */
class SparesTest {
    static final Duration WAIT = Duration.ofSeconds(10);
    private static final String FAKE_JAVA = """
            #!/bin/sh
            echo $$ >> spawned
            read preparation || exit 0
            echo "$preparation" > "prepared-$$"
            read claim || exit 0
            echo "$claim" > "claimed-$$"
            exec sleep 600
            """;

    @TempDir
    Path tmp;
    Path java;
    Path scratch;
    Spares spares;

    @BeforeEach
    void fakeJava() throws IOException {
        java = Files.writeString(tmp.resolve("java"), FAKE_JAVA);
        Files.setPosixFilePermissions(java, PosixFilePermissions.fromString("rwx------"));
        scratch = tmp.resolve("data").resolve(WorkerLauncher.SPARES_DIR);
        Files.createDirectories(scratch.getParent());
    }

    @AfterEach
    void cleanUp() throws IOException {
        if (spares != null) {
            spares.close();
        }
        spawned().forEach(pid -> ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly));
    }

    Spares spares(int perKey, Function<List<String>, List<String>> jvm) {
        spares = new Spares(java, jvm, scratch, tmp.resolve("data").resolve("spares.log"), perKey);
        return spares;
    }

    static InstanceSpec spec(String name, List<String> jvmOptions) {
        return new InstanceSpec("app", name, Path.of("/nonexistent", name), "amqp://localhost", List.of("q"), 1, 1, List.of("/tasks.jar"),
                jvmOptions, Map.of(), List.of(), 1);
    }

    List<Long> spawned() throws IOException {
        Path file = scratch.resolve("spawned");
        return Files.exists(file) ? Files.readAllLines(file).stream().map(Long::parseLong).toList() : List.of();
    }

    String readIn(String what, long pid) {
        Path file = scratch.resolve(what + "-" + pid);
        Waiting.until(WAIT, what + " of pid " + pid, () -> Files.exists(file) && file.toFile().length() > 0);
        try {
            return Files.readString(file).trim();
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void aSpareIsPreparedInItsScratchDirectoryClaimedOnceAndReplaced() throws Exception {
        InstanceSpec spec = spec("w1", List.of("-Xmx64m"));
        spares(1, options -> options).refill(spec);
        Waiting.until(WAIT, "a spare", () -> spares.pids().size() == 1);
        long pid = spares.pids().get(0);
        assertEquals(Spares.Key.of(spec).preparation(), readIn("prepared", pid));
        assertEquals(scratch.toRealPath(), Path.of("/proc", Long.toString(pid), "cwd").toRealPath());
        assertEquals(Optional.empty(), spares.claim(spec("w2", List.of("-Xmx128m")), "{}"), "none for another configuration");

        Process claimed = spares.claim(spec, "{\"claim\":1}").orElseThrow();
        assertEquals(pid, claimed.pid());
        assertEquals("{\"claim\":1}", readIn("claimed", pid));
        assertEquals(List.of(), spares.pids(), "a claimed spare is no spare");
        assertEquals(Optional.empty(), spares.claim(spec, "{}"), "claimed once");

        spares.refill(spec);
        Waiting.until(WAIT, "a new spare", () -> spares.pids().size() == 1);
        assertTrue(spares.pids().get(0) != pid);
        spares.close();
        assertTrue(claimed.isAlive(), "closing the spares leaves a claimed one, an instance now, running");
    }

    @Test
    void aSpareThatDiedBeforeItsClaimIsNeverHandedOut() throws Exception {
        InstanceSpec spec = spec("w1", List.of());
        spares(1, options -> options).refill(spec);
        Waiting.until(WAIT, "a spare", () -> spares.pids().size() == 1);
        long pid = spares.pids().get(0);
        readIn("prepared", pid);
        ProcessHandle spare = ProcessHandle.of(pid).orElseThrow();
        spare.destroyForcibly();
        Waiting.until(WAIT, "the spare's death", () -> !spare.isAlive() || ProcessIdentity.isZombie(pid));
        assertEquals(Optional.empty(), spares.claim(spec, "{}"));
        Waiting.until(WAIT, "no idle spare", () -> spares.pids().isEmpty());
    }

    @Test
    void closingStopsTheIdleSparesAndMakesNoMore() throws Exception {
        InstanceSpec spec = spec("w1", List.of());
        spares(2, options -> options).refill(spec);
        Waiting.until(WAIT, "two spares", () -> spares.pids().size() == 2);
        List<ProcessHandle> idle = spares.pids().stream().map(pid -> ProcessHandle.of(pid).orElseThrow()).toList();
        spares.close();
        for (ProcessHandle spare : idle) {
            spare.onExit().get(WAIT.toSeconds(), TimeUnit.SECONDS);
        }
        spares.refill(spec);
        assertEquals(List.of(), spares.pids());
    }

    /** A configuration dropped while its spare is being made: that spare is stopped, not left running unlisted. */
    @Test
    void aSpareMadeForAConfigurationDroppedMeanwhileIsStopped() throws Exception {
        CountDownLatch making = new CountDownLatch(1);
        CountDownLatch dropped = new CountDownLatch(1);
        InstanceSpec spec = spec("w1", List.of());
        spares(1, options -> {
            making.countDown();
            try {
                dropped.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return options;
        }).refill(spec);
        assertTrue(making.await(WAIT.toSeconds(), TimeUnit.SECONDS));
        spares.retain(List.of());
        dropped.countDown();
        Waiting.until(WAIT, "the spare started", () -> {
            try {
                return spawned().size() == 1;
            } catch (IOException e) {
                return false;
            }
        });
        long pid = spawned().get(0);
        Waiting.until(WAIT, "pid " + pid + " to be stopped", () -> ProcessHandle.of(pid).map(p -> !p.isAlive()).orElse(true)
                || ProcessIdentity.isZombie(pid));
        assertFalse(spares.pids().contains(pid));
    }
}
