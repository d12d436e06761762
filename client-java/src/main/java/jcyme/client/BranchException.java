package jcyme.client;

/** A branch answered with an error (status 4xx/5xx), or could not be reached (status 0). */
public class BranchException extends RuntimeException {
    private final int status;

    public BranchException(int status, String message) {
        super(message);
        this.status = status;
    }

    /** The HTTP status, or 0 when the branch could not be reached. */
    public int status() {
        return status;
    }
}
