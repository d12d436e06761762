package jcyme.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import jcyme.supervisor.ClassArchive;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.ResourceLock;

/** The start path: spare workers that instances take over, and the class-data archive workers map. */
@ResourceLock(TestBroker.RABBITMQ)
class SpareWorkerTest {
    @TempDir
    Path tmp;

    final String app = "app-" + UUID.randomUUID().toString().substring(0, 8);
    BranchProcess branch;

    @AfterEach
    void cleanUp() throws Exception {
        if (branch != null) {
            branch.close();
        }
        BranchProcess.killAllWith("-Djcyme.instance=" + app + "/");
    }

    /** The spare workers of the branch: its children that still carry the spare placeholder. */
    private List<Long> spares() {
        long parent = branch.pid();
        return BranchProcess.processesWith("-Djcyme.spare=").stream()
                .filter(pid -> ProcessHandle.of(pid).flatMap(ProcessHandle::parent).map(ProcessHandle::pid).orElse(-1L) == parent)
                .toList();
    }

    private static String cmdline(long pid) throws IOException {
        return Files.readString(Path.of("/proc", Long.toString(pid), "cmdline")).replace('\0', ' ');
    }

    @Test
    void anInstanceBecomesASpareWorkerThatNeverOutlivesItsBranch() throws Exception {
        Path lib = BranchProcess.lib();
        ClassArchive archive = ClassArchive.in(lib.resolveSibling("cds"), lib);
        branch = new BranchProcess(tmp.resolve("instances"), "--broker", TestBroker.rabbitmq().url(), "--no-cluster").start();
        assertEquals(201, branch.call("PUT", "/" + app).status());
        assertEquals(201, branch.call("POST", "/" + app + "/instances/w1?queues=q1").status());
        branch.awaitState(app, "w1", "RUNNING");
        Wait.until(Duration.ofSeconds(90), "the class-data archive", () -> archive.option().isPresent());
        Wait.until(Duration.ofSeconds(30), "a spare worker", () -> spares().size() == 1, branch::log);
        long spare = spares().get(0);

        assertEquals(201, branch.call("POST", "/" + app + "/instances/w2?queues=q2").status());
        JsonNode w2 = branch.awaitState(app, "w2", "RUNNING");
        assertEquals(spare, w2.path("pid").asLong(), "w2 took over the spare");
        String title = cmdline(spare);
        assertTrue(title.contains("-Djcyme.instance=" + app + "/w2 ") && title.contains("-Djcyme.generation=1 "), title);
        assertFalse(title.contains("-Djcyme.spare="), title);
        BranchProcess.Reply sent = branch.call("POST", "/" + app + "/tasks/tasks.add", "{\"args\": [2, 3], \"queue\": \"q2\"}");
        assertEquals(202, sent.status(), sent.text());
        JsonNode result = branch.json("GET", "/" + app + "/query/" + sent.json().path("id").asText() + "/wait?timeout=30");
        assertEquals(5, result.path("result").asInt(), result.toString());
        assertTrue(branch.call("GET", "/" + app + "/instances/w2/log?lines=20").text().contains("ready"), "w2 logs to its own log");

        Wait.until(Duration.ofSeconds(30), "a new spare worker", () -> spares().size() == 1 && spares().get(0) != spare);
        long next = spares().get(0);
        Path mapped = Path.of(archive.option().orElseThrow().substring("-XX:SharedArchiveFile=".length()));
        Wait.until(Duration.ofSeconds(30), "the spare to map the class-data archive",
                () -> read(Path.of("/proc", Long.toString(next), "maps")).contains(mapped.toString()));

        long w1 = branch.json("GET", "/" + app + "/instances/w1").path("pid").asLong();
        branch.kill9();
        Optional<ProcessHandle> orphan = ProcessHandle.of(next);
        assertTrue(orphan.isEmpty() || orphan.get().onExit().get(10, TimeUnit.SECONDS) != null, "the spare dies with its branch");
        assertTrue(ProcessHandle.of(spare).map(ProcessHandle::isAlive).orElse(false), "the instance outlives its branch");

        branch.start();
        assertEquals(spare, branch.awaitState(app, "w2", "RUNNING").path("pid").asLong(), "the restarted branch adopts w2");
        assertEquals(w1, branch.awaitState(app, "w1", "RUNNING").path("pid").asLong());
        assertEquals(200, branch.call("DELETE", "/" + app).status());
        Wait.until(Duration.ofSeconds(30), "no spare for a deleted app", () -> spares().isEmpty(), branch::log);
    }

