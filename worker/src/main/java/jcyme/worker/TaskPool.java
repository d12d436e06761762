package jcyme.worker;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.Predicate;

/**
 * The threads that run tasks: a pool whose size changes at runtime. Requests wait in order in its
 * queue (they are "reserved") until a thread is free. Shrinking never interrupts a running task:
 * surplus threads leave once they are idle.
 */
final class TaskPool {
    private final LinkedBlockingQueue<Runnable> waiting = new LinkedBlockingQueue<>();
    private final ThreadPoolExecutor executor;
    private final Consumer<Request> runner;

    TaskPool(int size, Consumer<Request> runner) {
        this.runner = runner;
        this.executor = new ThreadPoolExecutor(size, Math.max(size, 1), 1, TimeUnit.SECONDS, waiting, threads());
        executor.prestartAllCoreThreads();
    }

    private static ThreadFactory threads() {
        AtomicInteger count = new AtomicInteger();
        return task -> {
            Thread thread = new Thread(task, "pool-" + count.incrementAndGet());
            thread.setDaemon(true);
            return thread;
        };
    }

    /** Queues a request; false once the pool is shut down (the request stays unacked). */
    boolean submit(Request request) {
        try {
            executor.execute(new Job(request));
            return true;
        } catch (RejectedExecutionException shutDown) {
            return false;
        }
    }

    /** The number of threads the pool runs tasks on (its target size). */
    synchronized int size() {
        return executor.getCorePoolSize();
    }

    synchronized void resize(int size) {
        if (size == executor.getCorePoolSize()) {
            return;
        }
        if (size > executor.getMaximumPoolSize()) {
            executor.setMaximumPoolSize(size);
            executor.setCorePoolSize(size);
        } else {
            executor.setCorePoolSize(size);
            executor.setMaximumPoolSize(Math.max(size, 1));
        }
        executor.prestartAllCoreThreads();
    }

    /** Requests waiting for a thread, in order. */
    List<Request> waiting() {
        List<Request> list = new ArrayList<>();
        for (Runnable job : waiting) {
            list.add(((Job) job).request);
        }
        return list;
    }

    int waitingCount() {
        return waiting.size();
    }

    /** Removes waiting requests that match; returns them. */
    List<Request> removeWaiting(Predicate<Request> which) {
        List<Request> removed = new ArrayList<>();
        for (Runnable job : waiting) {
            Request request = ((Job) job).request;
            if (which.test(request) && waiting.remove(job)) {
                removed.add(request);
            }
        }
        return removed;
    }

    /** Thread names of the pool, as the {@code processes} of Celery's pool stats. */
    int liveThreads() {
        return executor.getPoolSize();
    }

    void shutdown() {
        executor.shutdown();
    }

    boolean awaitTermination(long millis) throws InterruptedException {
        return executor.awaitTermination(millis, TimeUnit.MILLISECONDS);
    }

    private final class Job implements Runnable {
        final Request request;

        Job(Request request) {
            this.request = request;
        }

        @Override
        public void run() {
            runner.accept(request);
        }
    }
}
