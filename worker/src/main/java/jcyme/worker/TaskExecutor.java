package jcyme.worker;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
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
 * the producer's reply queue (and a retry or the tasks that follow it to theirs), and only once
 * the broker has confirmed all of that is the message acknowledged (at-least-once). Bookkeeping
 * is per delivery: two messages with the same task id are two requests.
 */
final class TaskExecutor {
    private static final Logger log = LoggerFactory.getLogger(TaskExecutor.class);
    private static final int MAX_TRACEBACK = 8_000;
    /** A message whose outcome could not be published waits this long before it is requeued, so a publish that keeps failing does not spin. */
    private static final long REQUEUE_DELAY_MS = 1_000;
    /**
     * How long a result whose reply queue is missing (its producer reconnecting, say after a
     * broker restart) is offered again, once a second, before it is given up as undeliverable.
     */
    static final long REPLY_QUEUE_PATIENCE_MS = 120_000;
    /**
     * How long a task's thread has, once the worker gave up on the task (hard time limit,
     * terminate) and interrupted it, to return before it is counted stuck.
     */
    static final Duration STUCK_AFTER = Duration.ofSeconds(1);

    /** Hooks into the rest of the worker. */
    interface Listener {
        /** A task message was reserved or released: the autoscaler may act. */
        void onDemandChanged();

        /** The number of ETA tasks held changed: prefetch must follow. */
        void onHeldChanged();

        /** One more thread is stuck in a task the worker gave up on; {@code stuckThreads} are now. */
        void onStuck(int stuckThreads);
    }

    private final Map<String, Task> tasks;
    private WorkerState state;
    private final BrokerConsumer broker;
    private final ScheduledExecutorService timer;
    private final TimeLimits defaultLimits;
    private final WorkDirs workDirs;
    private final Set<Request> active = ConcurrentHashMap.newKeySet();
    private final Map<Request, Held> held = new ConcurrentHashMap<>();
    private final Map<String, RateLimit> rateLimits = new ConcurrentHashMap<>();
    private final Map<String, TimeLimits> timeLimits = new ConcurrentHashMap<>();
    private final AtomicInteger stuck = new AtomicInteger();
    private TaskPool pool;
    private Listener listener;
    private volatile TaskEvents events = TaskEvents.NONE;
    private String origin = "";

    /** A task's hard and soft time limits (each null for none). */
    record TimeLimits(Duration hard, Duration soft) {}

    /** A message held back: until its ETA, or by its task's rate limit (which does not raise prefetch). */
    record Held(Request request, Instant eta, ScheduledFuture<?> timer, boolean rateLimited) {}

    private final LiveConfig liveConfig;

    TaskExecutor(Map<String, Task> tasks, BrokerConsumer broker, ScheduledExecutorService timer,
                 Duration defaultSoftLimit, Duration defaultHardLimit, WorkDirs workDirs, LiveConfig liveConfig) {
        this.liveConfig = liveConfig;
        this.tasks = tasks;
        this.broker = broker;
        this.timer = timer;
        this.defaultLimits = new TimeLimits(defaultHardLimit, defaultSoftLimit);
        this.workDirs = workDirs;
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
            Outcome outcome = new Outcome(request, true);
            publish(request, TaskResult.failure(request.id(), TaskState.FAILURE, error, null), outcome);
            events.failed(request, error, null);
            state.taskFailed();
            outcome.sealed();
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
        ScheduledFuture<?> due = timer.schedule(() -> release(request), delay, TimeUnit.MILLISECONDS);
        held.put(request, new Held(request, eta, due, rateLimited));
        if (rateLimited) {
            log.debug("task {}[{}] rate-limited until {}", request.name(), request.id(), eta);
        } else {
            log.info("task {}[{}] scheduled for {}", request.name(), request.id(), eta);
            listener.onHeldChanged();
        }
    }

