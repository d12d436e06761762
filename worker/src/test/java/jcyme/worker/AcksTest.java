package jcyme.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The coalesced acks, against a channel that records what it is told, as the broker would read it. */
class AcksTest {
    /** What went out: "N+" for a multiple ack up to N, "N" for a single one, "nack N" for a requeue. */
    private final List<String> sent = new ArrayList<>();
    private final AtomicInteger modeChanges = new AtomicInteger();
    /** How many times the tracker said a held tag blocks its coalescing. */
    private final AtomicInteger blocked = new AtomicInteger();
    /** Ready tags past one held tag, while WIDE, before it is blocked: small here. */
    private static final int SINGLES_BEFORE_BLOCKED = 32;
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();

    @AfterEach
    void stopTimer() {
        timer.shutdownNow();
    }

    private Acks acks(int window, Duration interval) {
        return new Acks(sent, (tag, multiple) -> sent.add(tag + (multiple ? "+" : "")), window, interval, timer,
                modeChanges::incrementAndGet, SINGLES_BEFORE_BLOCKED, blocked::incrementAndGet);
    }

    /** Registers the deliveries {@code from..to} (generation 0), in tag order as a channel delivers them. */
    private static void deliver(Acks acks, long from, long to) {
        for (long tag = from; tag <= to; tag++) {
            acks.delivered(tag);
        }
    }

    /** The tags the broker counts as acked after {@code sent}, among {@code from..to}. */
    private List<Long> ackedTags(long from, long to) {
        List<Long> acked = new ArrayList<>();
        for (long tag = from; tag <= to; tag++) {
            for (String each : sent) {
                boolean multiple = each.endsWith("+");
                if (each.startsWith("nack")) {
                    continue;
                }
                long upTo = Long.parseLong(multiple ? each.substring(0, each.length() - 1) : each);
                if (upTo == tag || multiple && upTo > tag) {
                    acked.add(tag);
                    break;
                }
            }
        }
        return acked;
    }

    /** Ends WIDE-mode warm-up: two tasks ended within the interval widen a window of 16. */
    private void widen(Acks acks, long first) {
        deliver(acks, first, first + 1);
        acks.ready(first, 0);
        acks.ready(first + 1, 0);
        assertEquals(16, acks.extraPrefetch(), "window / 8 = 2 tasks ended within the interval: wide");
        sent.clear();
    }

    @Test
    void narrowAcksEachReadyTagAtOnceAndNeverCoversAnOutstandingOne() {
        Acks acks = acks(0, Duration.ofHours(1));
        deliver(acks, 1, 3);
        acks.ready(2, 0);
        assertEquals(List.of("2"), sent, "tag 1 is outstanding: 2 goes alone");
        acks.ready(3, 0);
        acks.ready(1, 0);
        assertEquals(List.of(1L, 2L, 3L), ackedTags(1, 10));
        assertEquals("1+", sent.get(sent.size() - 1), "tag 1 ends the run (2 and 3 were acked already)");
        assertEquals(0, acks.extraPrefetch(), "a window of 0 never widens");
    }

    @Test
    void fastTasksWidenTheWindowAndOneMultipleAckCoversHalfOfIt() {
        Acks acks = acks(16, Duration.ofHours(1));
        deliver(acks, 1, 10);
        acks.ready(1, 0);
        assertEquals(0, acks.extraPrefetch(), "one task ended: still narrow");
        acks.ready(2, 0);
        assertEquals(16, acks.extraPrefetch(), "window / 8 = 2 tasks ended within the interval: wide");
        assertEquals(1, modeChanges.get());
        sent.clear();
        for (long tag = 3; tag <= 10; tag++) {
            acks.ready(tag, 0);
        }
        assertEquals(List.of("10+"), sent, "one multiple ack for the 8 (window / 2) ready tags");
    }

    @Test
    void tagsThatStartAnywhereCoalesce() {
        Acks acks = acks(16, Duration.ofHours(1));
        widen(acks, 20_001);
        deliver(acks, 20_003, 20_010);
        for (long tag = 20_003; tag <= 20_010; tag++) {
            acks.ready(tag, 0);
        }
        assertEquals(List.of("20010+"), sent, "tags of a recovered channel go on from the last one: still one multiple ack");
        assertEquals(0, acks.trackedTags(), "nothing in flight, nothing kept");
    }

