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
import jcyme.tasks.Retry;
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
    private final TimeLimits defaultLimits;
    private final Map<String, Request> active = new ConcurrentHashMap<>();
    private final Map<String, Held> held = new ConcurrentHashMap<>();
    private final AtomicLong activeCount = new AtomicLong();
    private final Map<String, RateLimit> rateLimits = new ConcurrentHashMap<>();
    private final Map<String, TimeLimits> timeLimits = new ConcurrentHashMap<>();
    private TaskPool pool;
    private Listener listener;
    private volatile TaskEvents events = TaskEvents.NONE;
    private String origin = "";

    /** A task's hard and soft time limits (each null for none). */
    record TimeLimits(Duration hard, Duration soft) {}

    /** A message held back: until its ETA, or by its task's rate limit (which does not raise prefetch). */
    record Held(Request request, Instant eta, ScheduledFuture<?> timer, boolean rateLimited) {}

    TaskExecutor(Map<String, Task> tasks, BrokerConsumer broker, ScheduledExecutorService timer,
                 Duration defaultSoftLimit, Duration defaultHardLimit) {
        this.tasks = tasks;
        this.broker = broker;
        this.timer = timer;
        this.defaultLimits = new TimeLimits(defaultHardLimit, defaultSoftLimit);
    }

    void bind(WorkerState state) {
        this.state = state;
    }

    void attach(TaskPool pool, Listener listener) {
        this.pool = pool;
        this.listener = listener;
    }

    /** Where task events go, and the node name follow-up tasks are sent from. */
    void events(TaskEvents events, String origin) {
        this.events = events;
        this.origin = origin;
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
            RemoteError error = RemoteError.notRegistered(request.name());
            publish(request, TaskResult.failure(request.id(), TaskState.FAILURE, error, null));
            events.failed(request, error, null);
            broker.reject(request);
            return;
        }
        if (revokedOrExpired(request)) {
            return;
        }
        log.debug("received task {}[{}]", request.name(), request.id());
        events.received(request);
        Instant eta = request.message.eta();
        if (eta != null && eta.isAfter(Instant.now())) {
            hold(request, eta, false);
            return;
        }
        reserve(request);
    }

    /** Into the pool now, unless the task's rate limit says later. */
    private void reserve(Request request) {
        RateLimit limit = rateLimits.get(request.name());
        long wait = limit == null ? 0 : limit.reserve();
        if (wait > 0) {
            hold(request, Instant.now().plusMillis(wait), true);
            return;
        }
        pool.submit(request);
        listener.onDemandChanged();
    }

    private void hold(Request request, Instant eta, boolean rateLimited) {
        long delay = Math.max(0, Duration.between(Instant.now(), eta).toMillis());
        ScheduledFuture<?> due = timer.schedule(() -> release(request.id()), delay, TimeUnit.MILLISECONDS);
        held.put(request.id(), new Held(request, eta, due, rateLimited));
        if (rateLimited) {
            log.debug("task {}[{}] rate-limited until {}", request.name(), request.id(), eta);
        } else {
            log.info("task {}[{}] scheduled for {}", request.name(), request.id(), eta);
            listener.onHeldChanged();
        }
    }

    private void release(String id) {
        Held entry = held.remove(id);
        if (entry == null) {
            return;
        }
        if (entry.rateLimited()) {
            pool.submit(entry.request());
            listener.onDemandChanged();
            return;
        }
        listener.onHeldChanged();
        if (!revokedOrExpired(entry.request())) {
            reserve(entry.request());
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
        events.revoked(request, false, reason.equals("expired"));
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
        events.started(request);
        List<ScheduledFuture<?>> limits = startLimits(request);
        long started = System.nanoTime();
        Object value = null;
        Throwable error = null;
        try {
            value = task.run(new TaskCall(request.id(), request.name(), request.message.argList(),
                    request.message.kwargMap(), request.message.retries()));
        } catch (Throwable thrown) {
            error = thrown;
        } finally {
            limits.forEach(limit -> limit.cancel(false));
            Thread.interrupted();
        }
        if (request.finish()) {
            long nanos = System.nanoTime() - started;
            if (error instanceof Retry retry && request.message.retries() < retry.maxRetries()) {
                retry(request, retry);
            } else if (error == null) {
                succeeded(request, value, nanos);
            } else {
                failed(request, error instanceof Retry retry ? exhausted(request, retry) : error, nanos);
            }
        }
        active.remove(request.id());
        activeCount.decrementAndGet();
        listener.onDemandChanged();
    }

    private void succeeded(Request request, Object value, long nanos) {
        TaskResult result = TaskResult.success(request.id(), value);
        logOutcome(request, result, nanos);
        publish(request, result);
        events.succeeded(request, result.result(), nanos / 1e9);
        sendNext(request, () -> Canvas.onSuccess(request.message, result.result(), origin));
        broker.ack(request);
    }

    private void failed(Request request, Throwable error, long nanos) {
        RemoteError remote = request.isSoftLimitReached()
                ? new RemoteError("SoftTimeLimitExceeded", "soft time limit exceeded", RemoteError.BILLIARD)
                : error instanceof MaxRetriesExceededError ? new RemoteError("MaxRetriesExceededError", error.getMessage(), RemoteError.CELERY)
                : RemoteError.of(error);
        String traceback = traceback(error);
        TaskResult result = TaskResult.failure(request.id(), TaskState.FAILURE, remote, traceback);
        logOutcome(request, result, nanos);
        publish(request, result);
        events.failed(request, remote, traceback);
        sendNext(request, () -> Canvas.onFailure(request.message, origin));
        broker.ack(request);
    }

    /** Celery's retry: the same message again with one more retry and a new ETA, then RETRY and an ack. */
    private void retry(Request request, Retry retry) {
        Instant eta = Instant.now().plus(retry.countdown());
        try {
            broker.publishTask(broker.queueOf(request.envelope), request.message.retry(eta));
        } catch (java.io.IOException e) {
            log.error("task {}[{}] asked to retry but {}; left for redelivery", request.name(), request.id(), e.getMessage());
            return;
        }
        RemoteError cause = retry.getCause() == null ? new RemoteError("Retry", retry.getMessage(), RemoteError.CELERY)
                : RemoteError.of(retry.getCause());
        String traceback = retry.getCause() == null ? null : traceback(retry.getCause());
        log.info("task {}[{}] retry {} in {}s: {}", request.name(), request.id(), request.message.retries() + 1,
                seconds(retry.countdown()), cause);
        publish(request, TaskResult.failure(request.id(), TaskState.RETRY, cause, traceback));
        events.retried(request, cause, traceback);
        broker.ack(request);
    }

    /** What a task that may retry no more fails with: its cause, else Celery's MaxRetriesExceededError. */
    private static Throwable exhausted(Request request, Retry retry) {
        if (retry.getCause() != null) {
            return retry.getCause();
        }
        return new MaxRetriesExceededError("Can't retry " + request.name() + "[" + request.id() + "] args:"
                + request.message.args() + " kwargs:" + request.message.kwargs());
    }

    /** Celery's exception for a task out of retries, under its Celery name. */
    static final class MaxRetriesExceededError extends RuntimeException {
        MaxRetriesExceededError(String message) {
            super(message);
        }
    }

    /** Publishes the tasks that follow this one; a broken signature is logged, never fatal. */
    private void sendNext(Request request, java.util.function.Supplier<List<Canvas.Next>> next) {
        List<Canvas.Next> calls;
        try {
            calls = next.get();
        } catch (RuntimeException e) {
            log.error("task {}[{}]: cannot follow its callbacks: {}", request.name(), request.id(), e.getMessage());
            return;
        }
        for (Canvas.Next call : calls) {
            try {
                broker.publishTask(call.queue(), call.message());
                log.debug("task {}[{}] followed by {}[{}]", request.name(), request.id(), call.message().task(), call.message().id());
            } catch (java.io.IOException e) {
                log.error("task {}[{}]: {}", request.name(), request.id(), e.getMessage());
            }
        }
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
        TimeLimits forTask = timeLimits.getOrDefault(request.name(), defaultLimits);
        Duration soft = request.message.softLimit() != null ? request.message.softLimit() : forTask.soft();
        Duration hard = request.message.hardLimit() != null ? request.message.hardLimit() : forTask.hard();
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
        RemoteError error = new RemoteError("TimeLimitExceeded", seconds(hard), RemoteError.BILLIARD);
        events.failed(request, error, null);
        complete(request, TaskResult.failure(request.id(), TaskState.FAILURE, error, null));
        request.interrupt();
    }

    /** Revoke with terminate: ends a running task as REVOKED and interrupts it; false if not running. */
    boolean terminate(String id) {
        Request request = active.get(id);
        if (request == null || !request.finish()) {
            return false;
        }
        log.warn("terminating task {}[{}]", request.name(), id);
        events.revoked(request, true, false);
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

    /** Messages held until their ETA (Celery's {@code scheduled}). */
    List<Held> held() {
        return held.values().stream().filter(h -> !h.rateLimited()).toList();
    }

    /** How many ETA messages are held: each raises prefetch by one. */
    int heldCount() {
        return (int) held.values().stream().filter(h -> !h.rateLimited()).count();
    }

    // ---- per-task limits, set by remote control -----------------------------------------------

    /** The task's rate limit as given ({@code 10/m}), or null. */
    String rateLimit(String task) {
        RateLimit limit = rateLimits.get(task);
        return limit == null ? null : limit.text();
    }

    /** Sets ({@code 10/s}, {@code 10/m}, {@code 10/h}, {@code 10}) or clears (empty, {@code 0}) a rate limit; true if cleared. */
    boolean setRateLimit(String task, String text) {
        RateLimit limit = RateLimit.parse(text);
        if (limit == null) {
            rateLimits.remove(task);
            return true;
        }
        rateLimits.put(task, limit);
        return false;
    }

    void setTimeLimits(String task, Duration hard, Duration soft) {
        timeLimits.put(task, new TimeLimits(hard, soft));
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
