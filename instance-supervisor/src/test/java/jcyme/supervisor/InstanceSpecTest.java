package jcyme.supervisor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class InstanceSpecTest {

    @Test
    void bothSlotsShareTheInstanceStatedbSoRevokesSurviveARecycle() {
        InstanceSpec slot0 = new InstanceSpec("app", "w1", Path.of("/data/instances/w1"), null, List.of("q"), 1, 1, List.of(),
                List.of(), Map.of(), List.of(), 1, null, 0, null, null);
        InstanceSpec slot1 = slot0.otherSlot();

        assertEquals(Path.of("/data/instances/w1/worker.statedb"), slot0.statedb());
        assertEquals(slot0.statedb(), slot1.statedb());
        assertNotEquals(slot0.socket(), slot1.socket(), "the rest stays per slot");
    }
}
