package jcyme.branch;

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
import java.util.concurrent.TimeUnit;
import jcyme.api.App;
import jcyme.supervisor.InstanceSpec;
import jcyme.supervisor.InstanceState;
import jcyme.supervisor.Supervisor;
import jcyme.supervisor.SupervisorSettings;
import jcyme.supervisor.WorkerLauncher;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The reconciler over a real store and a real supervisor whose "JVM" is a script that notes its pid
 * and sleeps; the app's setup command holds a pass in its start until the test lets it go on.
 */
class ReconcilerTest {
    private static final Duration WAIT = Duration.ofSeconds(10);

    @TempDir
    Path tmp;
    private Path spawns;
    /** The pids of the workers the supervisor saw end. */
    private final List<Long> exits = new java.util.concurrent.CopyOnWriteArrayList<>();
    /** How many more times making a spec fails (with an Error, as a bug would). */
    private final java.util.concurrent.atomic.AtomicInteger failSpecs = new java.util.concurrent.atomic.AtomicInteger();
    private Store store;
    private EventLog events;
    private Supervisor supervisor;
    private Reconciler reconciler;

    @BeforeEach
    void setUp() throws Exception {
        spawns = tmp.resolve("spawns");
        Path java = tmp.resolve("java");
        Files.writeString(java, "#!/bin/sh\necho $$ >> '" + spawns + "'\nexec sleep 60\n");
        Files.setPosixFilePermissions(java, PosixFilePermissions.fromString("rwx------"));
        store = Store.open(tmp.resolve("branch.db"));
        events = EventLog.open(tmp.resolve("events.db"), "local", EventLog.Bounds.fromProperties());
        supervisor = new Supervisor(SupervisorSettings.defaults(), new WorkerLauncher(java, tmp.resolve("lib"), List.of(), Duration.ofSeconds(1)),
                new Supervisor.Listener() {
                    @Override
                    public void changed(String instance, InstanceState from, InstanceState to, String why) { }

                    @Override
                    public void exited(String instance, Supervisor.Exit exit) {
                        exits.add(exit.pid());
                    }
                });
        reconciler = new Reconciler(store, supervisor, this::spec, (app, queue) -> Map.of(), () -> { }, events, WAIT);
        String held = "touch '" + tmp.resolve("started") + "'; while [ ! -e '" + tmp.resolve("release") + "' ]; do sleep 0.02; done";
        StoreTest.put(store, new App("pycon", null, null, Map.of(), List.of(), List.of(), Map.of(), List.of(), 1, 1, held), 1, "local");
        store.insertInstance(StoreTest.instance("w1", "pycon", List.of("celery")));
    }

    private InstanceSpec spec(InstanceRecord record) {
        if (failSpecs.getAndDecrement() > 0) {
            throw new AssertionError("a bug in a pass");
        }
        return new InstanceSpec(record.app(), record.name(), tmp.resolve(record.name()), LocalBranches.DOWN_BROKER, record.queues(),
                record.min(), record.max(), List.of(), List.of(), Map.of(), List.of(), record.generation(),
                store.app(record.app()).map(App::setupCmd).orElse(null));
    }

    @AfterEach
    void tearDown() throws Exception {
        reconciler.close();
        supervisor.names().forEach(supervisor::stop);
        supervisor.close();
        events.close();
        store.close();
        for (long pid : spawned()) {
            ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        }
    }

    private List<Long> spawned() throws IOException {
        return Files.exists(spawns) ? Files.readAllLines(spawns).stream().map(Long::parseLong).toList() : List.of();
    }

    /** Wakes w1 and returns once its pass is held in the setup of its start. */
    private void holdAPassInItsStart() {
        reconciler.wake("w1");
        Waits.until(WAIT, "the pass to run the setup command", () -> Files.exists(tmp.resolve("started")));
    }

    /** Runs {@code step} on a thread of its own; lets the held pass go on once the step has been seen still waiting for it. */
    private void whileAPassIsHeld(Runnable step) throws Exception {
        Thread thread = new Thread(step, "step");
        thread.start();
        thread.join(300);
        assertTrue(thread.isAlive(), "returned while a pass was still under way");
        Files.createFile(tmp.resolve("release"));
        thread.join(WAIT.toMillis());
        assertFalse(thread.isAlive(), "still waiting after the pass ended");
    }

    @Test
    void closeWaitsForThePassUnderWaySoNoWorkerIsSpawnedAfterItReturns() throws Exception {
        holdAPassInItsStart();
        whileAPassIsHeld(reconciler::close);
        Long atClose = supervisor.status("w1").orElseThrow().pid();
        // the pass under way had passed its check and spawns its worker: before close returned, never after
        Waits.until(WAIT, "the held start to spawn its worker", () -> Files.exists(spawns));
        assertEquals(List.of(atClose), spawned(), "a worker was spawned after close returned");

        reconciler.wake("w1").get(1, TimeUnit.SECONDS);
        assertEquals(List.of(atClose), spawned(), "a closed reconciler starts nothing");
    }

    @Test
    void stopAllStopsAWorkerThatAPassUnderWayStarts() throws Exception {
        holdAPassInItsStart();
        whileAPassIsHeld(reconciler::stopAll);
        assertEquals(1, exits.size(), "the worker the held start spawned was stopped: " + exits);
        assertFalse(ProcessHandle.of(exits.get(0)).map(ProcessHandle::isAlive).orElse(false), "the worker outlived the stop");
        assertEquals(InstanceState.STOPPED, supervisor.status("w1").orElseThrow().state());

        reconciler.wake("w1").get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
        assertEquals(InstanceState.STOPPED, supervisor.status("w1").orElseThrow().state(), "a pass after the stop starts nothing");
    }

    @Test
    void aRecordIsConvergedToAndATombstoneRemoved() throws Exception {
        Files.createFile(tmp.resolve("release"));
        reconciler.wake("w1").get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
        Waits.until(WAIT, "a worker", () -> Files.exists(spawns));
        assertEquals(List.of(supervisor.status("w1").orElseThrow().pid()), spawned(), "started");
        assertEquals(InstanceState.STARTING, supervisor.status("w1").orElseThrow().state(), "it never answers ping");

        store.updateInstance("w1", r -> r.withEnabled(false));
        reconciler.wake("w1").get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
        assertEquals(InstanceState.STOPPED, supervisor.status("w1").orElseThrow().state(), "disabled");
        assertFalse(ProcessHandle.of(spawned().get(0)).map(ProcessHandle::isAlive).orElse(false));

        store.updateInstance("w1", InstanceRecord::tombstone);
        reconciler.wake("w1").get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
        assertEquals(List.of(), store.allInstanceNames(), "the tombstone is purged");
        assertFalse(supervisor.knows("w1"));
        assertFalse(Files.exists(tmp.resolve("w1")), "its directory is gone");
    }

    @Test
    void aPassThatFailsWithAnErrorDoesNotKillItsLane() throws Exception {
        Files.createFile(tmp.resolve("release"));
        failSpecs.set(1);
        reconciler.wake("w1").get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
        assertFalse(supervisor.knows("w1"), "the failed pass did nothing");
        reconciler.wake("w1").get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
        assertTrue(supervisor.status("w1").orElseThrow().state().isUp(), "the next pass started the worker");
    }
}
