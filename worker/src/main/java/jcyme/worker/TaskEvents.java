package jcyme.worker;

import com.fasterxml.jackson.databind.JsonNode;
import jcyme.tasks.RemoteError;

/** What happens to a task, as Celery's task events tell it. */
interface TaskEvents {
    void received(Request request);

    void started(Request request);

    void succeeded(Request request, JsonNode result, double runtime);

    void failed(Request request, RemoteError error, String traceback);

    void retried(Request request, RemoteError cause, String traceback);

    void revoked(Request request, boolean terminated, boolean expired);

    /** Events nobody listens to. */
    TaskEvents NONE = new TaskEvents() {
        @Override public void received(Request request) {}
        @Override public void started(Request request) {}
        @Override public void succeeded(Request request, JsonNode result, double runtime) {}
        @Override public void failed(Request request, RemoteError error, String traceback) {}
        @Override public void retried(Request request, RemoteError cause, String traceback) {}
        @Override public void revoked(Request request, boolean terminated, boolean expired) {}
    };
}
