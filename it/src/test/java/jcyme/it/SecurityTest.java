package jcyme.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentSkipListSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import jcyme.tasks.Json;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.ResourceLock;

/**
 * Safe by default: nobody but the branch's own OS user can join its cluster, a replicated app
 * passes the checks of a request, the broker password shows nowhere, and the control socket is
 * private from the first moment.
 */
@ResourceLock(TestBroker.RABBITMQ)
class SecurityTest {
    static final String OTHER_USER = "jcyme-other";

    @TempDir
    Path tmp;

    final String cluster = "it-" + UUID.randomUUID().toString().substring(0, 8);
    final String app = "app-" + UUID.randomUUID().toString().substring(0, 8);
    final List<BranchProcess> branches = new ArrayList<>();
    final List<Path> scratch = new ArrayList<>();

    @AfterEach
    void cleanUp() throws Exception {
        for (BranchProcess branch : branches) {
            branch.close();
            BranchProcess.killAllWith(branch.dataDir.toString());
        }
        BranchProcess.killAllWith("-Djcyme.instance=" + app);
        for (Path dir : scratch) {
            run("rm", "-rf", dir.toString());
        }
    }

    /**
     * A branch of this user with no secret given (its secret file is under {@code tmp/config}),
     * given the test RabbitMQ in JCYME_BROKER_URL rather than on its command line.
     */
    BranchProcess mine(String id, String... options) throws IOException {
        List<String> all = new ArrayList<>(List.of("--id", id, "--cluster", cluster));
        all.addAll(List.of(options));
        BranchProcess branch = new BranchProcess(tmp.resolve(id), all.toArray(String[]::new))
                .env("XDG_CONFIG_HOME", tmp.resolve("config").toString())
                .env("JCYME_CLUSTER_SECRET", null)
                .env("JCYME_BROKER_URL", TestBroker.rabbitmq().url());
        branches.add(branch);
        return branch;
    }