    private void release(Request request) {
        Held entry = held.remove(request);
        if (entry == null) {
            return;
        }
        if (entry.rateLimited()) {
            pool.submit(entry.request());
            listener.onDemandChanged();
            return;
        }
        listener.onHeldChanged();
        state.readRevokes(); // a revoke the other slot's worker took meanwhile
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
        active.add(request);
        request.started(Thread.currentThread());
        state.taskStarted(request.name());
        events.started(request);
        List<ScheduledFuture<?>> limits = startLimits(request);
        long started = System.nanoTime();
        Object value = null;
        Throwable error = null;
        Request.RunEnd end;
        try {
            Path workDir = workDirs.acquire(request.id());
            try {
                value = liveConfig.run(task, config -> task.run(new TaskCall(request.id(), request.name(), request.message.argList(),
                        request.message.kwargMap(), request.message.retries(), workDir, config.id(), config.config())));
            } finally {
                workDirs.release(request.id());
            }
        } catch (Throwable thrown) {
            error = thrown;
        } finally {
            end = request.ended();
            limits.forEach(limit -> limit.cancel(false));
            Thread.interrupted(); // an interrupt meant for this task, come after it stopped listening
        }
        if (end != Request.RunEnd.RETURNED) {
            returnedAfterGivenUp(request, end, System.nanoTime() - started);
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
        active.remove(request);
        listener.onDemandChanged();
    }

    private void succeeded(Request request, Object value, long nanos) {
        TaskResult result = TaskResult.success(request.id(), value);
        logOutcome(request, result, nanos);
        Outcome outcome = new Outcome(request, false);
        publish(request, result, outcome);
        events.succeeded(request, result.result(), nanos / 1e9);
        sendNext(request, () -> Canvas.onSuccess(request.message, result.result(), origin), outcome);
        outcome.sealed();
    }

    private void failed(Request request, Throwable error, long nanos) {
        RemoteError remote = request.isSoftLimitReached()
                ? new RemoteError("SoftTimeLimitExceeded", "soft time limit exceeded", RemoteError.BILLIARD)
                : error instanceof MaxRetriesExceededError ? new RemoteError("MaxRetriesExceededError", error.getMessage(), RemoteError.CELERY)
                : RemoteError.of(error);
        String traceback = traceback(error);
        TaskResult result = TaskResult.failure(request.id(), TaskState.FAILURE, remote, traceback);
        logOutcome(request, result, nanos);
        Outcome outcome = new Outcome(request, false);
        publish(request, result, outcome);
        events.failed(request, remote, traceback);
        state.taskFailed();
        sendNext(request, () -> Canvas.onFailure(request.message, origin), outcome);
        outcome.sealed();
    }

    /** Celery's retry: the same message again with one more retry and a new ETA, RETRY, then an ack. */
    private void retry(Request request, Retry retry) {
        Instant eta = Instant.now().plus(retry.countdown());
        Outcome outcome = new Outcome(request, false);
        broker.publishTask(broker.queueOf(request.envelope), request.message.retry(eta), outcome.expect());
        RemoteError cause = retry.getCause() == null ? new RemoteError("Retry", retry.getMessage(), RemoteError.CELERY)
                : RemoteError.of(retry.getCause());
        String traceback = retry.getCause() == null ? null : traceback(retry.getCause());
        log.info("task {}[{}] retry {} in {}s: {}", request.name(), request.id(), request.message.retries() + 1,
                seconds(retry.countdown()), cause);
        publish(request, TaskResult.failure(request.id(), TaskState.RETRY, cause, traceback), outcome);
        events.retried(request, cause, traceback);
        outcome.sealed();
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
    private void sendNext(Request request, Supplier<List<Canvas.Next>> next, Outcome outcome) {
        List<Canvas.Next> calls;
        try {
            calls = next.get();
        } catch (RuntimeException e) {
            log.error("task {}[{}]: cannot follow its callbacks: {}", request.name(), request.id(), e.getMessage());
            return;
        }
        for (Canvas.Next call : calls) {
            log.debug("task {}[{}] followed by {}[{}]", request.name(), request.id(), call.message().task(), call.message().id());
            broker.publishTask(call.queue(), call.message(), outcome.expect());
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
        state.taskFailed();
        complete(request, TaskResult.failure(request.id(), TaskState.FAILURE, error, null));
        giveUp(request);
    }

    /** Revoke with terminate: ends each running delivery of task {@code id} as REVOKED and interrupts it; false if none ran. */
    boolean terminate(String id) {
        boolean terminated = false;
        for (Request request : active) {
            if (request.id().equals(id) && request.finish()) {
                log.warn("terminating task {}[{}]", request.name(), id);
                events.revoked(request, true, false);
                complete(request, TaskResult.failure(id, TaskState.REVOKED, RemoteError.revoked("terminated"), null));
                giveUp(request);
                terminated = true;
            }
        }
        return terminated;
    }

    /**
     * After a hard limit or a terminate has reported the task's outcome: interrupts its thread and,
     * while that thread has not returned, runs the pool with a fresh one in its place (Celery's
     * prefork replaces the child it kills). A thread still in the task {@link #STUCK_AFTER} later
     * is counted stuck; only killing the JVM ends it.
     */
    private void giveUp(Request request) {
        pool.abandon(); // before the thread can return and reclaim its place
        if (!request.abandon()) {
            pool.reclaim(); // it had returned already
            return;
        }
        active.remove(request);
        listener.onDemandChanged();
        try {
            timer.schedule(() -> countIfStuck(request), STUCK_AFTER.toMillis(), TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException stopping) {
            countIfStuck(request);
        }
    }

    private void countIfStuck(Request request) {
        if (request.markStuck()) {
            int now = stuck.incrementAndGet();
            log.warn("task {}[{}] ignores its interrupt: its thread is stuck in it ({} stuck thread(s))",
                    request.name(), request.id(), now);
            listener.onStuck(now);
        }
    }

    /** The thread of a task given up on has returned: it publishes and acks nothing, and the extra thread goes. */
    private void returnedAfterGivenUp(Request request, Request.RunEnd end, long nanos) {
        pool.reclaim();
        if (end == Request.RunEnd.STUCK) {
            int left = stuck.decrementAndGet();
            log.info("the stuck thread of task {}[{}] returned after {}s ({} stuck thread(s) left)", request.name(),
                    request.id(), String.format("%.1f", nanos / 1e9), left);
        }
    }

    /** Threads still in a task after its hard limit or a terminate, past {@link #STUCK_AFTER}. */
    int stuckThreads() {
        return stuck.get();
    }

    /** Publishes the result (unless none is wanted) and acknowledges the message once it is confirmed. */
    private void complete(Request request, TaskResult result) {
        Outcome outcome = new Outcome(request, false);
        publish(request, result, outcome);
        outcome.sealed();
    }

    private void publish(Request request, TaskResult result, Outcome outcome) {
        String replyTo = request.message.replyTo();
        if (replyTo != null && !request.message.ignoreResult()) {
            new ResultDelivery(request, replyTo, result, outcome.expect()).send();
        }
    }

    /**
     * A result on its way to the producer's reply queue. While that queue is missing, the result
     * is offered again (the task is not run again) and the message stays unacked; a producer gone
     * for good loses its result after {@link #REPLY_QUEUE_PATIENCE_MS}, as Celery's rpc backend does.
     */
    private final class ResultDelivery implements Publisher.Confirmation {
        private final Request request;
        private final String replyTo;
        private final TaskResult result;
        private final Outcome outcome;
        private final long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(REPLY_QUEUE_PATIENCE_MS);
        private boolean told;

        ResultDelivery(Request request, String replyTo, TaskResult result, Outcome outcome) {
            this.request = request;
            this.replyTo = replyTo;
            this.result = result;
            this.outcome = outcome;
        }

        void send() {
            broker.publishResult(replyTo, request.message.correlationId(), result, this);
        }

        @Override
        public void confirmed() {
            outcome.confirmed();
        }

        @Override
        public void failed(String reason) {
            outcome.failed(reason);
        }

        @Override
        public void unroutable(String reason) {
            if (System.nanoTime() - deadline > 0) {
                log.warn("task {}[{}]: result given up, reply queue {} missing for {} s", request.name(), request.id(),
                        replyTo, REPLY_QUEUE_PATIENCE_MS / 1000);
                outcome.confirmed();
                return;
            }
            if (!told) {
                told = true;
                log.info("task {}[{}]: reply queue {} is missing; offering the result again until it returns",
                        request.name(), request.id(), replyTo);
            }
            try {
                timer.schedule(this::send, REQUEUE_DELAY_MS, TimeUnit.MILLISECONDS);
            } catch (RejectedExecutionException stopping) {
                outcome.failed("stopping while the reply queue " + replyTo + " is missing");
            }
        }
    }

    /**
     * What a finished request waits for: every publish it made, confirmed by the broker. Then it
     * is acked (or rejected); if any publish fails it goes back to its queue instead.
     */
    private final class Outcome implements Publisher.Confirmation {
        private final Request request;
        private final boolean reject;
        /** Publishes not yet confirmed, plus one until {@link #sealed()}. */
        private final AtomicInteger pending = new AtomicInteger(1);
        private final AtomicBoolean failed = new AtomicBoolean();

        Outcome(Request request, boolean reject) {
            this.request = request;
            this.reject = reject;
        }

        /** One more publish to wait for. */
        Outcome expect() {
            pending.incrementAndGet();
            return this;
        }

        /** Every publish has been made. */
        void sealed() {
            arrived();
        }

        @Override
        public void confirmed() {
            arrived();
        }

        @Override
        public void failed(String reason) {
            if (!failed.compareAndSet(false, true)) {
                return;
            }
            log.error("task {}[{}]: {}; it goes back to the queue", request.name(), request.id(), reason);
            try {
                timer.schedule(() -> broker.requeue(request), REQUEUE_DELAY_MS, TimeUnit.MILLISECONDS);
            } catch (RejectedExecutionException stopping) {
                broker.requeue(request);
            }
        }

        private void arrived() {
            if (pending.decrementAndGet() == 0 && !failed.get()) {
                if (reject) {
                    broker.reject(request);
                } else if (broker.ack(request)) {
                    request.acknowledged();
                }
            }
        }
    }

    // ---- views and housekeeping ---------------------------------------------------------------

    List<Request> active() {
        return new ArrayList<>(active);
    }

    /** A running delivery of task {@code id}, or null. */
    Request activeRequest(String id) {
        return active.stream().filter(request -> request.id().equals(id)).findFirst().orElse(null);
    }

    int activeCount() {
        return active.size();
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
        for (Request request : new ArrayList<>(held.keySet())) {
            Held entry = held.remove(request);
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
