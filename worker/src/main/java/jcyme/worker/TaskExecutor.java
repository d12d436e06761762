package jcyme.worker;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import jcyme.tasks.RemoteError;
import jcyme.tasks.Task;
import jcyme.tasks.TaskCall;
import jcyme.tasks.TaskResult;
import jcyme.tasks.TaskState;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What happens to a task message: on receipt it is checked (known task? revoked? expired? ETA?)
 * and reserved in the pool; on a pool thread it runs under its time limits; its result goes to
 * the producer's reply queue and only then is the message acknowledged (at-least-once).
 */
final class TaskExecutor {
    private static final Logger log = LoggerFactory.getLogger(TaskExecutor.class);
    private static final int MAX_TRACEBACK = 8_000;

    /** Hooks into the rest of the worker. */
    interface Listener {
        /** A task message was reserved or released: the autoscaler may act. */
        void onDemandChanged();

        /** The number of ETA tasks held changed: prefetch must follow. */
        void onHeldChanged();
    }

    private final Map<String, Task> tasks;
    private WorkerState state;
    private final BrokerConsumer broker;
    private final ScheduledExecutorService timer;
    private final Duration defaultSoftLimit;
    private final Duration defaultHardLimit;
    private final Map<String, Request> active = new ConcurrentHashMap<>();
    private final Map<String, Held> held = new ConcurrentHashMap<>();
    private final AtomicLong activeCount = new AtomicLong();
    private TaskPool pool;
    private Listener listener;

    record Held(Request request, Instant eta, ScheduledFuture<?> timer) {}

    TaskExecutor(Map<String, Task> tasks, BrokerConsumer broker, ScheduledExecutorService timer,
                 Duration defaultSoftLimit, Duration defaultHardLimit) {
        this.tasks = tasks;
        this.broker = broker;
        this.timer = timer;
        this.defaultSoftLimit = defaultSoftLimit;
        this.defaultHardLimit = defaultHardLimit;
    }

    void bind(WorkerState state) {
        this.state = state;
    }

    void attach(TaskPool pool, Listener listener) {
        this.pool = pool;
        this.listener = listener;
    }

    Map<String, Task> tasks() {
        return tasks;
    }

    // ---- receipt ------------------------------------------------------------------------------

    void receive(Request request) {
        state.clock().forward();
        if (!tasks.containsKey(request.name())) {
            log.error("received unregistered task {}[{}]; rejected", request.name(), request.id());
            request.finish();
            publish(request, TaskResult.failure(request.id(), TaskState.FAILURE,
                    RemoteError.notRegistered(request.name()), null));
            broker.reject(request);
            return;
        }
        if (revokedOrExpired(request)) {
            return;
        }
        log.debug("received task {}[{}]", request.name(), request.id());
        Instant eta = request.message.eta();
        if (eta != null && eta.isAfter(Instant.now())) {
            hold(request, eta);
            return;
        }
        pool.submit(request);
        listener.onDemandChanged();
    }

    private void hold(Request request, Instant eta) {
        long delay = Math.max(0, Duration.between(Instant.now(), eta).toMillis());
        ScheduledFuture<?> due = timer.schedule(() -> release(request.id()), delay, TimeUnit.MILLISECONDS);
        held.put(request.id(), new Held(request, eta, due));
        log.info("task {}[{}] scheduled for {}", request.name(), request.id(), eta);
        listener.onHeldChanged();
    }

    private void release(String id) {
        Held entry = held.remove(id);
        if (entry == null) {
            return;
        }
        listener.onHeldChanged();
        if (!revokedOrExpired(entry.request())) {
            pool.submit(entry.request());
            listener.onDemandChanged();
        }
    }

    /** Ends a revoked or expired request with a REVOKED result and an ack; true if it did. */
    private boolean revokedOrExpired(Request request) {
        String reason = null;
        if (state.isRevoked(request.id())) {
            reason = "revoked";
        } else if (request.message.expires() != null && request.message.expires().isBefore(Instant.now())) {
            reason = "expired";
        }
        if (reason == null || !request.finish()) {
            return reason != null;
        }
        log.info("discarding {} task {}[{}]", reason, request.name(), request.id());
        complete(request, TaskResult.failure(request.id(), TaskState.REVOKED, RemoteError.revoked(reason), null));
        return true;
    }

    // ---- execution ----------------------------------------------------------------------------

