package jcyme.branch;

/** A request the branch refuses, with the HTTP status that says why and one clear sentence. */
public class BranchException extends RuntimeException {
    private final int status;

    public BranchException(int status, String message) {
        super(message);
        this.status = status;
    }

    public int status() {
        return status;
    }

    public static BranchException invalid(String message) {
        return new BranchException(400, message);
    }

    public static BranchException notFound(String message) {
        return new BranchException(404, message);
    }

    public static BranchException conflict(String message) {
        return new BranchException(409, message);
    }

    public static BranchException timeout(String message) {
        return new BranchException(504, message);
    }
}
