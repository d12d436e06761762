package jcyme.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jcyme.tasks.Json;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every error a real branch answers — also those Javalin or Jetty answer by themselves, before or
 * instead of a route — is {@code {"error": "<sentence>"}} as application/json (API.md). The
 * requests are raw bytes, so malformed ones reach the server as sent.
 */
class HttpErrorsTest {
    @TempDir
    static Path tmp;

    static BranchProcess branch;

    @BeforeAll
    static void start() throws Exception {
        branch = new BranchProcess(tmp.resolve("instances"), "--no-cluster",
                "--broker-port", Integer.toString(BranchProcess.freePort())).start();
    }

    @AfterAll
    static void stop() throws Exception {
        if (branch != null) {
            branch.close();
        }
        BranchProcess.killAllWith("-Djcyme.broker=" + tmp);
    }

    private static String get(String target) {
        return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    }

    private static String request(String method, String target, String... headers) {
        return method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                + String.join("", headers.length == 0 ? List.of() : List.of(String.join("\r\n", headers) + "\r\n")) + "\r\n";
    }

    private static String post(String target, String contentType, String body) {
        return "POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: " + contentType
                + "\r\nContent-Length: " + body.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n" + body;
    }

    /** A probe: a name, the raw request and the status expected. */
    record Probe(String name, String request, int status) {}

    /** Checks the reply is the API's JSON error with that status; returns what is wrong, or null. */
    private static String check(Probe probe) {
        RawHttp.Response response;
        try {
            response = RawHttp.exchange(branch.port, probe.request());
        } catch (Exception e) {
            return probe.name() + ": no response (" + e + ")";
        }
        String shown = probe.name() + ": " + response.status() + " " + response.header("content-type") + " "
                + response.body().substring(0, Math.min(200, response.body().length()));
        if (response.status() != probe.status()) {
            return shown + " (expected status " + probe.status() + ")";
        }
        String type = response.header("content-type");
        if (type == null || !type.startsWith("application/json")) {
            return shown + " (not application/json)";
        }
        if (probe.request().startsWith("HEAD ")) {
            return null;
        }
        try {
            JsonNode body = Json.MAPPER.readTree(response.body());
            if (!body.isObject() || body.size() != 1 || !body.path("error").isTextual() || body.path("error").asText().isBlank()) {
                return shown + " (not {\"error\": \"...\"})";
            }
        } catch (Exception e) {
            return shown + " (not JSON)";
        }
        return null;
    }

    @Test
    void everyErrorIsJson() {
        String big = "a".repeat(20_000);
        List<Probe> probes = List.of(
                new Probe("deep unknown path", get("/a/b/c/d/e/f"), 404),
                new Probe("unknown path under an instance", get("/app/instances/w1/queues/q/x/y"), 404),
                new Probe("unknown path, trailing slash", get("/a/b/c/d/e/f/"), 404),
                new Probe("POST to a deep unknown path", post("/a/b/c/d/e", "application/json", "{}"), 404),
                new Probe("DELETE /", request("DELETE", "/"), 405),
                new Probe("PATCH an app", request("PATCH", "/app"), 405),
                new Probe("an unknown method", request("FROB", "/app"), 405),
                new Probe("TRACE", request("TRACE", "/"), 405),
                new Probe("OPTIONS an app", request("OPTIONS", "/app"), 405),
                new Probe("OPTIONS a deep unknown path", request("OPTIONS", "/a/b/c/d/e/f"), 404),
                new Probe("HEAD a deep unknown path", request("HEAD", "/a/b/c/d/e/f"), 404),
                new Probe("HEAD an unknown app", request("HEAD", "/no-such-app"), 404),
                new Probe("HEAD an unknown instance", request("HEAD", "/no-such-app/instances/w1"), 404),
                new Probe("GET with !/", get("/app/instances/!/w1"), 405),
                new Probe("a bad percent-encoding in the path", get("/%ZZ"), 400),
                new Probe("an encoded slash", get("/a%2F..%2F..%2Fetc"), 400),
                new Probe("a bad query value", get("/app/instances/w1/log?lines=many"), 400),
                new Probe("a header too large", request("GET", "/ping", "X-Big: " + big), 431),
                new Probe("a URI too long", get("/" + big), 414),
                new Probe("garbage", "GARBAGE\r\n\r\n", 400),
                new Probe("an unknown HTTP version", "GET / HTTP/7.1\r\nHost: 127.0.0.1\r\n\r\n", 505),
                new Probe("no Host header", "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 400),
                new Probe("two Host headers", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n", 400),
                new Probe("an unknown expectation", request("POST", "/app", "Expect: 200-ok", "Content-Length: 0"), 417),
                new Probe("a bad Content-Length", request("POST", "/app", "Content-Length: abc"), 400),
                new Probe("a body too large", post("/app", "application/json", "{\"a\": \"" + "x".repeat(1_100_000) + "\"}"), 413),
                new Probe("bad JSON", post("/app", "application/json", "{bad"), 400),
                new Probe("JSON not an object", post("/app", "application/json", "[1]"), 400),
                new Probe("an unknown charset", post("/app", "application/json; charset=bogus", "{}"), 400),
                new Probe("an unknown form charset", post("/app", "application/x-www-form-urlencoded; charset=bogus", "a=1"), 400),
                new Probe("a malformed chunked body",
                        "POST /app HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n"
                                + "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", 400));
        List<String> wrong = new ArrayList<>();
        for (Probe probe : probes) {
            String problem = check(probe);
            if (problem != null) {
                wrong.add(problem);
            }
        }
        assertTrue(wrong.isEmpty(), wrong.size() + " of " + probes.size() + " errors are not the API's JSON:\n"
                + String.join("\n", wrong));
    }

    @Test
    void headAnswersAsGetWithoutABody() throws Exception {
        RawHttp.Response ping = RawHttp.exchange(branch.port, request("HEAD", "/ping"));
        assertEquals(200, ping.status(), ping.toString());
        assertEquals("", ping.body());
        assertTrue(ping.header("content-type").startsWith("application/json"), ping.toString());
        RawHttp.Response unknown = RawHttp.exchange(branch.port, request("HEAD", "/no-such-app"));
        assertEquals(branch.call("GET", "/no-such-app").status(), unknown.status(), unknown.toString());
    }

    @Test
    void theErrorNamesTheUnknownMethod() throws Exception {
        RawHttp.Response response = RawHttp.exchange(branch.port, request("FROB", "/app"));
        assertEquals(405, response.status(), response.toString());
        assertTrue(response.body().contains("FROB"), response.toString());
    }
}