    @Test
    void aHeldTagIsNeverCoveredAndTheOthersAreStillAcked() {
        Acks acks = acks(16, Duration.ofHours(1));
        widen(acks, 1);
        deliver(acks, 3, 40); // tag 9 is held (an ETA a day away): never ready
        for (long tag = 3; tag <= 40; tag++) {
            if (tag != 9) {
                acks.ready(tag, 0);
            }
        }
        assertFalse(ackedTags(1, 40).contains(9L), "the held task's tag must stay unacked: " + sent);
        assertEquals("8+", sent.get(0), "the run below the held tag goes as one multiple ack: " + sent);
        acks.flushAll();
        List<Long> expected = new ArrayList<>();
        for (long tag = 3; tag <= 40; tag++) if (tag != 9) expected.add(tag);
        assertEquals(expected, ackedTags(3, 40));
        assertEquals(1, acks.trackedTags(), "only the held tag is kept");
        sent.clear();
        deliver(acks, 41, 47);
        acks.ready(9, 0);
        for (long tag = 41; tag <= 47; tag++) {
            acks.ready(tag, 0);
        }
        assertEquals(List.of("47+"), sent, "once the held tag is ready, the run past it is one multiple ack again");
    }

    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void aMillionDeliveriesPastOneHeldTagKeepOnlyWhatIsInFlight() {
        long held = 1;
        AtomicInteger covering = new AtomicInteger();
        AtomicInteger acked = new AtomicInteger();
        Acks acks = new Acks(new Object(), (tag, multiple) -> {
            acked.incrementAndGet();
            if (multiple && tag >= held) covering.incrementAndGet();
        }, 128, Duration.ofHours(1), timer, () -> { }, Integer.MAX_VALUE, () -> { });
        acks.delivered(held);
        int maxTracked = 0;
        int inFlight = 144; // Celery's prefetch at -c 4 plus the window
        for (long tag = 2; tag <= 1_000_001; tag++) {
            acks.delivered(tag);
            if (tag - inFlight >= 2) {
                acks.ready(tag - inFlight, 0);
            }
            maxTracked = Math.max(maxTracked, acks.trackedTags());
        }
        assertEquals(0, covering.get(), "no multiple ack covered the held tag");
        assertTrue(acked.get() >= 1_000_000 - inFlight - 64, "the others were acked: " + acked.get());
        assertTrue(maxTracked <= inFlight + 1 + 64, "kept at most what is in flight, and a half window ready: " + maxTracked);
    }

    @Test
    void aReconnectStartsOverAndTheRecoveredChannelCoalesces() {
        Acks acks = acks(16, Duration.ofHours(1));
        widen(acks, 1);
        deliver(acks, 3, 10);
        acks.ready(3, 0);
        acks.reset(1);
        assertEquals(0, acks.trackedTags(), "the old channel's tags are dropped");
        assertEquals(0, acks.extraPrefetch(), "a new channel starts narrow");
        assertFalse(acks.ready(4, 0), "a delivery of the channel before the reconnect is not acked");
        sent.clear();
        // the recovered channel's tags go on after the old channel's highest
        long first = 11;
        for (long tag = first; tag <= first + 9; tag++) {
            assertEquals(1, acks.delivered(tag));
        }
        assertTrue(acks.ready(first, 1));
        assertTrue(acks.ready(first + 1, 1));
        assertEquals(16, acks.extraPrefetch(), "wide again");
        sent.clear();
        for (long tag = first + 2; tag <= first + 9; tag++) {
            acks.ready(tag, 1);
        }
        assertEquals(List.of((first + 9) + "+"), sent, "one multiple ack on the recovered channel");
    }

