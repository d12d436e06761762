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
 * surplus threads leave once they are idle. A thread given up on (its task past its hard limit or
 * terminated, but not returning) is {@linkplain #abandon() abandoned}: the pool gets a thread more
 * for as long as it stays away, so the pool's size in running tasks stays what was asked for.
 */
final class TaskPool {
    private final LinkedBlockingQueue<Runnable> waiting = new LinkedBlockingQueue<>();
    private final ThreadPoolExecutor executor;
    private final Consumer<Request> runner;
    /** The size asked for (autoscaler, pool_grow/shrink); the executor has {@link #abandoned} more. */
    private int size;
    private int abandoned;
    /** Jobs on a thread now, abandoned ones included. */
    private int running;

    TaskPool(int size, Consumer<Request> runner) {
        this.runner = runner;
        this.size = size;
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
        return size;
    }

    synchronized void resize(int size) {
        this.size = size;
        applySize();
    }

    /** A thread is running a task the worker gave up on: a fresh one takes its place now. */
    synchronized void abandon() {
        abandoned++;
        applySize();
        notifyAll();
    }

    /** An abandoned thread came back: the extra thread goes once it is idle. */
    synchronized void reclaim() {
        abandoned--;
        applySize();
    }

    /** Takes no more requests. */
    void shutdown() {
        executor.shutdown();
    }

    /**
     * Takes no more requests and waits up to {@code millis} until every task the pool still runs
     * has ended, abandoned threads aside (they may never return); false if some still run.
     */
    synchronized boolean drain(long millis) throws InterruptedException {
        executor.shutdown();
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        while (running - abandoned > 0 || !waiting.isEmpty()) {
            long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
            if (left <= 0) {
                return false;
            }
            wait(left);
        }
        return true;
    }

    private void applySize() {
        int threads = size + abandoned;
        if (threads == executor.getCorePoolSize()) {
            return;
        }
        if (threads > executor.getMaximumPoolSize()) {
            executor.setMaximumPoolSize(threads);
            executor.setCorePoolSize(threads);
        } else {
            executor.setCorePoolSize(threads);
            executor.setMaximumPoolSize(Math.max(threads, 1));
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

    /** Threads alive in the pool, abandoned ones included (Celery's {@code threads} of its thread pool's stats). */
    int liveThreads() {
        return executor.getPoolSize();
    }

    private final class Job implements Runnable {
        final Request request;

        Job(Request request) {
            this.request = request;
        }

        @Override
        public void run() {
            synchronized (TaskPool.this) {
                running++;
            }
            try {
                runner.accept(request);
            } finally {
                synchronized (TaskPool.this) {
                    running--;
                    TaskPool.this.notifyAll();
                }
            }
        }
    }
}
