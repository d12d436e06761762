package jcyme.worker;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.rabbitmq.client.Envelope;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicBoolean;
import jcyme.tasks.CeleryTime;
import jcyme.tasks.Json;
import jcyme.tasks.TaskMessage;

/**
 * One task message a worker holds, from receipt until it is acknowledged: one delivery (two
 * deliveries with the same task id are two requests). {@link #finish()} succeeds exactly once, so
 * a result is reported once even when a time limit, a terminate and the task itself race to end
 * it; {@link #interrupt()} reaches its thread only while it runs this task, never the next one.
 * A run ended by the worker (hard limit, terminate) while its thread keeps running is
 * {@linkplain #abandon() abandoned}, and {@linkplain #markStuck() stuck} if it still runs a while later.
 */
final class Request {
    final TaskMessage message;
    final Envelope envelope;
    /** The task channel that delivered it, where it is acked, and the connection's generation then: after a reconnect it can no longer be. */
    final BrokerConsumer.DeliveredOn deliveredOn;
    /** The message's AMQP priority, or null when it has none. */
    final Integer priority;
    private final AtomicBoolean finished = new AtomicBoolean();
    private volatile Instant timeStart;
    private volatile boolean acknowledged;
    /** The thread running the task, while it runs it; guarded by {@code this}. */
    private Thread thread;
    /** Guarded by {@code this}. */
    private boolean abandoned;
    private boolean stuck;
    private volatile boolean softLimitReached;

    /** How a task's run ended for the thread that ran it. */
    enum RunEnd {
        /** as usual */
        RETURNED,
        /** after the worker had given up on it, within the grace its interrupt has */
        ABANDONED,
        /** after the worker had given up on it and counted its thread stuck */
        STUCK
    }

    Request(TaskMessage message, Envelope envelope, BrokerConsumer.DeliveredOn deliveredOn) {
        this(message, envelope, deliveredOn, null);
    }

    Request(TaskMessage message, Envelope envelope, BrokerConsumer.DeliveredOn deliveredOn, Integer priority) {
        this.message = message;
        this.envelope = envelope;
        this.deliveredOn = deliveredOn;
        this.priority = priority;
    }

    String id() {
        return message.id();
    }

    String name() {
        return message.task();
    }

    boolean finish() {
        return finished.compareAndSet(false, true);
    }

    boolean isFinished() {
        return finished.get();
    }

    synchronized void started(Thread runner) {
        this.thread = runner;
        this.timeStart = Instant.now();
    }

    /** The task's run is over: from now on {@link #interrupt()} leaves its thread alone. */
    synchronized RunEnd ended() {
        thread = null;
        return stuck ? RunEnd.STUCK : abandoned ? RunEnd.ABANDONED : RunEnd.RETURNED;
    }

    /** The worker gives up on the run (its outcome is already out): interrupts its thread; false if it is not running. */
    synchronized boolean abandon() {
        if (thread == null || abandoned) {
            return false;
        }
        abandoned = true;
        thread.interrupt();
        return true;
    }

    /** Counts the abandoned run's thread as stuck; false if it has returned meanwhile. */
    synchronized boolean markStuck() {
        if (thread == null) {
            return false;
        }
        stuck = true;
        return true;
    }

    /** The broker has been told to acknowledge the message. */
    void acknowledged() {
        acknowledged = true;
    }

    Instant timeStart() {
        return timeStart;
    }

    /** Interrupts the thread running the task, if it is running it. */
    synchronized void interrupt() {
        if (thread != null) {
            thread.interrupt();
        }
    }

    void softLimitReached() {
        softLimitReached = true;
        interrupt();
    }

    boolean isSoftLimitReached() {
        return softLimitReached;
    }

    /** Celery's TASK_INFO: what {@code active}, {@code reserved} and {@code query_task} show. */
    ObjectNode info(boolean safe, String hostname, long pid) {
        ObjectNode info = JsonNodeFactory.instance.objectNode();
        info.put("id", id());
        info.put("name", name());
        if (safe) {
            info.put("args", Json.repr(message.args()));
            info.put("kwargs", Json.repr(message.kwargs()));
        } else {
            info.set("args", message.args());
            info.set("kwargs", message.kwargs());
        }
        info.put("type", name());
        info.put("hostname", hostname);
        Instant start = timeStart;
        if (start == null) {
            info.putNull("time_start");
            info.putNull("worker_pid");
        } else {
            info.put("time_start", CeleryTime.unixSeconds(start));
            info.put("worker_pid", pid);
        }
        info.put("acknowledged", acknowledged);
        ObjectNode delivery = info.putObject("delivery_info");
        delivery.put("exchange", envelope.getExchange());
        delivery.put("routing_key", envelope.getRoutingKey());
        delivery.put("priority", priority);
        delivery.put("redelivered", envelope.isRedeliver());
        return info;
    }
}
