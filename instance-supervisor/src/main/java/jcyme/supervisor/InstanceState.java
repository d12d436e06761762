package jcyme.supervisor;

/**
 * Where a supervised instance is, as supervisord names it. STARTING ends in RUNNING once the
 * worker answers {@code ping} on its socket; an unexpected exit is EXITED (then restarted), a quick
 * failure BACKOFF (retried after a growing delay), too many quick failures FATAL.
 */
public enum InstanceState {
    STOPPED, STARTING, RUNNING, BACKOFF, STOPPING, EXITED, FATAL;

    /** A process exists (or may) in this state. */
    public boolean isUp() {
        return this == STARTING || this == RUNNING || this == STOPPING;
    }
}
