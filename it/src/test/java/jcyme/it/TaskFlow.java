package jcyme.it;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntFunction;
import jcyme.tasks.TaskProducer;
import jcyme.tasks.TaskRequest;
import jcyme.tasks.TaskResult;
import jcyme.tasks.TaskState;

/**
 * Tasks sent straight to a branch's broker in confirmed batches, and the results that come back,
 * counted per task id and state (a task run twice reports twice).
 *
 * <p>Nothing is republished by itself: at-least-once must come from the workers and the broker.
 * Only a batch whose publish failed (the broker is down) is sent again, with the same task ids, once
 * the broker accepts connections again; those ids are kept apart in {@link #republishedIds}.
 */
final class TaskFlow implements AutoCloseable {
    /** Tasks per confirmed publish. */
    static final int BATCH = 50;
    /** How long a batch may keep failing to publish before the test gives up. */
    static final Duration PUBLISH_PATIENCE = Duration.ofSeconds(90);
    /** The producer's connection recovers on its own once the broker is back: the pause before a batch is tried again. */
    static final Duration RECOVERY_PAUSE = Duration.ofMillis(250);
    /** How long the tasks may make no progress before a fault comes anyway (and the problem is noted). */
    static final Duration PROGRESS_PATIENCE = Duration.ofSeconds(60);

    private final TaskProducer producer;
    private final int brokerPort;
    /** Every task id published, in order. */
    final List<String> ids = Collections.synchronizedList(new ArrayList<>());
    final Set<String> republishedIds = ConcurrentHashMap.newKeySet();
    final AtomicInteger publishRetries = new AtomicInteger();
    /** Result messages that arrived, by task id and state. */
    final Map<String, Map<TaskState, AtomicInteger>> results = new ConcurrentHashMap<>();
    /** The first result in a final state, by task id. */
    final Map<String, TaskResult> firstReady = new ConcurrentHashMap<>();
    private final AtomicLong lastResultAt = new AtomicLong(System.nanoTime());

    /** Connects to the broker the branch runs on {@code brokerPort} of this host. */
    TaskFlow(int brokerPort) throws IOException {
        this.brokerPort = brokerPort;
        producer = TaskProducer.connect("amqp://guest:guest@127.0.0.1:" + brokerPort + "//");
        producer.addResultListener(result -> {
            results.computeIfAbsent(result.taskId(), id -> new ConcurrentHashMap<>())
                    .computeIfAbsent(result.state(), s -> new AtomicInteger()).incrementAndGet();
            if (result.state().isReady()) {
                firstReady.putIfAbsent(result.taskId(), result);
            }
            lastResultAt.set(System.nanoTime());
        });
    }

    /** How many task ids have a result in a final state. */
    int ready() {
        return firstReady.size();
    }

    /** How many task ids have at least one result in {@code state}. */
    int idsWith(TaskState state) {
        int count = 0;
        for (Map<TaskState, AtomicInteger> got : results.values()) {
            if (got.containsKey(state)) count++;
        }
        return count;
    }

    /** True when no result has arrived for {@code quiet}. */
    boolean quietFor(Duration quiet) {
        return System.nanoTime() - lastResultAt.get() > quiet.toNanos();
    }

    /** Waits until every task published has a final result, or none has come for {@code quiet}. */
    void awaitReady(Duration timeout, Duration quiet, String when) {
        Wait.until(timeout, "every task to have a final result " + when + " (or " + quiet.toSeconds() + " s without a result)",
                () -> ready() == ids.size() || quietFor(quiet));
    }

    /** A fault, done between two slices of tasks. */
    interface Fault {
        void happen(String name) throws Exception;
    }

    /**
     * Sends {@code total} tasks ({@code make} gives that many) in as many slices as there are
     * faults, plus one; each fault comes while the slice before it is being worked on, once a
     * quarter of that slice is done (or, noted in {@code problems}, after {@link #PROGRESS_PATIENCE}
     * without progress).
     */
    void sendAmid(List<String> faults, int total, IntFunction<List<TaskRequest>> make, Fault fault, List<String> problems)
            throws Exception {
        int slice = Math.max(BATCH, total / (faults.size() + 1));
        int sent = 0;
        for (String name : faults) {
            int count = Math.min(slice, total - sent);
            int target = ready() + count / 4;
            publish(make.apply(count));
            sent += count;
            try {
                Wait.until(PROGRESS_PATIENCE, "progress before the " + name, () -> ready() >= target);
            } catch (AssertionError stuck) {
                problems.add("no progress before the " + name + ": " + ready() + " tasks done, wanted " + target);
            }
            fault.happen(name);
        }
        publish(make.apply(total - sent));
    }

    /** Publishes the requests in confirmed batches, each sent again with the same ids while the broker is down. */
    void publish(List<TaskRequest> requests) {
        for (int from = 0; from < requests.size(); from += BATCH) {
            List<TaskRequest> batch = requests.subList(from, Math.min(requests.size(), from + BATCH));
            batch.forEach(r -> ids.add(r.id()));
            long deadline = System.nanoTime() + PUBLISH_PATIENCE.toNanos();
            while (true) {
                try {
                    producer.sendAll(batch);
                    break;
                } catch (IOException | RuntimeException e) {
                    if (System.nanoTime() > deadline) {
                        throw new AssertionError("could not publish for " + PUBLISH_PATIENCE.toSeconds() + " s: " + e, e);
                    }
                    Wait.until(PUBLISH_PATIENCE, "the broker to accept connections", () -> BranchProcess.portOpen(brokerPort));
                    pause(RECOVERY_PAUSE);
                    publishRetries.incrementAndGet();
                    batch.forEach(r -> republishedIds.add(r.id()));
                }
            }
        }
    }

    private static void pause(Duration pause) {
        try {
            Thread.sleep(pause.toMillis());
        } catch (InterruptedException interrupted) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted");
        }
    }

    @Override
    public void close() throws IOException {
        producer.close();
    }
}