    void execute(Request request) {
        if (request.isFinished() || revokedOrExpired(request)) {
            listener.onDemandChanged();
            return;
        }
        Task task = tasks.get(request.name());
        active.put(request.id(), request);
        activeCount.incrementAndGet();
        request.started(Thread.currentThread());
        state.taskStarted(request.name());
        List<ScheduledFuture<?>> limits = startLimits(request);
        long started = System.nanoTime();
        TaskResult result;
        try {
            Object value = task.run(new TaskCall(request.id(), request.name(), request.message.argList(),
                    request.message.kwargMap(), request.message.retries()));
            result = TaskResult.success(request.id(), value);
        } catch (Throwable error) {
            RemoteError remote = request.isSoftLimitReached()
                    ? new RemoteError("SoftTimeLimitExceeded", "soft time limit exceeded", RemoteError.BILLIARD)
                    : RemoteError.of(error);
            result = TaskResult.failure(request.id(), TaskState.FAILURE, remote, traceback(error));
        } finally {
            limits.forEach(limit -> limit.cancel(false));
            Thread.interrupted();
        }
        if (request.finish()) {
            logOutcome(request, result, System.nanoTime() - started);
            complete(request, result);
        }
        active.remove(request.id());
        activeCount.decrementAndGet();
        listener.onDemandChanged();
    }

    private static void logOutcome(Request request, TaskResult result, long nanos) {
        if (result.state() == TaskState.SUCCESS) {
            if (log.isInfoEnabled()) {
                log.info("task {}[{}] succeeded in {}s", request.name(), request.id(), String.format("%.4f", nanos / 1e9));
            }
        } else {
            log.warn("task {}[{}] failed in {}s: {}", request.name(), request.id(), String.format("%.4f", nanos / 1e9),
                    result.error());
        }
    }

    private List<ScheduledFuture<?>> startLimits(Request request) {
        List<ScheduledFuture<?>> limits = new ArrayList<>(2);
        Duration soft = request.message.softLimit() != null ? request.message.softLimit() : defaultSoftLimit;
        Duration hard = request.message.hardLimit() != null ? request.message.hardLimit() : defaultHardLimit;
        if (soft != null && !soft.isZero()) {
            limits.add(timer.schedule(() -> {
                log.warn("soft time limit ({}s) exceeded for {}[{}]; interrupting it", seconds(soft), request.name(), request.id());
                request.softLimitReached();
            }, soft.toMillis(), TimeUnit.MILLISECONDS));
        }
        if (hard != null && !hard.isZero()) {
            limits.add(timer.schedule(() -> hardLimit(request, hard), hard.toMillis(), TimeUnit.MILLISECONDS));
        }
        return limits;
    }

    private void hardLimit(Request request, Duration hard) {
        if (!request.finish()) {
            return;
        }
        log.error("hard time limit ({}s) exceeded for {}[{}]; reported as failed, its thread is interrupted",
                seconds(hard), request.name(), request.id());
        complete(request, TaskResult.failure(request.id(), TaskState.FAILURE,
                new RemoteError("TimeLimitExceeded", seconds(hard), RemoteError.BILLIARD), null));
        request.interrupt();
    }

    /** Revoke with terminate: ends a running task as REVOKED and interrupts it; false if not running. */
    boolean terminate(String id) {
        Request request = active.get(id);
        if (request == null || !request.finish()) {
            return false;
        }
        log.warn("terminating task {}[{}]", request.name(), id);
        complete(request, TaskResult.failure(id, TaskState.REVOKED, RemoteError.revoked("terminated"), null));
        request.interrupt();
        return true;
    }

    /** Publishes the result (unless none is wanted) and then acknowledges the message. */
    private void complete(Request request, TaskResult result) {
        publish(request, result);
        broker.ack(request);
    }

    private void publish(Request request, TaskResult result) {
        String replyTo = request.message.replyTo();
        if (replyTo != null && !request.message.ignoreResult()) {
            broker.publishResult(replyTo, request.message.correlationId(), result);
        }
    }

    // ---- views and housekeeping ---------------------------------------------------------------

    List<Request> active() {
        return new ArrayList<>(active.values());
    }

    Request activeRequest(String id) {
        return active.get(id);
    }

    int activeCount() {
        return (int) activeCount.get();
    }

    List<Held> held() {
        return new ArrayList<>(held.values());
    }

    int heldCount() {
        return held.size();
    }

    /** Tasks reserved or running, as Celery's autoscaler counts them (held ETA tasks excluded). */
    int demand() {
        return pool.waitingCount() + activeCount();
    }

    /** Forgets every request not yet running (the broker will redeliver them); returns how many. */
    int dropPending() {
        int dropped = pool.removeWaiting(request -> true).size();
        for (String id : new ArrayList<>(held.keySet())) {
            Held entry = held.remove(id);
            if (entry != null) {
                entry.timer().cancel(false);
                dropped++;
            }
        }
        listener.onHeldChanged();
        return dropped;
    }

    private static String seconds(Duration d) {
        return Double.toString(d.toMillis() / 1000.0);
    }

    private static String traceback(Throwable error) {
        StringWriter out = new StringWriter();
        error.printStackTrace(new PrintWriter(out));
        String text = out.toString();
        return text.length() > MAX_TRACEBACK ? text.substring(0, MAX_TRACEBACK) + "\n..." : text;
    }
}
