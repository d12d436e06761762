package jcyme.tasks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.rabbitmq.client.AMQP;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class TaskMessageTest {

    @Test
    void decodesWhatPythonCelerySends() throws Exception {
        // headers and body as captured from Celery 5.2.6 send_task('tasks.fib', args=[5], countdown=30, expires=600, ...)
        Map<String, Object> headers = new HashMap<>();
        headers.put("lang", "py");
        headers.put("task", "tasks.fib");
        headers.put("id", "972b0535-0000-4000-8000-000000000001");
        headers.put("shadow", null);
        headers.put("eta", "2026-11-22T22:09:10.595159+00:00");
        headers.put("expires", "2026-11-22T22:18:40.595159+00:00");
        headers.put("group", null);
        headers.put("retries", 0);
        headers.put("timelimit", Arrays.asList(10, 5));
        headers.put("root_id", "972b0535-0000-4000-8000-000000000001");
        headers.put("parent_id", null);
        headers.put("argsrepr", "[5]");
        headers.put("kwargsrepr", "{}");
        headers.put("origin", "gen22915@vm");
        headers.put("ignore_result", false);
        AMQP.BasicProperties props = new AMQP.BasicProperties.Builder()
                .contentType("application/json").contentEncoding("utf-8").deliveryMode(2).priority(0)
                .correlationId("972b0535-0000-4000-8000-000000000001")
                .replyTo("507916be-8084-36bf-a2d3-401381ebfb4e").headers(headers).build();
        byte[] body = "[[5], {}, {\"callbacks\": null, \"errbacks\": null, \"chain\": null, \"chord\": null}]"
                .getBytes(StandardCharsets.UTF_8);

        TaskMessage message = TaskMessage.decode(props, body);

        assertEquals("tasks.fib", message.task());
        assertEquals(5, message.args().get(0).asInt());
        assertEquals(Instant.parse("2026-11-22T22:09:10.595159Z"), message.eta());
        assertEquals(Instant.parse("2026-11-22T22:18:40.595159Z"), message.expires());
        assertEquals(Duration.ofSeconds(10), message.hardLimit(), "timelimit is [hard, soft]");
        assertEquals(Duration.ofSeconds(5), message.softLimit());
        assertEquals("507916be-8084-36bf-a2d3-401381ebfb4e", message.replyTo());
        assertFalse(message.ignoreResult());
    }

    @Test
    void encodeThenDecodeKeepsEverything() throws Exception {
        Instant eta = Instant.parse("2030-01-02T03:04:05.123456Z");
        TaskRequest request = TaskRequest.of("tasks.add").args(2, "three", List.of(4)).kwargs(Map.of("k", true))
                .eta(eta).expires(eta.plusSeconds(60)).timeLimits(Duration.ofSeconds(9), Duration.ofMillis(4500))
                .queue("q1").build();
        TaskMessage.Encoded encoded = request.toMessage("reply-q", "gen1@host").encode();

        assertEquals(2, encoded.properties().getDeliveryMode(), "tasks are persistent");
        assertEquals("[2, 'three', [4]]", encoded.properties().getHeaders().get("argsrepr"));
        TaskMessage decoded = TaskMessage.decode(encoded.properties(), encoded.body());
        assertEquals(request.id(), decoded.id());
        assertEquals(request.id(), decoded.correlationId());
        assertEquals("three", decoded.args().get(1).asText());
        assertTrue(decoded.kwargs().get("k").asBoolean());
        assertEquals(eta, decoded.eta());
        assertEquals(eta.plusSeconds(60), decoded.expires());
        assertEquals(Duration.ofSeconds(9), decoded.hardLimit());
        assertEquals(Duration.ofMillis(4500), decoded.softLimit());
        assertEquals("reply-q", decoded.replyTo());
    }

    @Test
    void ignoreResultSendsNoReplyTo() throws Exception {
        TaskMessage.Encoded encoded = TaskRequest.of("tasks.noop").ignoreResult(true).build()
                .toMessage("reply-q", "o").encode();
        assertNull(TaskMessage.decode(encoded.properties(), encoded.body()).replyTo());
    }

    @Test
    void rejectsMessagesThatAreNotTasks() {
        AMQP.BasicProperties noHeaders = new AMQP.BasicProperties.Builder().contentType("application/json").build();
        InvalidMessageException missing = assertThrows(InvalidMessageException.class,
                () -> TaskMessage.decode(noHeaders, "[[], {}, {}]".getBytes(StandardCharsets.UTF_8)));
        assertTrue(missing.getMessage().contains("'task' and 'id'"), missing.getMessage());

        AMQP.BasicProperties headers = new AMQP.BasicProperties.Builder().contentType("application/json")
                .headers(Map.of("task", "tasks.add", "id", "x")).build();
        assertThrows(InvalidMessageException.class,
                () -> TaskMessage.decode(headers, "not json".getBytes(StandardCharsets.UTF_8)));
        assertThrows(InvalidMessageException.class,
                () -> TaskMessage.decode(headers, "{\"args\": []}".getBytes(StandardCharsets.UTF_8)));
        AMQP.BasicProperties badEta = new AMQP.BasicProperties.Builder().contentType("application/json")
                .headers(Map.of("task", "tasks.add", "id", "x", "eta", "tomorrow")).build();
        assertThrows(InvalidMessageException.class,
                () -> TaskMessage.decode(badEta, "[[], {}, {}]".getBytes(StandardCharsets.UTF_8)));
    }

    @Test
    void toleratesPythonJson() throws Exception {
        AMQP.BasicProperties headers = new AMQP.BasicProperties.Builder().contentType("application/json")
                .headers(Map.of("task", "tasks.echo", "id", "x")).build();
        TaskMessage message = TaskMessage.decode(headers,
                "[[NaN, 123456789012345678901234567890], {}, {}]".getBytes(StandardCharsets.UTF_8));
        assertTrue(Double.isNaN(message.args().get(0).asDouble()));
        assertEquals("123456789012345678901234567890", message.args().get(1).bigIntegerValue().toString());
    }
}
