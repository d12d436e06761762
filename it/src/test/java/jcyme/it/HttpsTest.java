package jcyme.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import jcyme.client.BranchClient;
import jcyme.client.BranchException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.ResourceAccessMode;
import org.junit.jupiter.api.parallel.ResourceLock;

/**
 * Two branches serving HTTPS with certificates of one test CA (made with openssl): curl, cyme and
 * BranchClient reach them with that CA, they forward to each other over HTTPS, plain HTTP gets a
 * clear refusal, and bad key files stop a branch at start-up with one line.
 */
@ResourceLock(value = TestBroker.RABBITMQ, mode = ResourceAccessMode.READ)
class HttpsTest {
    @TempDir
    Path tmp;

    final String app = "tls-" + UUID.randomUUID().toString().substring(0, 8);
    final List<BranchProcess> branches = new ArrayList<>();

    @AfterEach
    void cleanUp() throws Exception {
        for (BranchProcess branch : branches) {
            branch.close();
        }
        BranchProcess.processesWith("-Djcyme.instance=" + app + "/")
                .forEach(pid -> ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly));
    }

    static BranchProcess.Reply run(Path dir, String... command) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes());
        if (!process.waitFor(60, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new AssertionError(List.of(command) + " did not exit: " + output);
        }
        return new BranchProcess.Reply(process.exitValue(), output);
    }

    void openssl(String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("openssl"));
        command.addAll(List.of(args));
        BranchProcess.Reply reply = run(tmp, command.toArray(String[]::new));
        assertEquals(0, reply.status(), command + ": " + reply.text());
    }

    /**
     * ca.pem (a CA); a.pem (RSA, key in PKCS#1) and b.pem (EC, key in SEC1), both for 127.0.0.1 and
     * localhost, signed by it; a-chain.pem is a.pem followed by ca.pem.
     */
    void makeCertificates() throws Exception {
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=jcyme test CA",
                "-keyout", "ca-key.pem", "-out", "ca.pem");
        Files.writeString(tmp.resolve("server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
        openssl("genrsa", "-traditional", "-out", "a-key.pem", "2048");
        openssl("ecparam", "-name", "prime256v1", "-genkey", "-out", "b-key.pem");
        for (String name : List.of("a", "b")) {
            openssl("req", "-new", "-key", name + "-key.pem", "-subj", "/CN=localhost", "-out", name + ".csr");
            openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
                    "-days", "2", "-extfile", "server.ext", "-out", name + ".pem");
        }
        assertTrue(Files.readString(tmp.resolve("a-key.pem")).contains("BEGIN RSA PRIVATE KEY"));
        assertTrue(Files.readString(tmp.resolve("b-key.pem")).contains("BEGIN EC PRIVATE KEY"));
        Files.writeString(tmp.resolve("a-chain.pem"), Files.readString(tmp.resolve("a.pem")) + Files.readString(tmp.resolve("ca.pem")));
    }

    @Test
    void branchesServeHttpsAndForwardOverIt() throws Exception {
        makeCertificates();
        String ca = tmp.resolve("ca.pem").toString();
        String cluster = "it-" + UUID.randomUUID().toString().substring(0, 8);
        int portA = ClusterTest.clusterPort(), portB = ClusterTest.clusterPort();
        String peers = "127.0.0.1:" + portA + ",127.0.0.1:" + portB;
        // A trusts what it has by default (its chain holds the CA); B is given the CA
        BranchProcess a = new BranchProcess(tmp.resolve("a"), "--id", "a", "--broker", TestBroker.rabbitmq().url(),
                "--cluster", cluster, "--cluster-bind", "127.0.0.1:" + portA, "--peers", peers, "--cluster-secret", "s3cret",
                "--tls-cert", tmp.resolve("a-chain.pem").toString(), "--tls-key", tmp.resolve("a-key.pem").toString());
        BranchProcess b = new BranchProcess(tmp.resolve("b"), "--id", "b", "--broker", TestBroker.rabbitmq().url(),
                "--cluster", cluster, "--cluster-bind", "127.0.0.1:" + portB, "--peers", peers, "--cluster-secret", "s3cret",
                "--tls-cert", tmp.resolve("b.pem").toString(), "--tls-key", tmp.resolve("b-key.pem").toString(), "--tls-ca", ca);
        branches.add(a);
        branches.add(b);
        ClusterTest.startAll(branches);
        assertTrue(a.url().startsWith("https://"));
        assertTrue(a.log().contains("branch a on https://127.0.0.1:" + a.port + " "), a.log());
        ClusterTest.awaitMembers(a, "[\"a\",\"b\"]", Duration.ofSeconds(20));
        ClusterTest.awaitMembers(b, "[\"a\",\"b\"]", Duration.ofSeconds(20));
        assertEquals(b.url(), a.json("GET", "/branches/b").path("url").asText(), "the advertised URL is https://");

        // curl with the CA
        BranchProcess.Reply curl = run(tmp, "curl", "-sS", "--cacert", ca, a.url() + "/branches");
        assertEquals(0, curl.status(), curl.text());
        assertEquals("[\"a\",\"b\"]", curl.text());
        BranchProcess.Reply untrusted = run(tmp, "curl", "-sS", a.url() + "/ping");
        assertTrue(untrusted.status() != 0, "curl without the CA: " + untrusted.text());

        // cyme with --cacert (before or after the command) or $JCYME_CACERT
        BranchProcess.Reply added = BranchProcess.cyme("--cacert", ca, "-u", a.url(), "apps", "add", app);
        assertEquals(0, added.status(), added.text());
        Wait.until(Duration.ofSeconds(5), "app on B", () -> b.call("GET", "/" + app).status() == 200);
        BranchProcess.Reply listed = BranchProcess.cyme(Map.of("JCYME_CACERT", ca), "apps", "-u", b.url());
        assertEquals(0, listed.status(), listed.text());
        assertTrue(listed.text().contains(app), listed.text());
        BranchProcess.Reply refused = BranchProcess.cyme("-u", a.url(), "apps");
        assertEquals(1, refused.status(), refused.text());
        assertTrue(refused.text().contains("not trusted") && refused.text().contains("--cacert"), refused.text());

        // BranchClient with the CA; without it, a clear refusal
        BranchClient clientA = BranchClient.of(a.url(), null, Duration.ofSeconds(60), tmp.resolve("ca.pem"));
        BranchClient clientB = BranchClient.of(b.url(), null, Duration.ofSeconds(60), tmp.resolve("ca.pem"));
        assertEquals("pong", clientA.ping());
        assertTrue(clientA.apps().contains(app));
        BranchException noCa = assertThrows(BranchException.class, () -> BranchClient.of(a.url()).ping());
        assertEquals(0, noCa.status());
        assertTrue(noCa.getMessage().contains("not trusted"), noCa.getMessage());

        // forwarded over HTTPS both ways: B -> A with --tls-ca, A -> B with A's own chain
        assertEquals("a", clientB.createInstance(app, "w1", Map.of("branch", "a", "max", 1)).branch());
        assertEquals("b", clientA.createInstance(app, "w2", Map.of("branch", "b", "max", 1)).branch());
        assertTrue(Files.isDirectory(tmp.resolve("b").resolve("w2")));
        assertEquals("b", clientA.instance(app, "w2").branch());
        a.awaitState(app, "w2", "RUNNING");
        assertEquals(1, clientA.autoscale(app, "w2").max());
        assertEquals("a", clientB.instance(app, "w1").branch());
        assertEquals(List.of("w1", "w2"), clientA.instances(app));
        assertEquals(List.of("w1", "w2"), clientB.instances(app));

        // plain HTTP to the TLS port: a 400 naming the https:// URL
        String plain = "http://127.0.0.1:" + a.port;
        BranchProcess.Reply curlPlain = run(tmp, "curl", "-sS", "-w", "\n%{http_code}", plain + "/" + app + "/instances");
        assertEquals("{\"error\":\"this branch speaks HTTPS; use " + a.url() + "/" + app + "/instances\"}\n400", curlPlain.text());
        BranchProcess.Reply cymePlain = BranchProcess.cyme("-u", plain, "apps");
        assertEquals(1, cymePlain.status(), cymePlain.text());
        assertEquals("cyme: this branch speaks HTTPS; use " + a.url() + "/ (HTTP 400)", cymePlain.text().strip());
        BranchException plainClient = assertThrows(BranchException.class, () -> BranchClient.of(plain).ping());
        assertEquals(400, plainClient.status());

        clientA.deleteApp(app);
        Wait.until(Duration.ofSeconds(30), "no worker left",
                () -> BranchProcess.processesWith("-Djcyme.instance=" + app + "/").isEmpty());
    }

    @Test
    void badKeyFilesStopTheBranchWithOneLine() throws Exception {
        makeCertificates();
        String a = tmp.resolve("a.pem").toString();
        String missing = tmp.resolve("missing-key.pem").toString();
        assertRefused("branch: cannot read --tls-key " + missing + ": no such file", "--tls-cert", a, "--tls-key", missing);
        assertRefused("branch: --tls-key " + tmp.resolve("b-key.pem") + " does not match the certificate in --tls-cert " + a
                + " (the key is EC, the certificate's RSA)", "--tls-cert", a, "--tls-key", tmp.resolve("b-key.pem").toString());
        assertRefused("branch: --tls-cert needs --tls-key", "--tls-cert", a);
    }

    void assertRefused(String line, String... options) throws Exception {
        BranchProcess branch = new BranchProcess(tmp.resolve("refused"), options);
        branches.add(branch);
        Process process = branch.startExpectingExit();
        assertTrue(process.waitFor(30, TimeUnit.SECONDS), "the branch exits");
        assertTrue(process.exitValue() != 0, branch.log());
        assertEquals(line, branch.log().strip());
        assertTrue(!Files.exists(tmp.resolve("refused").resolve("branch.db")), "refused before starting anything");
    }
}