    @Test
    void aBranchOfAnotherUserWithNoSecretStaysAloneWhileTheSameUsersBranchesCluster() throws Exception {
        Assumptions.assumeTrue(run("id", "-u").equals("0") && Files.isExecutable(Path.of("/usr/sbin/runuser")),
                "NOT RUN: needs root and runuser to start a branch as another user (running as " + System.getProperty("user.name") + ")");
        if (!run("id", OTHER_USER).contains("uid=")) {
            run("useradd", "-m", OTHER_USER);
        }
        Assumptions.assumeTrue(run("id", OTHER_USER).contains("uid="), "NOT RUN: could not create user " + OTHER_USER);
        String home = run("sh", "-c", "getent passwd " + OTHER_USER + " | cut -d: -f6");
        // what the other user runs: a copy of lib/ it can read, a data directory of its own
        Path base = Files.createTempDirectory(Path.of("/tmp"), "jcyme-it-other-");
        scratch.add(base);
        Files.setPosixFilePermissions(base, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path lib = Files.createDirectories(base.resolve("lib"));
        try (Stream<Path> jars = Files.list(BranchProcess.lib())) {
            for (Path jar : jars.toList()) {
                Files.copy(jar, lib.resolve(jar.getFileName()), StandardCopyOption.COPY_ATTRIBUTES);
                Files.setPosixFilePermissions(lib.resolve(jar.getFileName()), PosixFilePermissions.fromString("rw-r--r--"));
            }
        }
        Path otherData = Files.createDirectories(base.resolve("data"));
        run("chown", OTHER_USER + ":", otherData.toString());

        BranchProcess a = mine("a");
        BranchProcess b = mine("b");
        BranchProcess other = new BranchProcess(otherData, "--id", "other", "--cluster", cluster, "--broker",
                TestBroker.rabbitmq().url())
                .asUser(OTHER_USER, lib)
                .env("HOME", home)
                .env("XDG_CONFIG_HOME", null)
                .env("JCYME_CLUSTER_SECRET", null);
        branches.add(other);
        ClusterTest.startAll(List.of(a, b, other));
        assertTrue(other.log().contains("secret of this user (" + home + "/.config/jcyme/cluster.secret)"), other.log());
        Path secret = tmp.resolve("config/jcyme/cluster.secret");
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(secret)));
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(secret.getParent())));

        // zero configuration: two branches of one user on one host find each other
        assertEquals(201, a.call("PUT", "/" + app).status());
        ClusterTest.awaitMembers(a, "[\"a\",\"b\"]", Duration.ofSeconds(30));
        ClusterTest.awaitMembers(b, "[\"a\",\"b\"]", Duration.ofSeconds(30));
        Wait.until(Duration.ofSeconds(10), "the app on b", () -> b.call("GET", "/" + app).status() == 200);

        // the other user's branch, same cluster name, same multicast group: alone, and blind
        long until = System.nanoTime() + Duration.ofSeconds(12).toNanos();
        while (System.nanoTime() < until) {
            assertEquals("[\"other\"]", other.call("GET", "/branches").text());
            assertEquals(404, other.call("GET", "/" + app).status(), "the other user's branch got the app");
            assertEquals("[]", other.call("GET", "/").text());
            assertEquals("[\"a\",\"b\"]", a.call("GET", "/branches").text());
            assertEquals("[\"a\",\"b\"]", b.call("GET", "/branches").text());
            Thread.sleep(250);
        }
    }

    @Test
    void aReplicatedAppThatFailsTheChecksOfARequestIsNotStored() throws Exception {
        BranchProcess a = mine("a").start();
        String good = app + "-good";
        assertEquals(201, a.call("PUT", "/" + good, "{\"max_concurrency\": 2}").status());
        a.close();
        // what no request could store, written straight into a's branch.db while it is down
        String evilClasspath = app + "-cp";
        String evilBounds = app + "-bounds";
        String evilBroker = app + "-broker";
        try (Connection db = DriverManager.getConnection("jdbc:sqlite:" + tmp.resolve("a/branch.db"));
             PreparedStatement insert = db.prepareStatement("INSERT INTO apps VALUES (?, ?, 1000, 'a', 0)")) {
            for (Map<String, Object> evil : List.of(
                    Map.<String, Object>of("name", evilClasspath, "classpath", List.of("/nonexistent/evil.jar"),
                            "jvm_options", List.of("-javaagent:/nonexistent/evil.jar"), "min_concurrency", 1, "max_concurrency", 1),
                    Map.<String, Object>of("name", evilBounds, "min_concurrency", 9, "max_concurrency", 0),
                    Map.<String, Object>of("name", evilBroker, "broker", "http://u:hidden@evil/", "min_concurrency", 1,
                            "max_concurrency", 1))) {
                insert.setString(1, (String) evil.get("name"));
                insert.setString(2, Json.MAPPER.writeValueAsString(evil));
                insert.executeUpdate();
            }
        }
        BranchProcess b = mine("b");
        ClusterTest.startAll(List.of(a, b));
        ClusterTest.awaitMembers(b, "[\"a\",\"b\"]", Duration.ofSeconds(30));
        Wait.until(Duration.ofSeconds(10), "the valid app on b", () -> b.call("GET", "/" + good).status() == 200, b::log);
        assertEquals(2, b.json("GET", "/" + good).path("max_concurrency").asInt());
        Thread.sleep(3000); // a few rounds of gossip
        for (String evil : List.of(evilClasspath, evilBounds, evilBroker)) {
            assertEquals(404, b.call("GET", "/" + evil).status(), evil + " reached b's store");
        }
        Wait.until(Duration.ofSeconds(10), "b to log three rejections", () -> b.log().contains("rejected app '" + evilClasspath
                + "' from branch a") && b.log().contains("rejected app '" + evilBounds + "' from branch a")
                && b.log().contains("rejected app '" + evilBroker + "' from branch a"), b::log);
        assertEquals("[\"" + good + "\"]", b.call("GET", "/").text());
        assertTrue(b.log().contains("classpath entry '/nonexistent/evil.jar' does not exist"), b.log());
        assertFalse(b.log().contains("hidden"), "a password in b's log");
    }

    @Test
    void theBrokerPasswordShowsNowhereAndWorkersStillConnect() throws Exception {
        String url = TestBroker.rabbitmq().url();
        assertTrue(url.contains(":guest@"), url);
        BranchProcess branch = mine("solo").start();
        BranchProcess.Reply put = branch.call("PUT", "/" + app, "{\"broker\": \"" + url + "\", \"default_queues\": [\"" + app + "-q\"]}");
        assertEquals(201, put.status(), put.text());
        assertEquals(201, branch.call("POST", "/" + app + "/instances/w1").status());
        long pid = branch.awaitState(app, "w1", "RUNNING").path("pid").asLong();

        String cmdline = Files.readString(Path.of("/proc", Long.toString(pid), "cmdline")).replace('\0', ' ');
        assertTrue(cmdline.contains("jcyme.worker.WorkerMain"), cmdline);
        assertFalse(cmdline.contains(":guest@"), "broker password on the worker's command line: " + cmdline);
        String environ = Files.readString(Path.of("/proc", Long.toString(pid), "environ"));
        assertTrue(environ.contains("JCYME_BROKER_URL=" + url), "the worker gets its broker from the environment");
        for (long other : BranchProcess.processesWith(":guest@")) {
            String line = Files.readString(Path.of("/proc", Long.toString(other), "cmdline")).replace('\0', ' ');
            assertFalse(line.contains(app) || line.contains(tmp.toString()), "a process shows the password: " + line);
        }

        JsonNode shown = branch.json("GET", "/" + app);
        assertEquals(url.replace(":guest@", ":********@"), shown.path("broker").asText());
        for (String path : List.of("/" + app, "/" + app + "/instances/w1", "/branches", "/branches/solo",
                "/" + app + "/instances/w1/stats", "/" + app + "/instances")) {
            BranchProcess.Reply reply = branch.call("GET", path);
            assertEquals(200, reply.status(), path + " " + reply.text());
            assertFalse(reply.text().contains(":guest@"), "password in GET " + path + ": " + reply.text());
        }
        assertFalse(put.text().contains(":guest@"), put.text());

        // the masked URL sent back leaves the stored password as it was: a new worker still connects, tasks still go
        BranchProcess.Reply back = branch.call("PUT", "/" + app, "{\"broker\": \"" + shown.path("broker").asText() + "\"}");
        assertEquals(200, back.status(), back.text());
        assertEquals(400, branch.call("PUT", "/" + app, "{\"broker\": \"amqp://guest:********@elsewhere:5672//\"}").status());
        assertEquals(201, branch.call("POST", "/" + app + "/instances/w2").status());
        branch.awaitState(app, "w2", "RUNNING");
        BranchProcess.Reply sent = branch.call("POST", "/" + app + "/tasks/tasks.add", "{\"args\": [2, 3], \"queue\": \"" + app + "-q\"}");
        assertEquals(202, sent.status(), sent.text());
        assertEquals(5, branch.json("GET", "/" + app + "/query/" + sent.json().path("id").asText() + "/wait?timeout=30")
                .path("result").asInt());

        assertFalse(branch.log().contains(":guest@"), "password in the branch log:\n" + branch.log());
        for (String name : List.of("w1", "w2")) {
            String log = Files.readString(tmp.resolve("solo").resolve(name).resolve("worker.log"));
            assertTrue(log.contains("ready"), log);
            assertFalse(log.contains(":guest@"), "password in " + name + "'s log:\n" + log);
        }
    }

    @Test
    void theControlSocketIsNeverReachableByOthers() throws Exception {
        BranchProcess branch = mine("solo").start();
        assertEquals(201, branch.call("PUT", "/" + app).status());
        Path dir = tmp.resolve("solo").resolve("w1");
        Path socket = dir.resolve("worker.sock");
        Set<String> dirModes = new ConcurrentSkipListSet<>();
        Set<String> socketModes = new ConcurrentSkipListSet<>();
        Set<String> stagingModes = new ConcurrentSkipListSet<>();
        Thread watcher = new Thread(() -> {
            while (!Thread.currentThread().isInterrupted()) {
                mode(dir).ifPresent(dirModes::add);
                mode(socket).ifPresent(socketModes::add);
                try (Stream<Path> entries = Files.list(dir)) {
                    entries.filter(p -> p.getFileName().toString().startsWith(".c")).forEach(p -> mode(p).ifPresent(stagingModes::add));
                } catch (IOException | RuntimeException e) {
                    // not there yet
                }
                try {
                    Thread.sleep(0, 200_000);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
        watcher.start();
        try {
            assertEquals(201, branch.call("POST", "/" + app + "/instances/w1").status());
            branch.awaitState(app, "w1", "RUNNING");
            Wait.until(Duration.ofSeconds(10), "the control socket", () -> Files.exists(socket));
        } finally {
            watcher.interrupt();
            watcher.join();
        }
        assertEquals(Set.of("rwx------"), dirModes, "modes the instance directory had");
        assertEquals(Set.of("rw-------"), socketModes, "modes the control socket had");
        assertTrue(stagingModes.stream().allMatch("rwx------"::equals), "modes the socket's staging directory had: " + stagingModes);
        assertEquals("rwx------", mode(dir).orElseThrow());
        assertEquals("rw-------", mode(socket).orElseThrow());
        assertTrue(branch.json("GET", "/" + app + "/instances/w1/stats").has("pool"), "the branch still reaches it");
    }

    private static java.util.Optional<String> mode(Path path) {
        try {
            return java.util.Optional.of(PosixFilePermissions.toString(Files.getPosixFilePermissions(path, LinkOption.NOFOLLOW_LINKS)));
        } catch (IOException e) {
            return java.util.Optional.empty();
        }
    }

    /** Runs a short command; its output, trimmed. */
    static String run(String... command) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(process.getInputStream().readAllBytes()).trim();
        if (!process.waitFor(60, TimeUnit.SECONDS)) {
            process.destroyForcibly();
        }
        return out;
    }
}
