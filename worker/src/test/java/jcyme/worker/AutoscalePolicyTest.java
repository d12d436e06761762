package jcyme.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;

class AutoscalePolicyTest {
    private final AutoscalePolicy policy = new AutoscalePolicy(1, 4, Duration.ofSeconds(30));
    private final Instant now = Instant.parse("2026-01-01T00:00:00Z");

    @Test
    void growsAtOnceToDemandCappedAtMax() {
        assertEquals(3, policy.target(3, 1, null, now));
        assertEquals(4, policy.target(50, 1, null, now));
    }

    @Test
    void shrinksOnlyAfterKeepaliveSinceLastScaleUp() {
        assertEquals(4, policy.target(0, 4, now.minusSeconds(10), now), "inside keepalive: keep threads");
        assertEquals(1, policy.target(0, 4, now.minusSeconds(31), now), "after keepalive: down to min");
        assertEquals(2, policy.target(2, 4, now.minusSeconds(31), now), "never below current demand");
        assertEquals(4, policy.target(0, 4, null, now), "never scaled up: never scales down (Celery)");
    }

    @Test
    void boundsMoveThePoolInside() {
        assertEquals(1, policy.target(0, 0, null, now), "below min grows to min");
        assertEquals(4, policy.target(0, 6, null, now), "above max shrinks to max at once");
    }

    @Test
    void rejectsBadBounds() {
        assertThrows(IllegalArgumentException.class, () -> new AutoscalePolicy(5, 4, Duration.ZERO));
        assertThrows(IllegalArgumentException.class, () -> new AutoscalePolicy(-1, 4, Duration.ZERO));
        assertThrows(IllegalArgumentException.class, () -> new AutoscalePolicy(0, 0, Duration.ZERO));
    }
}