    @Test
    void aRequeueIsNeverOvertakenByAMultipleAck() throws Exception {
        Acks acks = acks(16, Duration.ofHours(1));
        widen(acks, 1);
        deliver(acks, 3, 20);
        // tag 5's result could not be published: it will be requeued a little later
        for (long tag = 3; tag <= 20; tag++) {
            if (tag != 5) acks.ready(tag, 0);
        }
        acks.flushAll();
        assertFalse(ackedTags(1, 20).contains(5L), "not acked before its requeue: " + sent);
        assertTrue(acks.settle(5, 0, () -> sent.add("nack 5")));
        deliver(acks, 21, 28);
        for (long tag = 21; tag <= 28; tag++) {
            acks.ready(tag, 0);
        }
        int nack = sent.indexOf("nack 5");
        assertEquals(List.of("nack 5", "28+"), sent.subList(nack, sent.size()),
                "the requeued tag no longer blocks the run, and the multiple ack comes after its nack");
        assertFalse(acks.settle(6, 7, () -> sent.add("nack 6")), "a delivery of another channel is not settled");
        assertEquals(0, acks.trackedTags());
    }

    @Test
    void rejectedTagsAreSkippedAndTagsOfAnOldChannelIgnored() throws Exception {
        Acks acks = acks(0, Duration.ofHours(1));
        deliver(acks, 1, 2);
        acks.settle(1, 0, () -> sent.add("reject 1"));
        acks.ready(2, 0);
        assertEquals(List.of("reject 1", "2+"), sent, "1 was rejected: 2 is acked by a multiple ack");
        acks.reset(1);
        assertFalse(acks.ready(3, 0), "a delivery of the channel before the reconnect is not acked");
        assertEquals(1, acks.delivered(3));
        assertTrue(acks.ready(3, 1));
        assertEquals(List.of("reject 1", "2+", "3+"), sent);
    }

    @Test
    void aHeldTagThatKeepsBlockingWideAcksIsToldOnce() {
        Acks acks = acks(16, Duration.ofHours(1));
        widen(acks, 1);
        deliver(acks, 3, 200); // tag 3 is held
        for (long tag = 4; tag <= 3 + SINGLES_BEFORE_BLOCKED - 8; tag++) {
            acks.ready(tag, 0);
        }
        assertEquals(0, blocked.get(), "fewer singles than the setting past the held tag: not blocked yet");
        for (long tag = 4 + SINGLES_BEFORE_BLOCKED - 8; tag <= 200; tag++) {
            acks.ready(tag, 0);
        }
        assertEquals(1, blocked.get(), "told once for the held tag, however many singles follow");
        assertFalse(ackedTags(1, 200).contains(3L));
        deliver(acks, 201, 400);
        acks.ready(201, 0); // tag 3 is still the oldest outstanding: the same blocker
        for (long tag = 202; tag <= 400; tag++) {
            acks.ready(tag, 0);
        }
        assertEquals(1, blocked.get(), "the same held tag is not told twice");
    }

    @Test
    void narrowAcksAreNeverBlocked() {
        Acks acks = acks(0, Duration.ofHours(1));
        deliver(acks, 1, 500); // tag 1 is held
        for (long tag = 2; tag <= 500; tag++) {
            acks.ready(tag, 0);
        }
        assertEquals(0, blocked.get(), "one ack per task either way: a fresh channel would save nothing");
        assertEquals(1, acks.trackedTags(), "only the held tag is kept");
    }

    @Test
    void aRetiredTrackerAcksEachReadyTagAtOnceAndEndsIdle() throws Exception {
        Acks acks = acks(16, Duration.ofHours(1));
        widen(acks, 1);
        deliver(acks, 3, 10);
        acks.ready(3, 0);
        acks.ready(4, 0);
        assertEquals(List.of(), sent, "wide: waits for half a window");
        acks.retire();
        assertEquals(List.of("4+"), sent, "retiring flushes what is ready");
        assertEquals(0, acks.extraPrefetch(), "a retired channel does not raise prefetch");
        acks.ready(6, 0);
        assertEquals(List.of("4+", "6"), sent, "tag 5 is outstanding: 6 goes alone, at once");
        acks.ready(5, 0);
        assertTrue(acks.settle(7, 0, () -> sent.add("nack 7")));
        for (long tag = 8; tag <= 9; tag++) {
            acks.ready(tag, 0);
        }
        assertFalse(acks.idle(), "tag 10 is outstanding");
        acks.ready(10, 0);
        assertTrue(acks.idle());
        assertEquals(List.of("4+", "6", "5+", "nack 7", "8+", "9+", "10+"), sent, "each at once, and none before the nack it covers");
        assertEquals(0, blocked.get(), "a retired tracker is never blocked");
    }
}
