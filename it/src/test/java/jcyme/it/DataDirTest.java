package jcyme.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.ResourceAccessMode;
import org.junit.jupiter.api.parallel.ResourceLock;

/** A data directory has one branch, and a branch.db it cannot read stops it with one clear line and nothing touched. */
@ResourceLock(value = TestBroker.RABBITMQ, mode = ResourceAccessMode.READ)
class DataDirTest {
    @TempDir
    Path tmp;

    final String app = "dd-" + UUID.randomUUID().toString().substring(0, 8);
    final List<BranchProcess> branches = new ArrayList<>();

    BranchProcess branch(Path dir) throws Exception {
        BranchProcess branch = new BranchProcess(dir, "--broker", TestBroker.rabbitmq().url(), "--no-cluster");
        branches.add(branch);
        return branch;
    }

    @AfterEach
    void cleanUp() throws Exception {
        for (BranchProcess branch : branches) {
            branch.close();
        }
        BranchProcess.killAllWith("-Djcyme.instance=" + app + "/");
    }

    /** The lines the refused branch printed that are its own (not the JVM's). */
    private static List<String> refusal(BranchProcess branch) throws Exception {
        Process process = branch.startExpectingExit();
        assertTrue(process.waitFor(60, TimeUnit.SECONDS), "the branch exits");
        assertEquals(1, process.exitValue(), branch.log());
        return branch.log().lines().filter(l -> !l.isBlank()).toList();
    }

    @Test
    void aSecondBranchOnTheSameDataDirExitsWithOneLineNamingTheFirst() throws Exception {
        Path dir = tmp.resolve("instances");
        BranchProcess first = branch(dir).start();
        List<String> lines = refusal(branch(dir));
        assertEquals(1, lines.size(), "one line: " + lines);
        assertTrue(lines.get(0).contains("in use by another branch (pid " + first.pid() + ")"), lines.get(0));
        assertEquals(200, first.call("GET", "/ping").status(), "the first branch is untouched");
    }

    @Test
    void aCorruptBranchDbExitsWithOneLineAndLeavesInstancesRunning() throws Exception {
        Path dir = tmp.resolve("instances");
        BranchProcess branch = branch(dir).start();
        branch.json("PUT", "/" + app);
        branch.json("POST", "/" + app + "/instances/w1");
        long pid = branch.awaitState(app, "w1", "RUNNING").path("pid").asLong();
        branch.kill9();
        Path db = dir.resolve("branch.db");
        Files.deleteIfExists(dir.resolve("branch.db-wal"));
        Files.deleteIfExists(dir.resolve("branch.db-shm"));
        Files.writeString(db, "this is not a database ".repeat(200));

        List<String> lines = refusal(branch);
        assertEquals(1, lines.size(), "one line: " + lines);
        assertTrue(lines.get(0).contains(db.toString()) && lines.get(0).contains("restore it from a backup"), lines.get(0));
        assertTrue(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "the instance is untouched");
        assertTrue(Files.exists(dir.resolve("w1/worker.pid")));
    }
}
