package jcyme.worker;

import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * The acknowledgements of the task channel, coalesced. A delivery tag is marked ready once its
 * task has ended and its outcome is confirmed, or settled once it was rejected or requeued; a
 * flush acks the run of ready and settled tags from the oldest outstanding one with a single
 * {@code basic.ack multiple=true}. A tag still outstanding (running, reserved, held for its ETA,
 * or its outcome unconfirmed) is never covered by it; ready tags past it are acked one by one.
 *
 * <p>Two modes, an explicit state machine:
 * <ul>
 *   <li>{@code NARROW}: every ready tag is flushed at once, as with one ack per task; the prefetch
 *       is Celery's. Once {@code window / 8} tasks end within one {@code interval}, it goes WIDE: at
 *       that pace a finished task waiting for its result's confirm and its ack holds its prefetch
 *       slot about as long as it ran, and Celery's prefetch (sized for acks sent before the task
 *       runs) would leave the pool waiting on the broker.
 *   <li>{@code WIDE}: the prefetch grows by {@code window} (finished tasks waiting for their ack
 *       hold those slots); a flush happens every {@code window / 2} ready tags and on a tick every
 *       {@code interval}. Ten ticks in a row that each saw fewer than {@code window / 8} tasks end go
 *       back to NARROW.
 * </ul>
 * Delivery tags grow by one per delivery on a channel, so a ring of states indexed by tag holds
 * what is outstanding; a new channel (after a reconnect) starts it over. Guarded by {@code lock},
 * the same lock under which rejects and requeues are sent, so a multiple ack never overtakes them.
 */
final class Acks {
    /** Writes one ack on the channel. */
    interface Channel {
        void ack(long tag, boolean multiple) throws IOException;
    }

    private enum Mode { NARROW, WIDE }

    private static final byte OUTSTANDING = 0;
    private static final byte READY = 1;
    private static final byte SETTLED = 2;
    /** Ticks in a row with few tasks ended before WIDE narrows: a stall of the machine is not the end of a burst. */
    private static final int SLOW_TICKS_TO_NARROW = 10;

    private final Object lock;
    private final Channel channel;
    private final int window;
    private final long intervalNanos;
    private final ScheduledExecutorService timer;
    private final Runnable onModeChange;

    /** The channel's generation: tags of an older one are ignored. */
    private long generation;
    private byte[] states = new byte[256];
    /** The oldest tag not yet acked or settled; every tag below it is done. */
    private long head = 1;
    /** The highest tag marked. */
    private long last;
    private int ready;
    private Mode mode = Mode.NARROW;
    private long periodStart = System.nanoTime();
    private int endedInPeriod;
    private ScheduledFuture<?> tick;
    private int slowTicks;

    /**
     * @param window       extra prefetch while WIDE, and twice the count that triggers a flush; 0 never widens
     * @param interval     the tick of WIDE mode, and the period over which NARROW counts ended tasks
     * @param onModeChange told (outside the lock) when the mode changed, so prefetch can follow
     */
    Acks(Object lock, Channel channel, int window, Duration interval, ScheduledExecutorService timer, Runnable onModeChange) {
        this.lock = lock;
        this.channel = channel;
        this.window = window;
        this.intervalNanos = interval.toNanos();
        this.timer = timer;
        this.onModeChange = onModeChange;
    }

    /** The prefetch to add to Celery's now: {@code window} while WIDE. */
    int extraPrefetch() {
        synchronized (lock) {
            return mode == Mode.WIDE ? window : 0;
        }
    }

    /**
     * The task of {@code tag} (delivered on channel generation {@code deliveredIn}) has ended and
     * its outcome is confirmed: acks it, now or with the next flush. False when it is from a
     * channel gone since: the broker redelivers it.
     */
    boolean ready(long tag, long deliveredIn) {
        boolean changed;
        synchronized (lock) {
            if (deliveredIn != generation) {
                return false;
            }
            mark(tag, READY);
            ready++;
            endedInPeriod++;
            if (mode == Mode.NARROW) {
                flush(true);
                changed = maybeWiden();
            } else {
                if (ready >= window / 2) {
                    flush(false);
                }
                if (ready >= window / 2) {
                    flush(true); // the run is blocked by a task still outstanding: ack the others one by one
                }
                changed = false;
            }
        }
        if (changed) {
            onModeChange.run();
        }
        return true;
    }

