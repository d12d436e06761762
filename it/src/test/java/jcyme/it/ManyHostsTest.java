package jcyme.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import jcyme.tasks.BrokerUrl;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.ResourceAccessMode;
import org.junit.jupiter.api.parallel.ResourceLock;

/**
 * Three hosts (network namespaces on a bridge of their own), a branch on each as the README's
 * multi-host recipe runs it (token, cluster secret, HTTPS with one CA, all addresses, the cluster
 * channel on the host's LAN address), over UDP multicast and over TCP peers: host C is cut off the
 * LAN, both halves change and delete apps, requests about C's instance answer 503 naming C, the
 * LAN heals, and every branch converges to the same apps by the merge rule (DESIGN.md).
 */
@ResourceLock(value = TestBroker.RABBITMQ, mode = ResourceAccessMode.READ)
class ManyHostsTest {
    private static final String TOKEN = "t-" + UUID.randomUUID();
    private static final String SECRET = "s-" + UUID.randomUUID();
    private static final List<String> IDS = List.of("a", "b", "c");
    /** Fast failure detection and merges for the test (production defaults: 4 s, 5 s, 2 s). */
    private static final int FD_TIMEOUT_S = 2;
    private static final List<String> TIMINGS = List.of("--cluster-fd-timeout", Integer.toString(FD_TIMEOUT_S),
            "--cluster-merge-interval", "1", "--forward-connect-timeout", "1");

    static NetnsHosts hosts;
    static Path certs;
    static String broker;

    @TempDir
    Path tmp;
    final List<BranchProcess> branches = new ArrayList<>();
    final String run = UUID.randomUUID().toString().substring(0, 6);

