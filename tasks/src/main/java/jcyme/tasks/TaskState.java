package jcyme.tasks;

/** Celery's task states. */
public enum TaskState {
    PENDING, RECEIVED, STARTED, SUCCESS, FAILURE, REVOKED, REJECTED, RETRY, IGNORED;

    /** A state after which the task will not change again. */
    public boolean isReady() {
        return this == SUCCESS || this == FAILURE || this == REVOKED;
    }

    /** A state whose result is an error description. */
    public boolean isException() {
        return this == FAILURE || this == REVOKED || this == RETRY;
    }
}
