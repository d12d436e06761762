package jcyme.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Cyme's own Python client ({@code cyme.Client}, 0.0.5, on python-requests) against a real branch:
 * its requests replayed byte for byte — its paths (always a trailing slash), its headers, its
 * form-encoded bodies with every unset argument sent as an empty value, no body where it sends
 * none — and checked against what it needs back: a 2xx (anything else raises HTTPError) with a
 * JSON body of the shape its models read.
 */
class CymeClientTest {
    @TempDir
    Path tmp;

    final String app = "cyme-" + UUID.randomUUID().toString().substring(0, 8);
    BranchProcess branch;

    @AfterEach
    void cleanUp() throws Exception {
        if (branch != null) {
            branch.close();
        }
        BranchProcess.killAllWith("-Djcyme.instance=" + app + "/");
        BranchProcess.killAllWith("-Djcyme.broker=" + tmp);
    }

    /** One request as python-requests sends it for {@code cyme.client.base.Client._request}. */
    private RawHttp.Response cyme(String method, String path, String form) throws Exception {
        StringBuilder request = new StringBuilder()
                .append(method).append(' ').append(path).append(" HTTP/1.1\r\n")
                .append("Host: 127.0.0.1:").append(branch.port).append("\r\n")
                .append("User-Agent: cyme-client:py '0.0.5'\r\n")
                .append("Accept-Encoding: gzip, deflate\r\n")
                .append("Accept: application/json\r\n")
                .append("Connection: keep-alive\r\n");
        byte[] body = form == null ? new byte[0] : form.getBytes(StandardCharsets.UTF_8);
        if (form != null) {
            request.append("Content-Length: ").append(body.length).append("\r\n")
                    .append("Content-Type: application/x-www-form-urlencoded\r\n");
        } else if (!method.equals("GET")) {
            request.append("Content-Length: 0\r\n");
        }
        request.append("\r\n").append(form == null ? "" : form);
        return RawHttp.exchange(branch.port, request.toString().getBytes(StandardCharsets.UTF_8), true);
    }

    /** The client's success path: r.ok, then the body deserialised as JSON. */
    private JsonNode ok(String method, String path, String form, int status) throws Exception {
        RawHttp.Response response = cyme(method, path, form);
        assertEquals(status, response.status(), method + " " + path + " [" + form + "] -> " + response);
        assertTrue(response.header("content-type").startsWith("application/json"), response.toString());
        return response.reply().json();
    }

    /** What {@code Instances.create_model} (dictshield's Instance document) reads and validates. */
    private static void assertInstanceModel(JsonNode instance, String name) {
        assertEquals(name, instance.path("name").asText(), instance.toString());
        for (String field : List.of("broker", "pool", "arguments", "extra_config")) {
            assertTrue(instance.has(field), field + " in " + instance);
            assertFalse(instance.get(field).isTextual() && instance.get(field).asText().isEmpty(),
                    field + " stored as an empty string: " + instance);
        }
        assertTrue(instance.path("min_concurrency").isIntegralNumber(), instance.toString());
        assertTrue(instance.path("max_concurrency").isIntegralNumber(), instance.toString());
        assertTrue(instance.path("is_enabled").isBoolean(), instance.toString());
        assertTrue(instance.path("queues").isArray(), instance.toString());
        instance.path("queues").forEach(queue -> assertTrue(queue.isTextual(), instance.toString()));
    }

    /** What {@code Queues.create_model} (dictshield's Queue document) reads and validates. */
    private static void assertQueueModel(JsonNode queue, String name) {
        assertEquals(name, queue.path("name").asText(), queue.toString());
        for (String field : List.of("exchange", "exchange_type", "routing_key")) {
            assertTrue(queue.path(field).isTextual() || queue.path(field).isNull(), field + " in " + queue);
        }
    }

    private static List<String> texts(JsonNode array) {
        assertTrue(array.isArray(), array.toString());
        List<String> out = new ArrayList<>();
        array.forEach(item -> out.add(item.asText()));
        return out;
    }

