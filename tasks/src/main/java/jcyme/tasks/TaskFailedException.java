package jcyme.tasks;

/** A task ended in FAILURE or REVOKED; carries the remote error and traceback. */
public class TaskFailedException extends Exception {
    private final String taskId;
    private final TaskState state;
    private final RemoteError error;
    private final String remoteTraceback;

    public TaskFailedException(String taskId, TaskState state, RemoteError error, String remoteTraceback) {
        super("task " + taskId + " " + state + ": " + error);
        this.taskId = taskId;
        this.state = state;
        this.error = error;
        this.remoteTraceback = remoteTraceback;
    }

    public String taskId() { return taskId; }
    public TaskState state() { return state; }
    public RemoteError error() { return error; }
    public String remoteTraceback() { return remoteTraceback; }
}
