package jcyme.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import jcyme.tasks.Json;
import jcyme.tasks.TaskMessage;
import org.junit.jupiter.api.Test;

/** Celery's rules the worker follows: pidbox addressing, rate limits, what follows a task. */
class CeleryRulesTest {

    @Test
    void aControlMessageIsForThisNodeByDestinationElsePatternElseAlways() {
        Pidbox box = new Pidbox("jw1@host", new ControlCommands(), new LamportClock());
        assertTrue(box.isForMe(Json.tree(java.util.Map.of("method", "ping"))));
        assertTrue(box.isForMe(Json.parse("{\"destination\": [\"a@b\", \"jw1@host\"]}".getBytes())));
        assertFalse(box.isForMe(Json.parse("{\"destination\": [\"a@b\"], \"pattern\": \"*\", \"matcher\": \"glob\"}".getBytes())));
        assertTrue(box.isForMe(Json.parse("{\"destination\": null, \"pattern\": \"jw*\", \"matcher\": \"glob\"}".getBytes())));
        assertFalse(box.isForMe(Json.parse("{\"pattern\": \"pw*\", \"matcher\": \"glob\"}".getBytes())));
        assertTrue(box.isForMe(Json.parse("{\"pattern\": \"jw\\\\d\", \"matcher\": \"pcre\"}".getBytes())), "re.match anchors at the start only");
        assertFalse(box.isForMe(Json.parse("{\"pattern\": \"host\", \"matcher\": \"pcre\"}".getBytes())));
        assertFalse(box.isForMe(Json.parse("{\"pattern\": \"(\", \"matcher\": \"pcre\"}".getBytes())), "a broken pattern matches nothing");
    }

    @Test
    void rateLimitsSpaceTasksEvenly() {
        RateLimit limit = RateLimit.parse("120/m");
        assertEquals("120/m", limit.text());
        assertEquals(0, limit.reserve());
        long second = limit.reserve();
        assertTrue(second > 400 && second <= 500, "the second of 2/s waits about 500 ms, got " + second);
        assertNull(RateLimit.parse(""));
        assertNull(RateLimit.parse("0"));
        assertEquals("5", RateLimit.parse("5").text());
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class, () -> RateLimit.parse("x/m"));
        assertEquals("ValueError(\"could not convert string to float: 'x'\")", bad.getMessage());
        assertThrows(IllegalArgumentException.class, () -> RateLimit.parse("1/d"));
    }

    @Test
    void aChainSendsItsNextStepWithTheResultAndTheRest() {
        ObjectNode embed = TaskMessage.defaultEmbed();
        ArrayNode chain = embed.putArray("chain");
        chain.add(Json.parse("{\"task\": \"tasks.last\", \"args\": [1], \"kwargs\": {}, \"options\": {\"queue\": \"q\"}}".getBytes()));
        chain.add(Json.parse(("{\"task\": \"tasks.add\", \"args\": [4], \"kwargs\": {}, \"options\": {\"queue\": \"q\","
                + " \"task_id\": \"id-2\", \"reply_to\": \"client\"}, \"immutable\": false}").getBytes()));
        TaskMessage parent = message(embed);
        List<Canvas.Next> next = Canvas.onSuccess(parent, Json.tree(4), "jw@h");
        assertEquals(1, next.size());
        TaskMessage step = next.get(0).message();
        assertEquals("tasks.add", step.task());
        assertEquals("id-2", step.id());
        assertEquals("[4,4]", step.args().toString());
        assertEquals("client", step.replyTo());
        assertEquals("id-1", step.parentId());
        assertEquals("root", step.rootId());
        assertEquals("q", next.get(0).queue().name());
        assertEquals("tasks.last", step.embed().get("chain").get(0).get("task").asText(), "the rest of the chain travels on");
        assertTrue(Canvas.onFailure(parent, "jw@h").isEmpty());
    }

    @Test
    void callbacksGetTheResultErrbacksTheFailedId() {
        ObjectNode embed = TaskMessage.defaultEmbed();
        embed.putArray("callbacks").add(Json.parse("{\"task\": \"tasks.echo\", \"args\": [\"x\"], \"options\": {}}".getBytes()))
                .add(Json.parse("{\"task\": \"tasks.noop\", \"args\": [], \"immutable\": true, \"options\": {}}".getBytes()));
        embed.putArray("errbacks").add(Json.parse("{\"task\": \"tasks.echo\", \"args\": [], \"options\": {\"queue\": \"e\"}}".getBytes()));
        TaskMessage parent = message(embed);
        List<Canvas.Next> done = Canvas.onSuccess(parent, Json.tree("r"), "jw@h");
        assertEquals("[\"r\",\"x\"]", done.get(0).message().args().toString());
        assertEquals("[]", done.get(1).message().args().toString(), "immutable: no result argument");
        assertEquals("celery", done.get(0).queue().name(), "no queue option: Celery's default queue");
        assertNull(done.get(0).message().replyTo());
        List<Canvas.Next> failed = Canvas.onFailure(parent, "jw@h");
        assertEquals("[\"id-1\"]", failed.get(0).message().args().toString());
        assertEquals("e", failed.get(0).queue().name());
    }

    private static TaskMessage message(ObjectNode embed) {
        return new TaskMessage("id-1", "tasks.add", Json.MAPPER.createArrayNode().add(2).add(2), Json.MAPPER.createObjectNode(),
                embed, 0, null, null, null, null, "root", null, null, "gen1@h", false, "client", "id-1");
    }
}
