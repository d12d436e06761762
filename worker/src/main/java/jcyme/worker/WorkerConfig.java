package jcyme.worker;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import jcyme.tasks.BrokerUrl;

/**
 * Everything a worker is started with. Pool bounds: with autoscale the pool moves between
 * {@code minConcurrency} and {@code maxConcurrency}; without it both equal the fixed concurrency.
 *
 * @param keepalive        idle time before the autoscaler shrinks the pool (Celery's AUTOSCALE_KEEPALIVE)
 * @param shutdownTimeout  how long a warm shutdown waits for running tasks
 * @param maxReconnectDelay the cap of the exponential reconnect backoff
 * @param taskEvents       send task events from the start (Celery's {@code -E}); worker events always go out
 * @param heartbeatInterval how often worker-heartbeat goes out (Celery's {@code freq}, 2 s)
 * @param workDirs         where each task's own work directory goes, and when old ones are scrubbed
 * @param batching         how acks and task events are gathered into fewer broker frames
 * @param recycleWhenStuck ask to be recycled once this many threads are stuck in tasks given up on
 *                         (hard time limit, terminate); 0: never
 */
public record WorkerConfig(
        BrokerUrl broker,
        List<String> queues,
        String nodename,
        String directQueue,
        boolean autoscale,
        int minConcurrency,
        int maxConcurrency,
        int prefetchMultiplier,
        Path pidfile,
        Path statedb,
        Path controlSocket,
        List<Path> classpath,
        Duration softTimeLimit,
        Duration hardTimeLimit,
        Duration keepalive,
        Duration shutdownTimeout,
        Duration maxReconnectDelay,
        boolean taskEvents,
        Duration heartbeatInterval,
        WorkDirs.Settings workDirs,
        Batching batching,
        int recycleWhenStuck) {

    /**
     * How the worker saves broker frames on fast tasks.
     *
     * @param ackWindow     while tasks end fast, prefetch grows by this many and acks go out as one
     *                      {@code multiple} ack per half of it ({@code --ack-window}; 0: one ack per task)
     * @param ackInterval   the longest a finished task waits for its ack then ({@code --ack-interval})
     * @param eventInterval task events are sent as one {@code task.multi} list at most this often
     *                      ({@code --event-interval}; 0: each event on its own, as it happens)
     */
    public record Batching(int ackWindow, Duration ackInterval, Duration eventInterval) {
        public static final Batching DEFAULT = new Batching(128, Duration.ofMillis(20), Duration.ofMillis(100));

        public Batching {
            if (ackWindow < 0) {
                throw new IllegalArgumentException("--ack-window must be 0 or more, got " + ackWindow);
            }
            if (ackInterval == null || ackInterval.isNegative() || ackInterval.isZero()) {
                throw new IllegalArgumentException("--ack-interval must be more than 0 seconds, got " + ackInterval);
            }
            if (eventInterval == null || eventInterval.isNegative()) {
                throw new IllegalArgumentException("--event-interval must be 0 or more seconds, got " + eventInterval);
            }
        }
    }

    public WorkerConfig {
        queues = List.copyOf(queues);
        classpath = List.copyOf(classpath);
        if (autoscale) {
            new AutoscalePolicy(minConcurrency, maxConcurrency, keepalive);
        } else if (minConcurrency != maxConcurrency || maxConcurrency < 1) {
            throw new IllegalArgumentException("concurrency must be at least 1, got " + maxConcurrency);
        }
        if (recycleWhenStuck < 0) {
            throw new IllegalArgumentException("--recycle-when-stuck must be 0 or more, got " + recycleWhenStuck);
        }
        if (prefetchMultiplier < 0) {
            throw new IllegalArgumentException("prefetch multiplier must be 0 or more, got " + prefetchMultiplier);
        }
    }
}
