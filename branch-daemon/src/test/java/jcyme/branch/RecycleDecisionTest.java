package jcyme.branch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jcyme.supervisor.Supervisor;
import org.junit.jupiter.api.Test;

/** When the reconciler recycles a RUNNING worker, and when it records stuck threads. */
class RecycleDecisionTest {
    private static Supervisor.Usage usage(long tasks, long rssKib, int stuck, String requested) {
        return new Supervisor.Usage(42, tasks, rssKib, stuck, requested);
    }

    @Test
    void aWorkersOwnRequestRecyclesItWithItsReasonAsTheCause() {
        assertEquals("3 stuck threads >= 3", Reconciler.recycleCause(usage(0, 0, 3, "3 stuck threads >= 3"), null, null),
                "no thresholds needed");
        assertEquals("pool_restart", Reconciler.recycleCause(usage(100, 500, 0, "pool_restart"), 50L, 100L),
                "the request comes before the thresholds");
    }

    @Test
    void thresholdsRecycleAsBefore() {
        assertEquals("tasks 50 >= 50", Reconciler.recycleCause(usage(50, 0, 0, null), 50L, null));
        assertEquals("rss 300 KiB >= 256 KiB", Reconciler.recycleCause(usage(1, 300, 0, null), 50L, 256L));
        assertNull(Reconciler.recycleCause(usage(49, 255, 2, null), 50L, 256L), "stuck threads alone do not recycle");
        assertNull(Reconciler.recycleCause(usage(1000, 1000, 0, null), null, null));
    }

    @Test
    void aStuckEventIsForARiseOnly() {
        Reconciler.Stuck one = new Reconciler.Stuck(42, 1);
        assertTrue(one.roseSince(null), "the first stuck thread seen");
        assertFalse(one.roseSince(one), "the same count again");
        assertTrue(new Reconciler.Stuck(42, 2).roseSince(one));
        assertFalse(new Reconciler.Stuck(42, 1).roseSince(new Reconciler.Stuck(42, 2)), "a fall");
        assertTrue(new Reconciler.Stuck(43, 1).roseSince(new Reconciler.Stuck(42, 2)), "a new worker's first stuck thread");
        assertFalse(new Reconciler.Stuck(42, 0).roseSince(null));
    }
}
