package jcyme.branch;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Passes over named things, one lane per name: at most one pass over a name runs at a time, passes
 * over different names run in parallel, and the wakes that come while a pass runs ask for one more
 * pass between them. A pass that fails is logged and its lane carries on. Once closed, no pass starts.
 */
final class Lanes implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Lanes.class);

    private final String what;
    private final Consumer<String> pass;
    private final Duration closeWait;
    private final Map<String, Lane> lanes = new HashMap<>();
    private final ExecutorService threads;
    private boolean closed;

    /** One name's wakes not served yet; {@code running} while a thread drains them. */
    private static final class Lane {
        boolean running;
        List<CompletableFuture<Void>> waiting = new ArrayList<>();
    }

    /**
     * @param what       what the passes do, for thread names and log lines ({@code reconcile})
     * @param pass       one pass over a name
     * @param closeWait  how long {@link #close} waits for the passes under way to end
     */
    Lanes(String what, Consumer<String> pass, Duration closeWait) {
        this.what = what;
        this.pass = pass;
        this.closeWait = closeWait;
        this.threads = Executors.newCachedThreadPool(DaemonThreads.named(what));
    }

    /** Asks for a pass over the name; completes once a pass begun after this call has ended (at once when closed). */
    CompletableFuture<Void> wake(String name) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        synchronized (lanes) {
            if (closed) {
                done.complete(null);
                return done;
            }
            Lane lane = lanes.computeIfAbsent(name, n -> new Lane());
            lane.waiting.add(done);
            if (!lane.running) {
                lane.running = true;
                try {
                    threads.execute(() -> drain(name, lane));
                } catch (RejectedExecutionException e) {
                    lanes.remove(name);
                    done.complete(null);
                }
            }
        }
        return done;
    }

    /** The names with a pass running or asked for. */
    Set<String> busy() {
        synchronized (lanes) {
            return Set.copyOf(lanes.keySet());
        }
    }

    private void drain(String name, Lane lane) {
        while (true) {
            List<CompletableFuture<Void>> served;
            synchronized (lanes) {
                if (lane.waiting.isEmpty() || closed) {
                    lane.running = false;
                    lanes.remove(name);
                    lane.waiting.forEach(w -> w.complete(null));
                    return;
                }
                served = lane.waiting;
                lane.waiting = new ArrayList<>();
            }
            try {
                pass.accept(name);
            } catch (RuntimeException e) {
                log.warn("{} {} failed: {}", what, name, e.toString());
            } catch (Error e) {
                log.error("{} {} failed", what, name, e);
            } finally {
                served.forEach(w -> w.complete(null));
            }
        }
    }

    /** Starts no more passes and waits (at most the close wait) for those under way to end. */
    @Override
    public void close() {
        synchronized (lanes) {
            closed = true;
        }
        threads.shutdown();
        try {
            if (!threads.awaitTermination(closeWait.toMillis(), TimeUnit.MILLISECONDS)) {
                log.warn("{}: passes over {} still under way after {} s; not waiting for them", what, busy(), closeWait.toSeconds());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
