package jcyme.supervisor;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * Hears of processes' exits on threads of the supervisor's own. {@link Process#onExit} and
 * {@link ProcessHandle#onExit} complete on the common fork-join pool, so anything else in the JVM
 * that keeps that pool busy or blocked (a parallel stream, an async HTTP client, a library's
 * {@code CompletableFuture} chain) would hold back every exit the supervisor reports, and every
 * callback on it would block that pool in turn. Each watched process takes one thread while it lives,
 * as the JDK's own reaper does.
 */
final class ProcessExits {
    /** How often a process that is no child of this JVM (so cannot be waited for) is looked at. */
    static final Duration NON_CHILD_POLL = Duration.ofMillis(100);

    private static final ExecutorService WAITERS = Executors.newCachedThreadPool(task -> {
        Thread thread = new Thread(task, "process-exit");
        thread.setDaemon(true);
        return thread;
    });

    private ProcessExits() {}

    /** Completes, on a waiter thread (where what is chained to it runs), once the child has exited. */
    static CompletableFuture<Process> of(Process child) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                child.waitFor();
                return child;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted waiting for pid " + child.pid(), e);
            }
        }, WAITERS);
    }

    /** Completes, on a waiter thread, once a process that is no child of this JVM is gone (or a zombie). */
    static CompletableFuture<ProcessHandle> of(ProcessHandle process) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                while (process.isAlive() && !ProcessIdentity.isZombie(process.pid())) {
                    Thread.sleep(NON_CHILD_POLL.toMillis());
                }
                return process;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted waiting for pid " + process.pid(), e);
            }
        }, WAITERS);
    }
}
