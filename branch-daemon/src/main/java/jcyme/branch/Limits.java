package jcyme.branch;

/**
 * The bounds a branch puts on what its API accepts, named in one place (README, "bin/branch"):
 * each keeps one request from costing the host more than an operator would plan for. A request
 * beyond one is refused with a 4xx that names the limit, and changes nothing.
 */
public final class Limits {
    /** The largest request body the HTTP API reads (1 MiB); a larger one is 413. */
    public static final long MAX_BODY_BYTES = 1L << 20;
    /** The longest {@code GET .../query/<id>/wait?timeout=S}, in seconds; a longer one is 400. */
    public static final int MAX_WAIT_SECONDS = 300;
    /** The largest pool an app ({@code max_concurrency}) or instance ({@code max}, autoscale) may ask for, in threads. */
    public static final int MAX_POOL = 256;
    /** The most instances one branch runs, by default; one more is refused (400) until one is deleted. */
    public static final int MAX_INSTANCES = 256;
    /** The system property that overrides {@link #MAX_INSTANCES} (what {@code bin/branch --max-instances} sets). */
    public static final String MAX_INSTANCES_PROPERTY = "jcyme.maxInstances";

    /** The most operations asked with {@code !/} (answered 202 at once) that run at the same time in the background. */
    public static final int MAX_ASYNC_RUNNING = 16;
    /** The most such operations waiting for one of those; one more is refused (503) until some have run. */
    public static final int MAX_ASYNC_WAITING = 256;

    private Limits() {}

    /** The most instances this branch runs: {@value #MAX_INSTANCES_PROPERTY} when set (0 or more), else {@link #MAX_INSTANCES}. */
    public static int maxInstances() {
        Integer value = Integer.getInteger(MAX_INSTANCES_PROPERTY);
        return value == null || value < 0 ? MAX_INSTANCES : value;
    }
}
