package jcyme.supervisor;

import java.time.Duration;

/**
 * Every timing of supervision, named, with defaults.
 *
 * @param startSecs     an instance must stay up this long after RUNNING for its start to count as good
 * @param startTimeout  how long STARTING may take before the attempt counts as failed
 * @param startRetries  quick failures in a row before FATAL
 * @param backoffBase   first BACKOFF delay; doubles per quick failure
 * @param backoffCap    longest BACKOFF delay
 * @param shutdownTimeout  an instance's warm shutdown time: the worker is told it ({@code --shutdown-timeout})
 *                      and a stop lets running tasks finish that long (plus the kill grace) before SIGTERM
 * @param killGrace     slack after the warm shutdown time, and the time after SIGTERM before SIGKILL
 * @param interval      the periodic reconcile (--sup-interval)
 * @param setupTimeout  how long an app's setup command may run before a start; longer is a failed start (--setup-timeout)
 * @param readyPoll     how often a starting worker is asked whether it is ready (it answers once it consumes)
 * @param spareWorkers  spare worker JVMs kept ready per app configuration, which new and restarted instances take
 *                      over instead of starting a JVM (--spare-workers); 0 turns them off
 */
public record SupervisorSettings(
        Duration startSecs,
        Duration startTimeout,
        int startRetries,
        Duration backoffBase,
        Duration backoffCap,
        Duration shutdownTimeout,
        Duration killGrace,
        Duration interval,
        Duration setupTimeout,
        Duration readyPoll,
        int spareWorkers) {

    /** The setup timeout unless one is given. */
    public static final Duration DEFAULT_SETUP_TIMEOUT = Duration.ofSeconds(60);
    /** The ready poll unless one is given: short, a refused connect to a socket not yet there costs microseconds. */
    public static final Duration DEFAULT_READY_POLL = Duration.ofMillis(10);
    /** Spare workers per app configuration unless told. */
    public static final int DEFAULT_SPARE_WORKERS = 1;

    /** Settings with the default ready poll and spare workers. */
    public SupervisorSettings(Duration startSecs, Duration startTimeout, int startRetries, Duration backoffBase, Duration backoffCap,
                              Duration shutdownTimeout, Duration killGrace, Duration interval, Duration setupTimeout) {
        this(startSecs, startTimeout, startRetries, backoffBase, backoffCap, shutdownTimeout, killGrace, interval, setupTimeout,
                DEFAULT_READY_POLL, DEFAULT_SPARE_WORKERS);
    }

    /** Settings with the default setup timeout. */
    public SupervisorSettings(Duration startSecs, Duration startTimeout, int startRetries, Duration backoffBase, Duration backoffCap,
                              Duration shutdownTimeout, Duration killGrace, Duration interval) {
        this(startSecs, startTimeout, startRetries, backoffBase, backoffCap, shutdownTimeout, killGrace, interval, DEFAULT_SETUP_TIMEOUT);
    }

    public static SupervisorSettings defaults() {
        return new SupervisorSettings(Duration.ofSeconds(5), Duration.ofSeconds(60), 3, Duration.ofSeconds(1),
                Duration.ofSeconds(30), Duration.ofSeconds(60), Duration.ofSeconds(10), Duration.ofSeconds(5));
    }

    public SupervisorSettings withInterval(Duration value) {
        return new SupervisorSettings(startSecs, startTimeout, startRetries, backoffBase, backoffCap, shutdownTimeout, killGrace, value,
                setupTimeout, readyPoll, spareWorkers);
    }

    public SupervisorSettings withSpareWorkers(int value) {
        return new SupervisorSettings(startSecs, startTimeout, startRetries, backoffBase, backoffCap, shutdownTimeout, killGrace, interval,
                setupTimeout, readyPoll, value);
    }

    /** How long a stop waits for the warm shutdown before it escalates to SIGTERM. */
    public Duration warmStopWait() {
        return shutdownTimeout.plus(killGrace);
    }

    /** The delay before retry number {@code failures} (1-based). */
    public Duration backoff(int failures) {
        long millis = backoffBase.toMillis() << Math.min(Math.max(failures - 1, 0), 20);
        return Duration.ofMillis(Math.min(millis, backoffCap.toMillis()));
    }
}
