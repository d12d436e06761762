package jcyme.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The coalesced acks, against a channel that records what it is told, as the broker would read it. */
class AcksTest {
    /** What went out: "N+" for a multiple ack up to N, "N" for a single one. */
    private final List<String> sent = new ArrayList<>();
    private final AtomicInteger modeChanges = new AtomicInteger();
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();

    @AfterEach
    void stopTimer() {
        timer.shutdownNow();
    }

    private Acks acks(int window, Duration interval) {
        Object lock = new Object();
        return new Acks(lock, (tag, multiple) -> {
            synchronized (sent) {
                sent.add(tag + (multiple ? "+" : ""));
            }
        }, window, interval, timer, modeChanges::incrementAndGet);
    }

    /** The tags the broker counts as acked after {@code sent}, up to {@code highest}. */
    private List<Long> ackedTags(long highest) {
        List<Long> acked = new ArrayList<>();
        synchronized (sent) {
            for (String each : sent) {
                if (each.endsWith("+")) {
                    long upTo = Long.parseLong(each.substring(0, each.length() - 1));
                    for (long tag = 1; tag <= upTo; tag++) if (!acked.contains(tag)) acked.add(tag);
                } else {
                    acked.add(Long.parseLong(each));
                }
            }
        }
        acked.removeIf(tag -> tag > highest);
        acked.sort(Long::compare);
        return acked;
    }

    @Test
    void narrowAcksEachReadyTagAtOnceAndNeverCoversAnOutstandingOne() {
        Acks acks = acks(0, Duration.ofHours(1));
        acks.ready(2, 0);
        assertEquals(List.of("2"), sent, "tag 1 is outstanding: 2 goes alone");
        acks.ready(3, 0);
        acks.ready(1, 0);
        assertEquals(List.of(1L, 2L, 3L), ackedTags(10));
        assertEquals("1+", sent.get(sent.size() - 1), "tag 1 ends the run 1..3 (2 and 3 were acked already)");
        assertEquals(0, acks.extraPrefetch(), "a window of 0 never widens");
    }

    @Test
    void fastTasksWidenTheWindowAndOneMultipleAckCoversHalfOfIt() {
        Acks acks = acks(16, Duration.ofHours(1));
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
    void aSlowTaskIsNeverAckedWhileTheOnesAfterItAre() {
        Acks acks = acks(16, Duration.ofHours(1));
        for (long tag = 1; tag <= 8; tag++) {
            acks.ready(tag, 0);
        }
        // tag 9 runs long; 10..40 end
        for (long tag = 10; tag <= 40; tag++) {
            acks.ready(tag, 0);
        }
        assertFalse(ackedTags(40).contains(9L), "the running task's tag must stay unacked: " + sent);
        assertTrue(ackedTags(40).size() >= 8, "the others are acked one by one once half the window waits: " + sent);
        acks.flushAll();
        List<Long> expected = new ArrayList<>();
        for (long tag = 1; tag <= 40; tag++) if (tag != 9) expected.add(tag);
        assertEquals(expected, ackedTags(40));
        acks.ready(9, 0);
        acks.flushAll();
        assertEquals(40, ackedTags(40).size());
    }

    @Test
    void settledTagsAreSkippedAndTagsOfAnOldChannelIgnored() {
        Acks acks = acks(0, Duration.ofHours(1));
        acks.settled(1);
        acks.ready(2, 0);
        assertEquals(List.of("2+"), sent, "1 was rejected: the run 1..2 is acked by one multiple ack");
        acks.reset(1);
        assertFalse(acks.ready(3, 0), "a delivery of the channel before the reconnect is not acked");
        assertTrue(acks.ready(1, 1));
        assertEquals(List.of("2+", "1+"), sent);
    }

    @Test
    void theRingGrowsPastItsFirstSize() {
        Acks acks = acks(4096, Duration.ofHours(1));
        for (long tag = 2; tag <= 1000; tag++) {
            acks.ready(tag, 0);
        }
        assertFalse(ackedTags(1000).contains(1L));
        acks.ready(1, 0);
        acks.flushAll();
        assertEquals(1000, ackedTags(1000).size());
    }
}