    @BeforeAll
    static void makeHosts() throws Exception {
        hosts = NetnsHosts.make(IDS.toArray(String[]::new));
        certs = Files.createTempDirectory("jcyme-it-hosts");
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                "-subj", "/CN=jcyme test CA", "-keyout", "ca-key.pem", "-out", "ca.pem");
        for (int i = 0; i < IDS.size(); i++) {
            String host = IDS.get(i);
            openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=" + hosts.address(i),
                    "-addext", "subjectAltName=IP:" + hosts.address(i), "-keyout", host + "-key.pem", "-out", host + ".csr");
            openssl("x509", "-req", "-in", host + ".csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial", "-days", "2",
                    "-copy_extensions", "copy", "-out", host + ".pem");
        }
        BrokerUrl rabbit = BrokerUrl.parse(TestBroker.rabbitmq().url());
        int relay = hosts.expose(rabbit.port());
        broker = TestBroker.rabbitmq().url().replace("@127.0.0.1:" + rabbit.port(), "@" + hosts.operator + ":" + relay);
    }

    static void openssl(String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("openssl"));
        command.addAll(List.of(args));
        Process process = new ProcessBuilder(command).directory(certs.toFile()).redirectErrorStream(true).start();
        String out = new String(process.getInputStream().readAllBytes());
        assertTrue(process.waitFor(30, TimeUnit.SECONDS) && process.exitValue() == 0, "openssl " + args[0] + ": " + out);
    }

    @AfterAll
    static void removeHosts() {
        if (hosts != null) {
            hosts.close();
        }
    }

    @AfterEach
    void stopBranches() throws Exception {
        for (BranchProcess branch : branches) {
            branch.close();
        }
        BranchProcess.killAllWith("-Djcyme.instance=keep-" + run);
    }

    @Test
    void splitAndHealOverMulticast() throws Exception {
        splitAndHeal(List.of());
    }

    @Test
    void splitAndHealOverTcpPeers() throws Exception {
        List<String> peers = new ArrayList<>();
        for (int i = 0; i < IDS.size(); i++) {
            peers.add(hosts.address(i) + ":7800");
        }
        splitAndHeal(List.of("--peers", String.join(",", peers)));
    }

    void splitAndHeal(List<String> discovery) throws Exception {
        for (int i = 0; i < IDS.size(); i++) {
            String id = IDS.get(i);
            List<String> options = new ArrayList<>(List.of("--id", id, "--tls-cert", certs.resolve(id + ".pem").toString(),
                    "--tls-key", certs.resolve(id + "-key.pem").toString(), "--tls-ca", certs.resolve("ca.pem").toString(),
                    "--cluster", "jcyme", "--cluster-bind", hosts.address(i) + ":7800")); // the default name: each host is alone on its LAN
            options.addAll(discovery);
            options.addAll(TIMINGS);
            branches.add(new BranchProcess(tmp.resolve(id), options.toArray(String[]::new))
                    .inNamespace(hosts.namespace(i), hosts.address(i), 8000).token(TOKEN)
                    .env("JCYME_TOKEN", TOKEN).env("JCYME_CLUSTER_SECRET", SECRET).env("JCYME_BROKER_URL", broker));
        }
        BranchProcess a = branches.get(0), b = branches.get(1), c = branches.get(2);
        ClusterTest.startAll(branches);
        for (BranchProcess branch : branches) {
            ClusterTest.awaitMembers(branch, "[\"a\",\"b\",\"c\"]", Duration.ofSeconds(30));
        }
        String keep = "keep-" + run, left = "left-" + run, right = "right-" + run, both = "both-" + run;
        String goneA = "gonea-" + run, goneC = "gonec-" + run;
        List<String> apps = List.of(keep, left, right, both, goneA, goneC);
        for (String app : apps) {
            assertEquals(201, a.call("PUT", "/" + app).status());
        }
        String created = state(a, apps);
        for (BranchProcess branch : List.of(b, c)) {
            Wait.until(Duration.ofSeconds(10), "the apps on " + branch.url(), () -> state(branch, apps).equals(created));
        }
        BranchProcess.Reply instance = a.call("POST", "/" + keep + "/instances/w1?branch=c");
        assertEquals(201, instance.status(), instance.text());
        long pid = a.awaitState(keep, "w1", "RUNNING").path("pid").asLong(); // forwarded: A now holds a connection to C

        // C is cut off: a request about its instance made to A is a 503 naming C, in about the failure timeout
        hosts.cut(2);
        long start = System.nanoTime();
        BranchProcess.Reply cutOff = a.call("GET", "/" + keep + "/instances/w1");
        long millis = (System.nanoTime() - start) / 1_000_000;
        assertEquals(503, cutOff.status(), cutOff.text());
        String error = cutOff.json().path("error").asText();
        assertTrue(error.contains("branch 'c'") && error.contains(hosts.address(2)), error);
        assertTrue(millis < (FD_TIMEOUT_S + 3) * 1000L, "the 503 took " + millis + " ms");
        ClusterTest.awaitMembers(a, "[\"a\",\"b\"]", Duration.ofSeconds(10));
        ClusterTest.awaitMembers(b, "[\"a\",\"b\"]", Duration.ofSeconds(10));
        ClusterTest.awaitMembers(c, "[\"c\"]", Duration.ofSeconds(10));
        start = System.nanoTime();
        BranchProcess.Reply stats = b.call("GET", "/" + keep + "/instances/w1/stats");
        assertEquals(503, stats.status(), stats.text());
        assertTrue(stats.json().path("error").asText().contains("branch 'c'"), stats.text());
        assertTrue(System.nanoTime() - start < Duration.ofSeconds(2).toNanos(), "a 503 for a branch out of the view is at once");
        assertEquals("[\"w1\"]", a.call("GET", "/" + keep + "/instances").text(), "listed as C last told");

        // both halves change and delete apps; "both" is changed on each side at the same clock
        assertEquals(200, a.call("PUT", "/" + left + "?recycle_after_tasks=100").status());
        assertEquals(200, a.call("DELETE", "/" + goneA).status());
        assertEquals(200, a.call("PUT", "/" + both + "?recycle_after_tasks=100").status());
        assertEquals(200, c.call("DELETE", "/" + goneC).status());
        assertEquals(200, c.call("PUT", "/" + right + "?recycle_after_tasks=300").status());
        assertEquals(200, c.call("PUT", "/" + both + "?recycle_after_tasks=300").status());
        String majority = state(a, apps);
        Wait.until(Duration.ofSeconds(10), "B to hold A's changes", () -> state(b, apps).equals(majority));
        assertTrue(!majority.equals(state(c, apps)), "C holds other versions during the split");

        // healed: one view, the same apps everywhere (newest clock wins; the tie on 'both' goes to the greater id, c)
        hosts.heal(2);
        for (BranchProcess branch : branches) {
            ClusterTest.awaitMembers(branch, "[\"a\",\"b\",\"c\"]", Duration.ofSeconds(20));
        }
        String expected = keep + "=0 " + left + "=100 " + right + "=300 " + both + "=300 " + goneA + "=404 " + goneC + "=404";
        for (BranchProcess branch : branches) {
            String[] last = {""};
            Wait.until(Duration.ofSeconds(15), "the merged apps on " + branch.url(),
                    () -> (last[0] = state(branch, apps)).equals(expected), () -> "last: " + last[0]);
        }
        assertEquals(pid, a.awaitState(keep, "w1", "RUNNING").path("pid").asLong(), "the instance on C outlived the split");
        assertEquals("c", b.json("GET", "/" + keep + "/instances/w1").path("branch").asText());
    }

    /** Each app's {@code recycle_after_tasks} (0 when unset) or the status of its GET. */
    static String state(BranchProcess branch, List<String> apps) {
        List<String> parts = new ArrayList<>();
        for (String app : apps) {
            BranchProcess.Reply reply = branch.call("GET", "/" + app);
            parts.add(app + "=" + (reply.status() == 200 ? reply.json().path("recycle_after_tasks").asInt(0) : reply.status()));
        }
        return String.join(" ", parts);
    }
}
