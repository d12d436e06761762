package jcyme.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import jcyme.tasks.Json;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What the seeds say of an app: MAUS's numeric config ids are accepted, and Cyme shows the broker an app really uses. */
class AppAnswersTest {
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    @TempDir
    Path tmp;

    @Test
    void aNumericConfigIdIsAcceptedAsItsDigits() throws Exception {
        try (LocalBranch local = new LocalBranch(tmp, null)) {
            put(local, "/pycon", "{}");
            HttpResponse<String> pushed = put(local, "/pycon/config", "{\"config_id\": 123, \"config\": {\"level\": 1}}");
            assertEquals(200, pushed.statusCode(), pushed.body());
            assertEquals("{\"changed\":true,\"config_id\":\"123\"}", pushed.body());
            assertEquals("123", local.branch.apps().get("pycon").configId());
            assertEquals("{\"changed\":false,\"config_id\":\"123\"}", put(local, "/pycon/config", "{\"config_id\": \"123\"}").body(),
                    "the same id as a string is the same id");
            assertEquals(200, put(local, "/pycon/config", "{\"config_id\": \"c2\"}").statusCode(), "a string still works");
            for (String bad : new String[] {"1.5", "true", "[1]"}) {
                HttpResponse<String> refused = put(local, "/pycon/config", "{\"config_id\": " + bad + "}");
                assertEquals(400, refused.statusCode(), bad + ": " + refused.body());
                assertEquals("{\"error\":\"config_id must be a string or a whole number\"}", refused.body());
            }
            assertEquals("c2", local.branch.apps().get("pycon").configId(), "a refused push changes nothing");
        }
    }

    @Test
    void anAppWithoutABrokerShowsTheBranchsAndKeepsFollowingIt() throws Exception {
        String shown = "amqp://guest:********@127.0.0.1:1//";
        try (LocalBranch local = new LocalBranch(tmp, null)) {
            JsonNode created = Json.MAPPER.readTree(put(local, "/pycon", "{}").body());
            assertEquals(shown, created.path("broker").asText(), created.toString());
            assertEquals(shown, Json.MAPPER.readTree(local.get("/pycon", null).body()).path("broker").asText());
            // what a client read, sent back, is still none given
            assertEquals(200, put(local, "/pycon", "{\"broker\": \"" + shown + "\", \"max_concurrency\": 6}").statusCode());
            put(local, "/shop", "{\"broker\": \"amqp://app:secret@127.0.0.1:1/shop\"}");
            JsonNode own = Json.MAPPER.readTree(local.get("/shop", null).body());
            assertEquals("amqp://app:********@127.0.0.1:1/shop", own.path("broker").asText());
            assertFalse(own.toString().contains("secret"), own.toString());
        }
        // the branch restarted with another broker: the app without one follows it, the other keeps its own
        try (LocalBranch local = new LocalBranch(tmp, null, "amqp://guest:guest@127.0.0.1:2//")) {
            assertEquals("amqp://guest:********@127.0.0.1:2//", Json.MAPPER.readTree(local.get("/pycon", null).body()).path("broker").asText());
            assertEquals(6, Json.MAPPER.readTree(local.get("/pycon", null).body()).path("max_concurrency").asInt());
            assertEquals("amqp://app:********@127.0.0.1:1/shop", Json.MAPPER.readTree(local.get("/shop", null).body()).path("broker").asText());
        }
    }

    private static HttpResponse<String> put(LocalBranch local, String path, String json) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + local.api.port() + path))
                .timeout(Duration.ofSeconds(20)).header("Content-Type", "application/json")
                .PUT(HttpRequest.BodyPublishers.ofString(json)).build(), HttpResponse.BodyHandlers.ofString());
    }
}
