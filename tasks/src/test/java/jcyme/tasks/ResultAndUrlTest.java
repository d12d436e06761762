package jcyme.tasks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

class ResultAndUrlTest {

    @Test
    void failureHasCeleryShape() {
        TaskResult failure = TaskResult.failure("id1", TaskState.FAILURE,
                RemoteError.of(new ArithmeticException("/ by zero")), "trace");
        JsonNode json = Json.parse(failure.toBytes());
        assertEquals("id1", json.get("task_id").asText());
        assertEquals("FAILURE", json.get("status").asText());
        assertEquals("ArithmeticException", json.at("/result/exc_type").asText());
        assertEquals("/ by zero", json.at("/result/exc_message/0").asText());
        assertEquals("java.lang", json.at("/result/exc_module").asText());
        assertEquals(0, json.get("children").size());

        TaskResult parsed = TaskResult.parse(failure.toBytes());
        assertEquals(new RemoteError("ArithmeticException", "/ by zero", "java.lang"), parsed.error());
    }

    @Test
    void readsCeleryRevokedResult() {
        TaskResult revoked = TaskResult.parse(("{\"task_id\":\"t\",\"status\":\"REVOKED\",\"result\":{\"exc_type\":"
                + "\"TaskRevokedError\",\"exc_message\":[\"terminated\"],\"exc_module\":\"celery.exceptions\"},"
                + "\"traceback\":null,\"children\":[]}").getBytes());
        assertEquals(TaskState.REVOKED, revoked.state());
        assertEquals(RemoteError.revoked("terminated"), revoked.error());
    }

    @Test
    void brokerUrlsInCeleryForm() {
        BrokerUrl defaults = BrokerUrl.parse("amqp://guest:guest@localhost:5672//");
        assertEquals("/", defaults.virtualHost());
        assertEquals(5672, defaults.port());
        assertEquals("/", BrokerUrl.parse("amqp://127.0.0.1:5673/").virtualHost());
        BrokerUrl custom = BrokerUrl.parse("pyamqp://u%40x:p%3Aw@h/vh");
        assertEquals("u@x", custom.user());
        assertEquals("p:w", custom.password());
        assertEquals("vh", custom.virtualHost());
        assertEquals("amqp://u@x:********@h:5672/vh", custom.display());
        assertEquals(5671, BrokerUrl.parse("amqps://h//").port());
        assertThrows(IllegalArgumentException.class, () -> BrokerUrl.parse("redis://localhost:6379/0"));
        assertThrows(IllegalArgumentException.class, () -> BrokerUrl.parse("amqp:// bad"));
    }

    @Test
    void pythonRepr() {
        assertEquals("[1, 'a\\'b', None, True, {'k': [2.5]}]",
                Json.repr(Json.parse("[1, \"a'b\", null, true, {\"k\": [2.5]}]".getBytes())));
    }
}
