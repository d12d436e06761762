package jcyme.supervisor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * One instance's state machine, driven through the supervisor against real child processes (see
 * {@link FakeWorkers}): starts, stops, quick failures and backoff, restarts, adoption and recycles.
 */
class SupervisedTest {
    static final Duration START_SECS = Duration.ofMillis(1000);
    static final Duration START_TIMEOUT = Duration.ofSeconds(2);
    static final Duration WAIT = Duration.ofSeconds(15);
    static final SupervisorSettings SETTINGS = new SupervisorSettings(START_SECS, START_TIMEOUT, 3, Duration.ofMillis(20),
            Duration.ofMillis(100), Duration.ofSeconds(2), Duration.ofSeconds(1), Duration.ofSeconds(1), Duration.ofSeconds(5),
            Duration.ofMillis(10), 0);

    @TempDir
    Path tmp;

    final FakeWorkers workers = new FakeWorkers();
    final Recorder heard = new Recorder();
    final Supervisor supervisor = new Supervisor(SETTINGS, workers, heard);

    @AfterEach
    void cleanUp() {
        supervisor.close();
        workers.close();
    }

    InstanceSpec spec(String name) {
        return new InstanceSpec("app", name, tmp.resolve(name), "amqp://localhost", List.of("q"), 1, 2, List.of(), List.of(),
                Map.of(), List.of(), 1);
    }

    InstanceStatus status(String name) {
        return supervisor.status(name).orElseThrow();
    }

    void awaitState(String name, InstanceState state) {
        Waiting.until(WAIT, name + " " + state, () -> supervisor.status(name).map(InstanceStatus::state).orElse(null) == state);
    }

    @Test
    void aStartedWorkerRunsOnceItAnswersAndAWarmStopEndsIt() throws Exception {
        supervisor.start(spec("w"));
        awaitState("w", InstanceState.RUNNING);
        Process worker = workers.started().get(0);
        assertEquals(worker.pid(), status("w").pid());
        assertEquals(1, workers.refills.get(), "spares are refilled once the worker is ready");

        supervisor.stop("w");
        assertEquals(InstanceState.STOPPED, status("w").state());
        assertTrue(worker.waitFor(10, TimeUnit.SECONDS));
        assertEquals(0, worker.exitValue(), "it exited on its shutdown command");
        assertEquals(List.of("w: STOPPED -> STARTING", "w: STARTING -> RUNNING", "w: RUNNING -> STOPPING", "w: STOPPING -> STOPPED"),
                heard.transitions());
        assertEquals(List.of(Supervisor.Exit.of("app", worker.pid(), 0)), heard.exits());
    }

    @Test
    void quickFailuresBackOffUntilFatalAndANewGenerationStartsClean() {
        InstanceSpec spec = spec("w");
        for (int i = 0; i < 3; i++) {
            workers.next(FakeWorkers.exitingWith(1));
        }
        supervisor.start(spec);
        awaitState("w", InstanceState.BACKOFF);
        assertTrue(status("w").lastError().contains("exit code 1"), status("w").lastError());
        assertTrue(status("w").retryAt().isAfter(Instant.now().minusSeconds(1)));
        supervisor.start(spec);
        awaitState("w", InstanceState.BACKOFF);
        supervisor.start(spec);
        awaitState("w", InstanceState.FATAL);
        assertEquals(2, status("w").restarts(), "each retry is a restart");
        assertEquals(3, heard.exits().size());
        heard.exits().forEach(exit -> assertEquals(1, exit.code()));

        supervisor.start(spec.withGeneration(2));
        awaitState("w", InstanceState.RUNNING);
        assertNull(status("w").lastError());
        assertEquals(2, status("w").generation());
    }

    @Test
    void anExitPastTheStartSecondsIsExitedAndTheNextStartARestart() throws Exception {
        supervisor.start(spec("w"));
        awaitState("w", InstanceState.RUNNING);
        Instant started = status("w").startedAt();
        Waiting.until(WAIT, "the start seconds to pass", () -> Instant.now().isAfter(started.plus(START_SECS)));
        workers.started().get(0).destroyForcibly();
        awaitState("w", InstanceState.EXITED);
        assertEquals("SIGKILL", heard.exits().get(0).signal());

        supervisor.start(spec("w"));
        awaitState("w", InstanceState.RUNNING);
        assertEquals(1, status("w").restarts());
        assertEquals(workers.started().get(1).pid(), status("w").pid());
    }