    /** {@code tag} was rejected or requeued on the channel (under the lock): it needs no ack. */
    void settled(long tag) {
        synchronized (lock) {
            mark(tag, SETTLED);
        }
    }

    /** The channel is gone: its tags mean nothing on the next one, generation {@code next}. */
    void reset(long next) {
        boolean changed;
        synchronized (lock) {
            generation = next;
            states = new byte[256];
            head = 1;
            last = 0;
            ready = 0;
            changed = narrow();
        }
        if (changed) {
            onModeChange.run();
        }
    }

    /** Acks everything ready now (at a warm shutdown, before the channel closes). */
    void flushAll() {
        synchronized (lock) {
            flush(true);
        }
    }

    private void mark(long tag, byte state) {
        if (tag < head) {
            return;
        }
        if (tag - head >= states.length) {
            grow(tag - head + 1);
        }
        states[index(tag)] = state;
        last = Math.max(last, tag);
    }

    private void grow(long needed) {
        int capacity = states.length;
        while (capacity < needed) {
            capacity *= 2;
        }
        byte[] grown = new byte[capacity];
        for (long tag = head; tag <= last; tag++) {
            grown[(int) (tag & (capacity - 1))] = states[index(tag)];
        }
        states = grown;
    }

    private int index(long tag) {
        return (int) (tag & (states.length - 1));
    }

    /** Acks the run from {@code head} with one multiple ack; with {@code singles}, the ready tags past it too. */
    private void flush(boolean singles) {
        long runEnd = 0;
        while (head <= last && states[index(head)] != OUTSTANDING) {
            if (states[index(head)] == READY) {
                runEnd = head;
                ready--;
            }
            states[index(head)] = OUTSTANDING;
            head++;
        }
        try {
            if (runEnd > 0) {
                channel.ack(runEnd, true);
            }
            if (singles && ready > 0) {
                for (long tag = head + 1; tag <= last; tag++) {
                    if (states[index(tag)] == READY) {
                        channel.ack(tag, false);
                        states[index(tag)] = SETTLED;
                        ready--;
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            // the channel is closing: what was not acked is redelivered after the reconnect
            ready = 0;
        }
    }

    private boolean maybeWiden() {
        long now = System.nanoTime();
        if (now - periodStart > intervalNanos) {
            periodStart = now;
            endedInPeriod = 1;
        }
        if (window == 0 || endedInPeriod < busyPeriod()) {
            return false;
        }
        mode = Mode.WIDE;
        endedInPeriod = 0;
        slowTicks = 0;
        try {
            tick = timer.scheduleAtFixedRate(this::tick, intervalNanos, intervalNanos, TimeUnit.NANOSECONDS);
        } catch (RejectedExecutionException stopping) {
            mode = Mode.NARROW;
            return false;
        }
        return true;
    }

    /** Tasks ended within one interval that make it a busy one: WIDE starts at one, and ends after ten quieter ones. */
    private int busyPeriod() {
        return Math.max(2, window / 8);
    }

    private void tick() {
        boolean changed = false;
        synchronized (lock) {
            flush(true);
            slowTicks = endedInPeriod < busyPeriod() ? slowTicks + 1 : 0;
            if (slowTicks >= SLOW_TICKS_TO_NARROW) {
                changed = narrow();
            }
            endedInPeriod = 0;
        }
        if (changed) {
            onModeChange.run();
        }
    }

    private boolean narrow() {
        if (mode == Mode.NARROW) {
            return false;
        }
        mode = Mode.NARROW;
        periodStart = System.nanoTime();
        endedInPeriod = 0;
        if (tick != null) {
            tick.cancel(false);
            tick = null;
        }
        return true;
    }
}
