package jcyme.worker;

import java.io.IOException;
import java.time.Duration;
import java.util.NavigableSet;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentSkipListSet;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * The acknowledgements of the task channel, coalesced. Every delivery is registered as
 * outstanding; once its task has ended and its outcome is confirmed it is ready, and a flush acks
 * the ready tags below the oldest outstanding one with a single {@code basic.ack multiple=true}.
 * A tag still outstanding (running, reserved, held for its ETA, or its outcome unconfirmed) is
 * never covered by it: ready tags above it are acked one by one, so one task held for a day does
 * not hold back the acks of the others. A rejected or requeued tag leaves the outstanding ones
 * once its reject or requeue is sent.
 *
 * <p>Only the tags in flight are kept (outstanding, and ready until their flush), and a flush
 * touches only the tags it acks, wherever tags start: amqp-client's automatic recovery goes on
 * counting them on a recovered channel instead of restarting at 1.
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
 * A new channel (after a reconnect) starts over with a new generation: tags of an older one are
 * not acked (the broker redelivers them). Guarded by {@code lock} (but for registering a
 * delivery), under which rejects and requeues are sent too, so a multiple ack never overtakes them.
 *
 * <p>While WIDE, once {@code singlesBeforeBlocked} ready tags in a row have gone one by one past
 * the same outstanding tag, the tracker tells {@code onBlocked} (once per such tag): a channel
 * that consumes from then on coalesces again, and this one only finishes what it was given. A
 * {@linkplain #retire() retired} tracker acks each ready tag at once, until it is {@linkplain #idle() idle}.
 */
final class Acks {
    /** Writes one ack on the channel. */
    interface Channel {
        void ack(long tag, boolean multiple) throws IOException;
    }

    /** A reject or a requeue of one delivery, written on the channel. */
    interface Settlement {
        void send() throws IOException;
    }

    private enum Mode { NARROW, WIDE }

    /** Ready tags acked one by one past the same outstanding tag, while WIDE, before {@code onBlocked} is told. */
    static final int SINGLES_BEFORE_BLOCKED = 1024;

    /** Ticks in a row with few tasks ended before WIDE narrows: a stall of the machine is not the end of a burst. */
    private static final int SLOW_TICKS_TO_NARROW = 10;

    private final Object lock;
    private final Channel channel;
    private final int window;
    private final long intervalNanos;
    private final ScheduledExecutorService timer;
    private final Runnable onModeChange;
    private final int singlesBeforeBlocked;
    private final Runnable onBlocked;

    /** The channel's generation: tags of an older one are ignored. */
    private volatile long generation;
    /**
     * Delivered, and neither ready nor settled. Deliveries are added without the lock, so that the
     * consumer never waits behind a flush; removed under it.
     */
    private final NavigableSet<Long> outstanding = new ConcurrentSkipListSet<>();
    /** Ready, and not acked yet. */
    private final NavigableSet<Long> ready = new TreeSet<>();
    private Mode mode = Mode.NARROW;
    private long periodStart = System.nanoTime();
    private int endedInPeriod;
    private ScheduledFuture<?> tick;
    private int slowTicks;
    /** The outstanding tag that the last ready tags were acked one by one past, and how many went so. */
    private long blocker = -1;
    private int singlesPastBlocker;
    private boolean retired;

    /**
     * @param window       extra prefetch while WIDE, and twice the count that triggers a flush; 0 never widens
     * @param interval     the tick of WIDE mode, and the period over which NARROW counts ended tasks
     * @param onModeChange told (outside the lock) when the mode changed, so prefetch can follow
     * @param singlesBeforeBlocked ready tags acked one by one past one outstanding tag, while WIDE, before it is blocked
     * @param onBlocked    told (under the lock: it must not block) once per outstanding tag that blocks coalescing
     */
    Acks(Object lock, Channel channel, int window, Duration interval, ScheduledExecutorService timer, Runnable onModeChange,
         int singlesBeforeBlocked, Runnable onBlocked) {
        this.lock = lock;
        this.channel = channel;
        this.window = window;
        this.intervalNanos = interval.toNanos();
        this.timer = timer;
        this.onModeChange = onModeChange;
        this.singlesBeforeBlocked = singlesBeforeBlocked;
        this.onBlocked = onBlocked;
    }

    /** The prefetch to add to Celery's now: {@code window} while WIDE. */
    int extraPrefetch() {
        synchronized (lock) {
            return mode == Mode.WIDE ? window : 0;
        }
    }

    /** {@code tag} was delivered: outstanding until it is ready or settled. Returns the generation it belongs to. */
    long delivered(long tag) {
        long current = generation;
        outstanding.add(tag);
        if (generation != current) {
            outstanding.remove(tag); // a reconnect began meanwhile: the tag is of the channel gone, and must not block the next
        }
        return current;
    }

    /**
     * The task of {@code tag} (delivered on channel generation {@code deliveredIn}) has ended and
     * its outcome is confirmed: acks it, now or with the next flush. False when it is from a
     * channel gone since (the broker redelivers it) or not outstanding.
     */
    boolean ready(long tag, long deliveredIn) {
        boolean changed;
        synchronized (lock) {
            if (deliveredIn != generation || !outstanding.remove(tag)) {
                return false;
            }
            ready.add(tag);
            endedInPeriod++;
            if (mode == Mode.NARROW || retired) {
                flush(true);
                changed = !retired && maybeWiden();
            } else {
                if (ready.size() >= window / 2) {
                    flush(false);
                }
                if (ready.size() >= window / 2) {
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

    /**
     * Sends the reject or requeue of {@code tag} (delivered on generation {@code deliveredIn})
     * under the lock, so no multiple ack covers the tag before it; the tag then needs no ack.
     * False when it is from a channel gone since: nothing is sent.
     */
    boolean settle(long tag, long deliveredIn, Settlement settlement) throws IOException {
        synchronized (lock) {
            if (deliveredIn != generation) {
                return false;
            }
            settlement.send();
            outstanding.remove(tag);
            return true;
        }
    }

    /** The channel is gone: its tags mean nothing on the next one, generation {@code next}. */
    void reset(long next) {
        boolean changed;
        synchronized (lock) {
            generation = next;
            outstanding.clear();
            ready.clear();
            blocker = -1;
            singlesPastBlocker = 0;
            changed = narrow();
        }
        if (changed) {
            onModeChange.run();
        }
    }

    /**
     * No more deliveries come on the channel (its consumers are cancelled): from now on each ready
     * tag is acked at once, so that the tracker ends {@linkplain #idle() idle} with its last task.
     */
    void retire() {
        synchronized (lock) {
            retired = true;
            flush(true);
            narrow(); // no one reads a retired channel's mode
        }
    }

    /** The oldest outstanding tag has blocked coalescing: {@code onBlocked} was told of it, and it is still outstanding. */
    boolean blocked() {
        synchronized (lock) {
            return !retired && !outstanding.isEmpty() && outstanding.first() == blocker && singlesPastBlocker >= singlesBeforeBlocked;
        }
    }

    /** Nothing is outstanding or waiting for its ack. */
    boolean idle() {
        synchronized (lock) {
            return outstanding.isEmpty() && ready.isEmpty();
        }
    }

    /** Acks everything ready now (at a warm shutdown, before the channel closes). */
    void flushAll() {
        synchronized (lock) {
            flush(true);
        }
    }

    /** How many tags are kept: those in flight. */
    int trackedTags() {
        synchronized (lock) {
            return outstanding.size() + ready.size();
        }
    }

    /** Acks the ready tags below the oldest outstanding one with one multiple ack; with {@code singles}, those above it one by one. */
    private void flush(boolean singles) {
        NavigableSet<Long> run = outstanding.isEmpty() ? ready : ready.headSet(outstanding.first(), false);
        try {
            if (!run.isEmpty()) {
                channel.ack(run.last(), true);
                run.clear();
            }
            if (singles && !ready.isEmpty()) {
                countSinglesPast(outstanding.first(), ready.size());
                while (!ready.isEmpty()) {
                    channel.ack(ready.first(), false);
                    ready.pollFirst();
                }
            }
        } catch (IOException | RuntimeException e) {
            // the channel is closing: what was not acked is redelivered after the reconnect
            ready.clear();
        }
    }

    /** {@code count} ready tags go one by one past the outstanding {@code tag}: tells {@code onBlocked} once enough went so while WIDE. */
    private void countSinglesPast(long tag, int count) {
        if (tag != blocker) {
            blocker = tag;
            singlesPastBlocker = 0;
        }
        if (mode != Mode.WIDE || retired || singlesPastBlocker >= singlesBeforeBlocked) {
            return;
        }
        singlesPastBlocker += count;
        if (singlesPastBlocker >= singlesBeforeBlocked) {
            onBlocked.run();
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