    @Test
    void theCymeClientConversationWorksUnchanged() throws Exception {
        branch = new BranchProcess(tmp.resolve("instances"), "--no-cluster",
                "--broker-port", Integer.toString(BranchProcess.freePort())).start();
        String empty = "broker=&arguments=&extra_config=";

        // Client().all(); client.add(name) -> an app-bound client; client.get(name)
        assertFalse(texts(ok("GET", "/", null, 200)).contains(app));
        JsonNode created = ok("POST", "/" + app + "/", empty, 201);
        assertEquals(app, created.path("name").asText());
        assertFalse(created.path("broker").isTextual() && created.path("broker").asText().isEmpty(),
                "an empty broker means none given, not the broker \"\": " + created);
        assertEquals(app, ok("GET", "/" + app + "/", null, 200).path("name").asText());
        assertTrue(texts(ok("GET", "/", null, 200)).contains(app));

        // client.branches, client.branch_info(id)
        List<String> branches = texts(ok("GET", "/branches/", null, 200));
        assertEquals(1, branches.size(), branches.toString());
        assertEquals(branches.get(0), ok("GET", "/branches/" + branches.get(0) + "/", null, 200).path("id").asText());

        // app.instances.add('w1'), app.instances.add() (a UUID name), all_names(), get()
        assertEquals(List.of(), texts(ok("GET", "/" + app + "/instances/", null, 200)));
        assertInstanceModel(ok("POST", "/" + app + "/instances/w1/", empty, 201), "w1");
        JsonNode unnamed = ok("POST", "/" + app + "/instances/", empty, 201);
        String generated = unnamed.path("name").asText();
        assertEquals(generated, UUID.fromString(generated).toString());
        assertInstanceModel(unnamed, generated);
        assertEquals(List.of(generated, "w1").stream().sorted().toList(),
                texts(ok("GET", "/" + app + "/instances/", null, 200)).stream().sorted().toList());
        JsonNode[] w1 = new JsonNode[1];
        Wait.until(Duration.ofSeconds(60), "w1 RUNNING", () -> {
            try {
                w1[0] = ok("GET", "/" + app + "/instances/w1/", null, 200);
                return w1[0].path("state").asText().equals("RUNNING");
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        }, () -> w1[0] + "\n" + branch.log());
        assertInstanceModel(w1[0], "w1");

        // instance.autoscale(max=10, min=4); autoscale(min=2) sends max= empty; autoscale() reads
        JsonNode bounds = ok("POST", "/" + app + "/instances/w1/autoscale/?max=10&min=4", null, 200);
        assertEquals(10, bounds.path("max").asInt());
        assertEquals(4, bounds.path("min").asInt());
        bounds = ok("POST", "/" + app + "/instances/w1/autoscale/?max=&min=2", null, 200);
        assertEquals(10, bounds.path("max").asInt(), bounds.toString());
        assertEquals(2, bounds.path("min").asInt(), bounds.toString());
        bounds = ok("POST", "/" + app + "/instances/w1/autoscale/?max=&min=", null, 200);
        assertEquals(10, bounds.path("max").asInt(), bounds.toString());
        assertEquals(2, bounds.path("min").asInt(), bounds.toString());

        // instance.stats()
        JsonNode stats = ok("GET", "/" + app + "/instances/w1/stats/", null, 200);
        assertEquals(10, stats.at("/autoscaler/max").asInt(), stats.toString());

        // app.queues.add(name) with every argument unset, and with some given; all_names(); get()
        assertQueueModel(ok("POST", "/" + app + "/queues/q1/", "exchange=&exchange_type=&routing_key=&options=", 201), "q1");
        JsonNode q2 = ok("POST", "/" + app + "/queues/q2/", "exchange=q2ex&exchange_type=direct&routing_key=x&options=", 201);
        assertQueueModel(q2, "q2");
        assertEquals("q2ex", q2.path("exchange").asText());
        assertEquals("x", q2.path("routing_key").asText());
        assertEquals(List.of("q1", "q2"), texts(ok("GET", "/" + app + "/queues/", null, 200)).stream().sorted().toList());
        assertQueueModel(ok("GET", "/" + app + "/queues/q1/", null, 200), "q1");

        // instance.consumers.add(q) (POST, no body), all_names() (a dict by queue), delete(q)
        ok("POST", "/" + app + "/instances/w1/queues/q1/", null, 201);
        Wait.until(Duration.ofSeconds(30), "w1 to consume q1", () -> {
            try {
                return ok("GET", "/" + app + "/instances/w1/queues/", null, 200).has("q1");
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        }, branch::log);
        ok("DELETE", "/" + app + "/instances/w1/queues/q1/", null, 200);
        Wait.until(Duration.ofSeconds(30), "w1 to stop consuming q1", () -> {
            try {
                return !ok("GET", "/" + app + "/instances/w1/queues/", null, 200).has("q1");
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        }, branch::log);

        // queue.delete(); instances.delete(name, nowait=True); instances.delete(name); client.delete(app)
        ok("DELETE", "/" + app + "/queues/q2/", null, 200);
        assertEquals(List.of("q1"), texts(ok("GET", "/" + app + "/queues/", null, 200)));
        assertEquals(202, cyme("DELETE", "/" + app + "/instances/!/" + generated + "/", null).status());
        ok("DELETE", "/" + app + "/instances/w1/", null, 200);
        Wait.until(Duration.ofSeconds(60), "both instances gone", () -> {
            try {
                return texts(ok("GET", "/" + app + "/instances/", null, 200)).isEmpty();
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        }, branch::log);
        ok("DELETE", "/" + app + "/", null, 200);
        assertNotEquals(200, cyme("GET", "/" + app + "/", null).status());
    }

    @Test
    void emptyFormValuesAreNotGivenAndGivenOnesStillCount() throws Exception {
        branch = new BranchProcess(tmp.resolve("instances"), "--no-cluster",
                "--broker-port", Integer.toString(BranchProcess.freePort())).start();
        JsonNode created = ok("POST", "/" + app + "/",
                "broker=amqp%3A%2F%2Fguest%3Aguest%40127.0.0.1%3A1%2F%2F&arguments=&extra_config=", 201);
        assertEquals("amqp://guest:********@127.0.0.1:1//", created.path("broker").asText(), "stored, shown masked");
        // an empty value leaves a stored field as it was
        JsonNode updated = ok("PUT", "/" + app + "/", "broker=&max_concurrency=7", 200);
        assertEquals("amqp://guest:********@127.0.0.1:1//", updated.path("broker").asText(), updated.toString());
        assertEquals(7, updated.path("max_concurrency").asInt());
        // the query string reads the same way
        updated = ok("PUT", "/" + app + "/?broker=&min_concurrency=2&extra_config=", null, 200);
        assertEquals("amqp://guest:********@127.0.0.1:1//", updated.path("broker").asText(), updated.toString());
        assertEquals(2, updated.path("min_concurrency").asInt());
        ok("DELETE", "/" + app + "/", null, 200);
    }
}