    /**
     * A claimed spare is what a cold worker would be: it works in the instance's directory (the
     * kernel's view and Java's), and what the JVM itself prints (a {@code kill -3} thread dump, a
     * crash report) lands in the instance's log and directory, not in the spares' log and scratch directory.
     */
    @Test
    void aClaimedSpareWorksAndWritesInItsInstancesDirectory() throws Exception {
        Path data = tmp.resolve("instances");
        branch = new BranchProcess(data, "--broker", TestBroker.rabbitmq().url(), "--no-cluster").start();
        assertEquals(201, branch.call("PUT", "/" + app).status());
        assertEquals(201, branch.call("POST", "/" + app + "/instances/w1?queues=q1").status());
        branch.awaitState(app, "w1", "RUNNING");
        Wait.until(Duration.ofSeconds(30), "a spare worker", () -> spares().size() == 1, branch::log);
        long spare = spares().get(0);
        Path scratch = workingDirectory(spare);
        assertFalse(scratch.equals(data.toRealPath()), "a spare works in a scratch directory, not the data directory");

        assertEquals(201, branch.call("POST", "/" + app + "/instances/w2?queues=q2").status());
        assertEquals(spare, branch.awaitState(app, "w2", "RUNNING").path("pid").asLong(), "w2 took over the spare");
        Path dir = data.resolve("w2").toRealPath();
        assertEquals(dir, workingDirectory(spare));
        Process jcmd = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(),
                Long.toString(spare), "VM.system_properties").redirectErrorStream(true).start();
        String properties = new String(jcmd.getInputStream().readAllBytes());
        assertTrue(jcmd.waitFor(60, TimeUnit.SECONDS));
        assertTrue(properties.contains("user.dir=" + dir + "\n"), properties);

        assertEquals(0, new ProcessBuilder("kill", "-3", Long.toString(spare)).start().waitFor());
        Path log = dir.resolve("worker.log");
        Wait.until(Duration.ofSeconds(30), "a thread dump in w2's worker.log", () -> read(log).contains("Full thread dump"));
        assertFalse(read(data.resolve("spares.log")).contains("Full thread dump"), "nothing of w2's in the spares' log");
    }

    private static Path workingDirectory(long pid) throws IOException {
        return Path.of("/proc", Long.toString(pid), "cwd").toRealPath();
    }

    @Test
    void aBrokenClassArchiveNeverStopsAWorker() throws Exception {
        Path garbage = Files.write(tmp.resolve("broken.jsa"), "not an archive".repeat(100).getBytes());
        String queue = "cds-" + UUID.randomUUID().toString().substring(0, 8);
        ProcessBuilder worker = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:SharedArchiveFile=" + garbage, "-cp", BranchProcess.lib() + "/*", "jcyme.worker.WorkerMain",
                "-b", TestBroker.rabbitmq().url(), "-n", queue, "-Q", queue, "--statedb", tmp.resolve("w.statedb").toString(),
                "--exit-when-ready").redirectErrorStream(true);
        Process process = worker.start();
        String output = new String(process.getInputStream().readAllBytes());
        assertTrue(process.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, process.exitValue(), output);
        assertTrue(output.contains("ready"), output);
    }

    private static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            return "";
        }
    }
}
