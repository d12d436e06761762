package jcyme.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.stream.Stream;
import jcyme.tasks.Json;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.ResourceAccessMode;
import org.junit.jupiter.api.parallel.ResourceLock;

/**
 * A branch on 127.0.0.1 is safe from the web pages its operator visits and bounded against
 * requests that would cost the host too much — by default, with nothing to configure: a
 * cross-origin form POST or a DNS-rebound Host is refused and creates nothing, each limit is a
 * 4xx that names it, and every request that may change something leaves an audit line.
 */
@ResourceLock(value = TestBroker.RABBITMQ, mode = ResourceAccessMode.READ)
class SafeByDefaultTest {
    static final String EVIL = "http://evil.example";

    @TempDir
    static Path tmp;

    static BranchProcess branch;
    static final String app = "safe-" + UUID.randomUUID().toString().substring(0, 8);

    @BeforeAll
    static void start() throws Exception {
        branch = new BranchProcess(tmp.resolve("instances"), "--no-cluster", "--broker", TestBroker.rabbitmq().url(),
                "--max-instances", "1", "--cors-origin", "http://ui.example:9000",
                "--allowed-hosts", "branch.example,other.example", "--allowed-hosts", "third.example").start();
        assertEquals(201, branch.call("PUT", "/" + app).status());
    }