    @Test
    void anExitWithinTheStartSecondsIsAQuickFailure() {
        supervisor.start(spec("w"));
        awaitState("w", InstanceState.RUNNING);
        workers.started().get(0).destroyForcibly();
        awaitState("w", InstanceState.BACKOFF);
        assertTrue(status("w").lastError().contains("SIGKILL"), status("w").lastError());
    }

    @Test
    void aWorkerThatNeverAnswersIsKilledAndTheErrorSaysWhy() throws Exception {
        workers.next(FakeWorkers.SILENT);
        supervisor.start(spec("w"));
        awaitState("w", InstanceState.BACKOFF);
        assertFalse(workers.started().get(0).isAlive());
        String error = status("w").lastError();
        assertTrue(error.contains("did not answer ping within 2 s"), error);
    }

    @Test
    void aLeftoverOfAnUnfinishedRecycleIsDrainedAndTheNewerWorkerAdopted() throws Exception {
        InstanceSpec spec = spec("w");
        Process older = FakeWorkers.launch(spec, Map.of());
        FakeWorkers.awaitLocked(spec, older.pid());
        Process newer = FakeWorkers.launch(spec.inSlot(1), Map.of());
        FakeWorkers.awaitLocked(spec.inSlot(1), newer.pid());
        try {
            assertTrue(supervisor.adopt(spec));
            assertEquals(InstanceState.RUNNING, status("w").state());
            assertEquals(newer.pid(), status("w").pid());
            assertTrue(older.waitFor(10, TimeUnit.SECONDS), "the older one is drained");
            assertEquals(0, older.exitValue(), "by its shutdown command");
            assertTrue(newer.isAlive());

            newer.destroyForcibly();
            Waiting.until(WAIT, "the adopted worker's exit", () -> !status("w").state().isUp());
            assertEquals(List.of(Supervisor.Exit.unknown("app", newer.pid())), heard.exits(), "an adopted worker's code is unknown");
        } finally {
            older.destroyForcibly();
            newer.destroyForcibly();
        }
    }

    @Test
    void nothingToAdoptIsNoAdoption() {
        assertFalse(supervisor.adopt(spec("w")));
        assertEquals(InstanceState.STOPPED, status("w").state());
    }

    @Test
    void aRecycleKeepsTheOldWorkerWhenItsReplacementFails() throws Exception {
        InstanceSpec spec = spec("w");
        supervisor.start(spec);
        awaitState("w", InstanceState.RUNNING);
        Process old = workers.started().get(0);

        workers.next(FakeWorkers.exitingWith(1));
        assertEquals(Optional.empty(), supervisor.recycle(spec), "a replacement that exits");
        workers.next(FakeWorkers.SILENT);
        assertEquals(Optional.empty(), supervisor.recycle(spec), "a replacement that never answers");
        assertTrue(workers.started().get(2).waitFor(10, TimeUnit.SECONDS), "the silent replacement is killed");
        assertTrue(old.isAlive());
        assertEquals(old.pid(), status("w").pid());
        assertEquals(InstanceState.RUNNING, status("w").state());

        Supervisor.Recycled done = supervisor.recycle(spec).orElseThrow();
        Process replacement = workers.started().get(3);
        assertEquals(new Supervisor.Recycled(old.pid(), replacement.pid()), done);
        assertFalse(old.isAlive(), "the old worker drained before the recycle returned");
        assertEquals(0, old.exitValue());
        assertEquals(replacement.pid(), status("w").pid());
        assertEquals(List.of("w: STOPPED -> STARTING", "w: STARTING -> RUNNING"), heard.transitions(), "no transition in a recycle");
        assertEquals(List.of(), heard.exits(), "the old worker's exit is no exit of the instance");

        supervisor.stop("w");
        assertTrue(replacement.waitFor(10, TimeUnit.SECONDS));
        assertEquals(0, replacement.exitValue(), "the stop reached the replacement in its own slot");
    }
}
