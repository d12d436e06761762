package jcyme.branch;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.BiFunction;
import java.util.function.Function;
import jcyme.supervisor.InstanceSpec;
import jcyme.supervisor.InstanceState;
import jcyme.supervisor.InstanceStatus;
import jcyme.supervisor.Supervisor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Converges what runs to what the store says, one instance at a time. Whoever changes an
 * instance's record (an API call, replication, recovery) wakes its reconciler; so do the
 * supervisor's transitions and a periodic sweep. Passes over one instance never overlap (see
 * {@link Lanes}), so two requests about it can never interleave their effects — stopping the
 * branch's workers goes through them too; passes over different instances run in parallel. A
 * closed reconciler starts nothing, and {@link #close} returns once no pass is under way.
 */
final class Reconciler implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Reconciler.class);

    private final Store store;
    private final Supervisor supervisor;
    private final Function<InstanceRecord, InstanceSpec> specOf;
    private final BiFunction<String, String, Map<String, Object>> queueBinding;
    private final Runnable instancesChanged;
    private final EventLog events;
    private final Duration settleTimeout;
    private final Lanes lanes;
    /** Instances whose worker had stuck threads at the last look (passes over one instance never overlap). */
    private final Map<String, Stuck> stuck = new ConcurrentHashMap<>();
    private final ScheduledExecutorService sweep = Executors.newSingleThreadScheduledExecutor(DaemonThreads.named("reconcile-sweep"));
    /** Set by {@link #stopAll}: from then on a pass stops its instance's worker and starts nothing. */
    private volatile boolean stopping;
    private volatile boolean closed;

    /**
     * @param specOf            what to run for a live record
     * @param queueBinding      the add_consumer arguments of one of an app's queues (app, queue)
     * @param instancesChanged  told when an instance is gone for good (for gossip)
     * @param events            where an instance gone for good is recorded ({@code instance.deleted})
     * @param settleTimeout     how long {@link #settle} waits, and {@link #close} for the passes under way:
     *                          a stop's full course, with room to spare
     */
    Reconciler(Store store, Supervisor supervisor, Function<InstanceRecord, InstanceSpec> specOf,
               BiFunction<String, String, Map<String, Object>> queueBinding, Runnable instancesChanged, EventLog events,
               Duration settleTimeout) {
        this.lanes = new Lanes("reconcile", this::pass, settleTimeout);
        this.store = store;
        this.supervisor = supervisor;
        this.specOf = specOf;
        this.queueBinding = queueBinding;
        this.instancesChanged = instancesChanged;
        this.events = events;
        this.settleTimeout = settleTimeout;
    }

    /** Sweeps every instance every {@code interval}, catching whatever no event reported. */
    void sweepEvery(Duration interval) {
        sweep.scheduleWithFixedDelay(this::wakeAll, interval.toMillis(), interval.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Asks for a pass over the instance; completes once a pass begun after this call has ended. */
    CompletableFuture<Void> wake(String name) {
        return lanes.wake(name);
    }

    /**
     * Wakes the instances and waits (at most the settle timeout) until each has had a pass that
     * began after its change: what an API call does before it answers.
     */
    void settle(List<String> names) {
        CompletableFuture<?>[] passes = names.stream().map(this::wake).toArray(CompletableFuture[]::new);
        try {
            CompletableFuture.allOf(passes).get(settleTimeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            log.info("instances {}: still converging after {} s; carrying on in the background", names, settleTimeout.toSeconds());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (java.util.concurrent.ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        }
    }

    void settle(String name) {
        settle(List.of(name));
    }

    /** Wakes every instance in the store (tombstones too) and every one the supervisor knows. */
    CompletableFuture<Void> wakeAll() {
        return CompletableFuture.allOf(allNames().stream().map(this::wake).toArray(CompletableFuture[]::new));
    }

    /** Every instance in the store (tombstones too), every one the supervisor knows and every one with a pass under way. */
    private java.util.Set<String> allNames() {
        java.util.Set<String> names = new java.util.TreeSet<>(store.allInstanceNames());
        names.addAll(supervisor.names());
        names.addAll(lanes.busy());
        return names;
    }

    /**
     * Stops every worker warm, all at once, each in its own lane after the pass under way there
     * (which cannot start a worker past this stop); from now on passes start nothing. Waits at most the settle timeout.
     */
    void stopAll() {
        stopping = true;
        settle(List.copyOf(allNames()));
    }

    /** One step toward the record: adopt on first sight, then delete, stop, (re)start or apply live settings. */
    private void pass(String name) {
        if (stopping) {
            supervisor.stop(name);
            return;
        }
        InstanceRecord record = store.instanceRecord(name).orElse(null);
        if (record != null && !supervisor.knows(name)) {
            supervisor.adopt(specOf(record));
        }
        if (record == null || record.deleting()) {
            remove(name, record);
            return;
        }
        if (!record.enabled()) {
            supervisor.stop(name);
            return;
        }
        InstanceStatus status = supervisor.status(name).orElse(null);
        InstanceState state = status == null ? InstanceState.STOPPED : status.state();
        boolean newGeneration = status == null || status.generation() != record.generation();
        if (state.isUp() && newGeneration) {
            log.info("instance {}: restarting for generation {}", name, record.generation());
            supervisor.stop(name);
            state = InstanceState.STOPPED;
        }
        switch (state) {
            case STOPPED, EXITED -> start(record);
            case BACKOFF -> {
                if (newGeneration || status.retryAt() == null || !Instant.now().isBefore(status.retryAt())) {
                    start(record);
                }
            }
            case FATAL -> {
                if (newGeneration) {
                    start(record);
                }
            }
            case RUNNING -> {
                supervisor.checkAlive(name);
                try {
                    supervisor.applyLive(specOf(record), queue -> queueBinding.apply(record.app(), queue))
                            .ifPresent(usage -> recycleIfDue(record, usage));
                } catch (java.io.IOException e) {
                    log.debug("instance {}: no stats now: {}", name, e.getMessage());
                }
            }
            case STARTING, STOPPING -> { }
        }
    }

    /**
     * Replaces a RUNNING worker that asks for it (its stuck threads passed its limit, or a
     * {@code pool_restart}), or past its recycle thresholds (the instance's own, else its app's):
     * tasks processed, or resident memory. The replacement consumes before the old one drains.
     * A rise in the worker's stuck threads is recorded first ({@code instance.stuck}).
     */
    private void recycleIfDue(InstanceRecord record, Supervisor.Usage usage) {
        noteStuck(record, usage);
        jcyme.api.App app = store.app(record.app()).orElse(null);
        Long afterTasks = record.recycleAfterTasks() != null ? record.recycleAfterTasks() : app == null ? null : app.recycleAfterTasks();
        Long aboveRss = record.recycleAboveRssKib() != null ? record.recycleAboveRssKib() : app == null ? null : app.recycleAboveRssKib();
        String cause = recycleCause(usage, afterTasks, aboveRss);
        if (cause == null || closed) {
            return;
        }
        log.info("instance {}: recycling pid {}: {}", record.name(), usage.pid(), cause);
        supervisor.recycle(specOf(record)).ifPresent(done -> events.record("instance.recycle", BranchEvent.fields(
                "app", record.app(), "instance", record.name(), "cause", cause, "old_pid", done.oldPid(), "new_pid", done.newPid())));
    }

    /** Why a worker with this usage is to be recycled: its own request first, then the thresholds; null when it is not. */
    static String recycleCause(Supervisor.Usage usage, Long afterTasks, Long aboveRssKib) {
        if (usage.recycleRequested() != null) {
            return usage.recycleRequested();
        }
        if (afterTasks != null && usage.tasks() >= afterTasks) {
            return "tasks " + usage.tasks() + " >= " + afterTasks;
        }
        if (aboveRssKib != null && usage.rssKib() >= aboveRssKib) {
            return "rss " + usage.rssKib() + " KiB >= " + aboveRssKib + " KiB";
        }
        return null;
    }

    /** Records {@code instance.stuck} when the worker's stuck threads rose since the last look (a new worker starts at none). */
    private void noteStuck(InstanceRecord record, Supervisor.Usage usage) {
        Stuck now = new Stuck(usage.pid(), usage.stuckThreads());
        Stuck before = now.count() > 0 ? stuck.put(record.name(), now) : stuck.remove(record.name());
        if (now.roseSince(before)) {
            log.warn("instance {}: pid {} has {} stuck thread(s)", record.name(), usage.pid(), now.count());
            events.record("instance.stuck", BranchEvent.fields(
                    "app", record.app(), "instance", record.name(), "pid", usage.pid(), "stuck_threads", now.count()));
        }
    }

    /** A worker's stuck threads at the last look. */
    record Stuck(long pid, int count) {
        /** True if this look shows more stuck threads than {@code before} (of the same worker; none for another or none seen). */
        boolean roseSince(Stuck before) {
            int earlier = before != null && before.pid() == pid ? before.count() : 0;
            return count > earlier;
        }
    }

    private void start(InstanceRecord record) {
        if (!closed && !stopping) {
            supervisor.start(specOf(record));
        }
    }

    /** A tombstone (or a record already gone): stop the worker, remove its directory, then the record. */
    private void remove(String name, InstanceRecord record) {
        supervisor.forget(name);
        stuck.remove(name);
        if (record != null) {
            Supervisor.deleteTree(specOf.apply(record).dir());
            store.purgeInstance(name);
            log.info("instance {} removed", name);
            events.record("instance.deleted", BranchEvent.fields("app", record.app(), "instance", name));
            instancesChanged.run();
        }
    }

    private InstanceSpec specOf(InstanceRecord record) {
        return specOf.apply(record);
    }

    /** Starts no more passes, and waits (at most the settle timeout) for the one under way on each instance to end. */
    @Override
    public void close() {
        closed = true;
        sweep.shutdownNow();
        lanes.close();
    }
}
