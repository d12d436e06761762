package jcyme.branch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/** One lane per name: passes never overlap on a name, run in parallel across names, coalesce, survive failures, and close waits. */
class LanesTest {
    private static final Duration WAIT = Duration.ofSeconds(10);

    /** Counts passes per name and the most that ever ran at once on one name. */
    private static final class Counting implements Consumer<String> {
        final Map<String, AtomicInteger> running = new ConcurrentHashMap<>();
        final Map<String, AtomicInteger> passes = new ConcurrentHashMap<>();
        final AtomicInteger mostAtOnce = new AtomicInteger();

        @Override
        public void accept(String name) {
            int now = running.computeIfAbsent(name, n -> new AtomicInteger()).incrementAndGet();
            mostAtOnce.accumulateAndGet(now, Math::max);
            passes.computeIfAbsent(name, n -> new AtomicInteger()).incrementAndGet();
            Thread.onSpinWait();
            running.get(name).decrementAndGet();
        }
    }

    /** What a pass does to wait for the test: at most the test's wait. */
    private static void awaitInPass(CountDownLatch latch) {
        try {
            latch.await(WAIT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void await(List<CompletableFuture<Void>> wakes) throws Exception {
        CompletableFuture.allOf(wakes.toArray(CompletableFuture[]::new)).get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
    }

    @Test
    void passesOverOneNameNeverOverlapAndEveryWakeIsServed() throws Exception {
        Counting pass = new Counting();
        try (Lanes lanes = new Lanes("test", pass, WAIT)) {
            List<CompletableFuture<Void>> wakes = java.util.Collections.synchronizedList(new ArrayList<>());
            List<Thread> wakers = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                Thread waker = new Thread(() -> {
                    for (int i = 0; i < 500; i++) {
                        wakes.add(lanes.wake("w" + (i % 3)));
                    }
                });
                waker.start();
                wakers.add(waker);
            }
            for (Thread waker : wakers) {
                waker.join();
            }
            await(wakes);
            assertEquals(1, pass.mostAtOnce.get(), "two passes over one name ran at once");
            assertEquals(3, pass.passes.size(), "every name had a pass");
        }
    }

    @Test
    void passesOverDifferentNamesRunInParallel() throws Exception {
        CountDownLatch bothIn = new CountDownLatch(2);
        try (Lanes lanes = new Lanes("test", name -> {
            bothIn.countDown();
            awaitInPass(bothIn);
        }, WAIT)) {
            await(List.of(lanes.wake("a"), lanes.wake("b")));
            assertEquals(0, bothIn.getCount(), "the pass over a waited for the pass over b");
        }
    }

    @Test
    void wakesDuringAPassCoalesceIntoOneMorePass() throws Exception {
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger passes = new AtomicInteger();
        try (Lanes lanes = new Lanes("test", name -> {
            passes.incrementAndGet();
            entered.countDown();
            awaitInPass(release);
        }, WAIT)) {
            CompletableFuture<Void> first = lanes.wake("w1");
            assertTrue(entered.await(WAIT.toMillis(), TimeUnit.MILLISECONDS));
            List<CompletableFuture<Void>> during = new ArrayList<>();
            for (int i = 0; i < 50; i++) {
                during.add(lanes.wake("w1"));
            }
            assertFalse(during.get(0).isDone(), "a wake during a pass waits for a pass that begins after it");
            release.countDown();
            first.get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
            await(during);
            assertEquals(2, passes.get(), "50 wakes during a pass make one more pass");
        }
    }

    @Test
    void aFailingPassDoesNotKillItsLane() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        try (Lanes lanes = new Lanes("test", name -> {
            switch (calls.incrementAndGet()) {
                case 1 -> throw new IllegalStateException("broken store");
                case 2 -> throw new AssertionError("a bug");
                default -> { }
            }
        }, WAIT)) {
            for (int i = 1; i <= 3; i++) {
                lanes.wake("w1").get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
                assertEquals(i, calls.get(), "pass " + i + " ran");
            }
        }
    }

    @Test
    void closeWaitsForThePassesUnderWayAtMostItsWaitAndThenStartsNone() throws Exception {
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger passes = new AtomicInteger();
        Lanes lanes = new Lanes("test", name -> {
            passes.incrementAndGet();
            entered.countDown();
            awaitInPass(release);
        }, Duration.ofMillis(300));
        lanes.wake("stuck");
        assertTrue(entered.await(WAIT.toMillis(), TimeUnit.MILLISECONDS));
        long start = System.nanoTime();
        lanes.close();
        assertTrue(System.nanoTime() - start >= Duration.ofMillis(300).toNanos(), "close did not wait for the pass under way");
        assertTrue(lanes.wake("w1").isDone(), "a wake after close is done at once");
        release.countDown();
        assertEquals(1, passes.get(), "no pass after close");
    }
}
