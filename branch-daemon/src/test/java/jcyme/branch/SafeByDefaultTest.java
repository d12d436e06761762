package jcyme.branch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import jcyme.api.App;
import jcyme.api.QueueSpec;
import jcyme.tasks.BrokerUrl;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The per-user cluster secret, checks of replicated apps, and masked broker passwords. */
class SafeByDefaultTest {
    @TempDir
    Path tmp;

    @Test
    void theSecretFileIsMadePrivateOnceAndReadAfterwards() throws IOException {
        Path file = ClusterSecret.defaultFile(Map.of("XDG_CONFIG_HOME", tmp.resolve("cfg").toString()));
        assertEquals(tmp.resolve("cfg/jcyme/cluster.secret"), file);
        String secret = ClusterSecret.readOrCreate(file);
        assertEquals(64, secret.length());
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file.getParent())));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));
        assertEquals(secret, ClusterSecret.readOrCreate(file));
        assertEquals(tmp.resolve("home/.config/jcyme/cluster.secret"), ClusterSecret.defaultFile(Map.of("HOME", tmp.resolve("home").toString())));
    }

    @Test
    void aSecretFileOthersCanReadIsRefused() throws IOException {
        Path file = tmp.resolve("jcyme/cluster.secret");
        ClusterSecret.readOrCreate(file);
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r--r--"));
        IOException refused = assertThrows(IOException.class, () -> ClusterSecret.readOrCreate(file));
        assertTrue(refused.getMessage().contains("readable by others"), refused.getMessage());
    }

    static App app(String name, String broker, List<String> classpath, int min, int max) {
        return new App(name, broker, null, null, classpath, null, null, List.of("q1"), min, max);
    }

    @Test
    void aReplicatedAppPassesTheChecksOfARequest() {
        Store.AppEntry good = new Store.AppEntry("a1", 3, "b", false, app("a1", "amqp://u:p@h//", List.of(), 1, 2),
                List.of(QueueSpec.named("q1")));
        assertNull(ClusterMember.problem(good));
        assertNull(ClusterMember.problem(new Store.AppEntry("a1", 4, "b", true, null, null)));
        assertNotNull(ClusterMember.problem(new Store.AppEntry("../x", 3, "b", true, null, null)));
        assertTrue(ClusterMember.problem(new Store.AppEntry("a1", 3, "b", false, app("a1", null, List.of(), 3, 1), List.of()))
                .contains("min <= max"));
        assertTrue(ClusterMember.problem(new Store.AppEntry("a1", 3, "b", false,
                app("a1", null, List.of("/nonexistent/evil.jar"), 1, 1), List.of())).contains("does not exist"));
        assertNotNull(ClusterMember.problem(new Store.AppEntry("a1", 3, "b", false, app("a1", "http://x", List.of(), 1, 1), List.of())));
        assertNotNull(ClusterMember.problem(new Store.AppEntry("a1", 3, "b", false, app("a2", null, List.of(), 1, 1), List.of())));
        assertNotNull(ClusterMember.problem(new Store.AppEntry("a1", 3, "b", false, app("a1", null, List.of(), 1, 1),
                List.of(new QueueSpec("q", null, "bogus", null, null)))));
        assertNotNull(ClusterMember.problem(new Store.AppEntry("a1", 3, "b", false, app("a1", null, List.of(), 1, 1),
                List.of(QueueSpec.named("q x")))));
    }

    @Test
    void passwordsAreMaskedAndAMaskedUrlSentBackKeepsTheStoredOne() {
        assertEquals("amqp://guest:********@h:5672//", BrokerUrl.mask("amqp://guest:s3cr%2Ft@h:5672//"));
        assertEquals("amqp://h//", BrokerUrl.mask("amqp://h//"));
        assertEquals("bad: amqp://u:********@", BrokerUrl.mask("bad: amqp://u:x@"));
        String stored = "amqp://u:pw@h:5673/v";
        assertEquals(stored, Checks.unmasked(Checks.masked(stored), stored));
        assertEquals("amqp://u:new@h/", Checks.unmasked("amqp://u:new@h/", stored));
        assertThrows(BranchException.class, () -> Checks.unmasked("amqp://u:********@evil:5673/v", stored));
        assertThrows(BranchException.class, () -> Checks.unmasked("amqp://u:********@h:5673/v", null));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BrokerUrl.parse("http://u:topsecret@h/"));
        assertTrue(!e.getMessage().contains("topsecret"), e.getMessage());
    }
}
