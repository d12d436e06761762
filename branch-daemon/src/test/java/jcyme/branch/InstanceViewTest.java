package jcyme.branch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import jcyme.api.Instance;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** An instance as the API shows it: every field the real value or absent. */
class InstanceViewTest {
    @TempDir
    Path tmp;

    @Test
    void noPoolIsMadeUp() throws Exception {
        try (Branch branch = LocalBranches.start(tmp)) {
            branch.apps().put("pycon", Map.of());
            Instance created = branch.instances().create("pycon", "w1", new InstanceRequest(List.of("celery"), 1, 2, null, null, Map.of()));
            assertNull(created.pool(), "the branch does not know the worker's pool: " + created);
            assertNull(branch.instances().get("pycon", "w1").pool());
            assertEquals(List.of("celery"), created.queues());
        }
    }
}
