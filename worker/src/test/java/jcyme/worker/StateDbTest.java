package jcyme.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StateDbTest {

    @Test
    void revokedIdsAndClockSurviveReopening(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("worker.statedb");
        try (StateDb db = StateDb.open(file)) {
            WorkerState state = WorkerState.restore(db);
            state.revoke("a");
            state.revoke("b");
            state.clock().adjust(41);
            state.saveClock();
        }
        try (StateDb db = StateDb.open(file)) {
            WorkerState state = WorkerState.restore(db);
            assertEquals(List.of("a", "b"), state.revokedIds());
            assertTrue(state.isRevoked("a"));
            assertFalse(state.isRevoked("c"));
            assertTrue(state.clock().value() > 42, "clock continues past the saved value");
        }
    }

    @Test
    void revokedSetIsBoundedAndExpires() {
        RevokedSet set = new RevokedSet(3, Duration.ofHours(3));
        Instant t = Instant.parse("2026-01-01T00:00:00Z");
        set.add("1", t);
        set.add("2", t.plusSeconds(1));
        set.add("3", t.plusSeconds(2));
        assertEquals(List.of("1"), set.add("4", t.plusSeconds(3)), "over the cap the oldest goes");
        assertEquals(List.of("2", "3", "4"), set.ids());
        assertEquals(List.of("2", "3", "4"), set.add("5", t.plus(Duration.ofHours(4))), "expired ids go");
        assertEquals(List.of("5"), set.ids());
    }
}