    @AfterAll
    static void stop() throws Exception {
        if (branch != null) {
            branch.close();
        }
        BranchProcess.processesWith("-Djcyme.instance=" + app + "/")
                .forEach(pid -> ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly));
    }

    /** A raw request, as a browser (or anyone) could send it. */
    static RawHttp.Response send(String method, String target, String host, List<String> headers, String body) throws IOException {
        byte[] bytes = body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8);
        StringBuilder request = new StringBuilder(method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n");
        headers.forEach(h -> request.append(h).append("\r\n"));
        if (body != null) {
            request.append("Content-Length: ").append(bytes.length).append("\r\n");
        }
        request.append("\r\n");
        byte[] head = request.toString().getBytes(StandardCharsets.ISO_8859_1);
        byte[] all = new byte[head.length + bytes.length];
        System.arraycopy(head, 0, all, 0, head.length);
        System.arraycopy(bytes, 0, all, head.length, bytes.length);
        return RawHttp.exchange(branch.port, all, !method.equals("HEAD"));
    }

    static String local() {
        return "127.0.0.1:" + branch.port;
    }

    /** The reply is {@code status} with the API's JSON error, whose sentence contains every one of {@code words}. */
    static String error(RawHttp.Response response, int status, String... words) {
        assertEquals(status, response.status(), response.toString());
        assertTrue(response.header("content-type").startsWith("application/json"), response.toString());
        JsonNode body = Json.parse(response.body().getBytes(StandardCharsets.UTF_8));
        assertTrue(body.path("error").isTextual(), response.toString());
        for (String word : words) {
            assertTrue(body.path("error").asText().contains(word), "'" + word + "' not in: " + response);
        }
        return body.path("error").asText();
    }

    static List<String> instanceDirs() throws IOException {
        try (Stream<Path> entries = Files.list(branch.dataDir)) {
            return entries.filter(Files::isDirectory).map(p -> p.getFileName().toString())
                    .filter(n -> !n.equals("broker")).sorted().toList();
        }
    }

    static final String FORM = "Content-Type: application/x-www-form-urlencoded";

    @Test
    void aCrossOriginFormPostCreatesNoApp() throws Exception {
        String form = "jvm_options=-XX:OnError=touch+" + tmp.resolve("pwned") + "&default_queues=celery";
        for (String target : List.of("/evil", "/evil/", "/" + app)) {
            error(send("POST", target, local(), List.of("Origin: " + EVIL, FORM), form), 403, "evil.example", "--cors-origin");
            error(send("PUT", target, local(), List.of("Origin: " + EVIL, FORM), form), 403, "evil.example");
        }
        // a browser that sends no Origin but says the request is cross-site
        error(send("POST", "/evil", local(), List.of("Sec-Fetch-Site: cross-site", FORM), form), 403, "cross-site");
        // Origin "null" (a sandboxed page, a file://) is no origin of ours either
        error(send("POST", "/evil", local(), List.of("Origin: null", FORM), form), 403, "null");
        assertEquals(404, branch.call("GET", "/evil").status());
        assertFalse(branch.json("GET", "/").toString().contains("evil"));
        assertEquals("[]", branch.json("GET", "/" + app).path("jvm_options").toString(), "the app was not changed");
        assertFalse(Files.exists(tmp.resolve("pwned")));
    }

    @Test
    void aCrossOriginFormPostCreatesNoInstance() throws Exception {
        String form = "queues=celery&max=2";
        for (String target : List.of("/" + app + "/instances/w-evil", "/" + app + "/instances", "/" + app + "/instances/!/w-evil")) {
            error(send("POST", target, local(), List.of("Origin: " + EVIL, FORM), form), 403, "evil.example");
        }
        error(send("POST", "/" + app + "/instances/w-evil", local(), List.of("Sec-Fetch-Site: same-site", FORM), form), 403);
        error(send("DELETE", "/" + app, local(), List.of("Origin: " + EVIL), null), 403);
        Thread.sleep(300); // what an async (!/) create would have started by now
        assertEquals(404, branch.call("GET", "/" + app + "/instances/w-evil").status());
        assertFalse(branch.json("GET", "/" + app + "/instances").toString().contains("w-evil"));
        assertFalse(instanceDirs().contains("w-evil"), instanceDirs().toString());
        assertEquals(200, branch.call("GET", "/" + app).status(), "the app is still there");
    }

    @Test
    void theBranchsOwnOriginTheCorsOriginAndClientsWithoutOriginMayChangeThings() throws Exception {
        String own = "safe-own-" + UUID.randomUUID().toString().substring(0, 6);
        assertEquals(201, send("POST", "/" + own, local(), List.of("Origin: http://" + local(), FORM), "max_concurrency=2").status());
        assertEquals(200, send("POST", "/" + own, "localhost:" + branch.port, List.of("Origin: http://localhost:" + branch.port,
                "Sec-Fetch-Site: same-origin", FORM), "max_concurrency=3").status());
        assertEquals(200, send("PUT", "/" + own, local(), List.of("Origin: http://ui.example:9000", FORM), "max_concurrency=4").status());
        assertEquals(200, send("PUT", "/" + own, local(), List.of(FORM), "max_concurrency=5").status(), "curl -d: no Origin");
        assertEquals(5, branch.json("GET", "/" + own).path("max_concurrency").asInt());
        // another port of the same host is another origin
        error(send("PUT", "/" + own, local(), List.of("Origin: http://127.0.0.1:3000", FORM), "max_concurrency=6"), 403);
        assertEquals(200, branch.call("DELETE", "/" + own).status());
    }

    @Test
    void aRebindingHostIsRefused() throws Exception {
        error(send("GET", "/", "evil.example:8000", List.of(), null), 403, "evil.example", "--allowed-hosts");
        error(send("GET", "/" + app, "evil.example", List.of(), null), 403, "evil.example");
        error(send("POST", "/rebound", "evil.example:" + branch.port, List.of("Content-Type: application/json"), "{}"), 403);
        error(send("GET", "http://evil.example/", "evil.example", List.of(), null), 403, "evil.example");
        assertTrue(send("GET", "http://evil.example/", local(), List.of(), null).status() >= 400, "a URI naming another host");
        error(send("GET", "/ping", "localhost.evil.example", List.of(), null), 403);
        assertEquals(404, branch.call("GET", "/rebound").status());
        for (String host : List.of("localhost", "localhost:1", "127.0.0.1", "127.0.0.1:80", "[::1]", "[::1]:" + branch.port,
                "branch.example:8000", "OTHER.example", "third.example")) {
            RawHttp.Response response = send("GET", "/", host, List.of(), null);
            assertEquals(200, response.status(), host + ": " + response);
        }
    }

    @Test
    void limitsAreFourHundredsThatNameTheLimit() throws Exception {
        String big = "{\"env\": {\"A\": \"" + "x".repeat(1 << 20) + "\"}}";
        error(send("PUT", "/" + app, local(), List.of("Content-Type: application/json"), big), 413, "1048576");
        RawHttp.Response chunked = RawHttp.exchange(branch.port, chunked("/" + app, big), true);
        error(chunked, 413, "1048576");
        assertEquals("{}", branch.json("GET", "/" + app).path("env").toString());

        error(send("GET", "/" + app + "/query/" + UUID.randomUUID() + "/wait?timeout=301", local(), List.of(), null), 400, "300");
        error(send("GET", "/" + app + "/query/" + UUID.randomUUID() + "/wait?timeout=Infinity", local(), List.of(), null), 400);

        error(send("PUT", "/safe-huge", local(), List.of(FORM), "max_concurrency=20000"), 400, "256");
        assertEquals(404, branch.call("GET", "/safe-huge").status());
        error(send("POST", "/" + app + "/instances/w-huge?max=257", local(), List.of(), null), 400, "256");

        // one instance is this branch's limit here (--max-instances 1)
        BranchProcess.Reply created = branch.call("POST", "/" + app + "/instances/w1", "{\"max\": 2, \"queues\": [\"" + app + "\"]}");
        assertEquals(201, created.status(), created.text());
        error(send("PUT", "/" + app + "/instances/w1/autoscale?max=20000&min=1", local(), List.of(), null), 400, "256");
        assertEquals(2, branch.json("GET", "/" + app + "/instances/w1/autoscale").path("max").asInt());
        error(send("POST", "/" + app + "/instances/w2", local(), List.of(), null), 400, "limit of 1 instance", "--max-instances");
        assertEquals(List.of("w1"), instanceDirs());
        assertEquals(200, branch.call("DELETE", "/" + app + "/instances/w1").status());
    }

    private static byte[] chunked(String target, String body) {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        StringBuilder request = new StringBuilder("PUT " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                + "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        out.writeBytes(request.toString().getBytes(StandardCharsets.ISO_8859_1));
        for (int at = 0; at < bytes.length; at += 65536) {
            int length = Math.min(65536, bytes.length - at);
            out.writeBytes((Integer.toHexString(length) + "\r\n").getBytes(StandardCharsets.ISO_8859_1));
            out.write(bytes, at, length);
            out.writeBytes("\r\n".getBytes(StandardCharsets.ISO_8859_1));
        }
        out.writeBytes("0\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
        return out.toByteArray();
    }

    @Test
    void everyChangingRequestLeavesAnAuditLine() throws Exception {
        String name = "safe-audit-" + UUID.randomUUID().toString().substring(0, 6);
        assertEquals(201, send("PUT", "/" + name, local(), List.of("Authorization: Bearer not-logged-" + name), null).status());
        error(send("POST", "/" + name + "-evil", local(), List.of("Origin: " + EVIL, FORM), "a=1"), 403);
        error(send("DELETE", "/" + name, "evil.example", List.of(), null), 403);
        send("GET", "/" + name, local(), List.of(), null);
        Wait.until(Duration.ofSeconds(10), "audit lines", () -> branch.log().contains("PUT /" + name + " 201 from 127.0.0.1:"),
                branch::log);
        String log = branch.log();
        assertTrue(log.matches("(?s).*audit: PUT /" + name + " 201 from 127\\.0\\.0\\.1:\\d+ token=yes\\n.*"), log);
        assertTrue(log.matches("(?s).*audit: POST /" + name + "-evil 403 from 127\\.0\\.0\\.1:\\d+ token=no origin="
                + EVIL.replace(".", "\\.") + "\\n.*"), log);
        assertTrue(log.contains("audit: DELETE /" + name + " 403 from 127.0.0.1:"), log);
        assertFalse(log.contains("not-logged-"), "the token is never logged");
        assertFalse(log.contains("audit: GET /" + name), "reads are not audited");
        assertEquals(200, branch.call("DELETE", "/" + name).status());
    }
}
