package jcyme.tasks;

/** A message that is not a valid Celery protocol v2 task message. */
public class InvalidMessageException extends Exception {
    public InvalidMessageException(String message) {
        super(message);
    }
}
