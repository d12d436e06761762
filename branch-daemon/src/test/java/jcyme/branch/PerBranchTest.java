package jcyme.branch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A per_branch instance is made only where every control socket it will use has a path short enough. */
class PerBranchTest {
    @TempDir
    Path tmp;

    @Test
    void aNameWhoseRecycleSocketWouldBeTooLongIsRefused() throws Exception {
        String name = PerBranch.name("pb", "local", 1);
        // the data directory where <name>/worker.sock is exactly as long as a socket path may be, and worker-1.sock is not
        String fixed = tmp + "/" + "/data/" + name + "/worker.sock";
        Path dir = Files.createDirectories(tmp.resolve("d".repeat(Instances.MAX_SOCKET_PATH - fixed.length())));
        assertEquals(Instances.MAX_SOCKET_PATH, dir.resolve("data").resolve(name).resolve("worker.sock").toString().length());
        try (Branch branch = LocalBranches.start(dir)) {
            branch.apps().put("pb", Map.of("per_branch", 1));
            assertEquals(List.of(), branch.instances().names("pb"), "an instance a recycle could not run");
            assertTrue(branch.events().since(0, 100).stream().anyMatch(e -> e.kind().equals("instance.refused")
                    && e.fields().get("error").toString().contains("control socket")), "the refusal is told");
        }
    }
}
