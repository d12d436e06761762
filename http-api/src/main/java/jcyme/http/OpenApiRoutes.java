package jcyme.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javalin.Javalin;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import jcyme.tasks.Json;

/**
 * {@code GET /openapi.json}: the OpenAPI 3 document of every route, from {@code openapi.json}
 * beside this class, with the {@code !/} twin of each operation marked {@code x-jcyme-async}
 * (202 at once; a GET on the twin is 405) added as the router adds them.
 */
final class OpenApiRoutes {
    static final String RESOURCE = "openapi.json";
    private static final List<String> METHODS = List.of("get", "put", "post", "delete", "patch", "head", "options");

    private OpenApiRoutes() {}

    static void register(Javalin app) {
        byte[] document = Json.bytes(document());
        app.get("/openapi.json", ctx -> ctx.contentType("application/json").result(document));
    }

    /** The document as served. */
    static ObjectNode document() {
        ObjectNode document;
        try (InputStream in = OpenApiRoutes.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException(RESOURCE + " is missing from the class path");
            }
            document = (ObjectNode) Json.MAPPER.readTree(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        ObjectNode paths = (ObjectNode) document.get("paths");
        List<Map.Entry<String, JsonNode>> entries = new ArrayList<>();
        paths.fields().forEachRemaining(entries::add);
        for (Map.Entry<String, JsonNode> entry : entries) {
            for (String method : METHODS) {
                JsonNode operation = entry.getValue().get(method);
                if (operation != null && operation.path("x-jcyme-async").asBoolean()) {
                    addAsyncTwin(paths, entry.getKey(), entry.getValue(), method, (ObjectNode) operation);
                }
            }
        }
        return document;
    }

    private static void addAsyncTwin(ObjectNode paths, String path, JsonNode item, String method, ObjectNode operation) {
        String twinPath = path.replace("/instances", "/instances/" + HttpApi.ASYNC);
        ObjectNode twin = paths.has(twinPath) ? (ObjectNode) paths.get(twinPath) : paths.putObject(twinPath);
        if (item.has("parameters") && !twin.has("parameters")) {
            twin.set("parameters", item.get("parameters").deepCopy());
        }
        ObjectNode async = operation.deepCopy();
        async.remove("x-jcyme-async");
        async.put("summary", operation.path("summary").asText() + ", in the background");
        ObjectNode responses = async.putObject("responses");
        responses.putObject("202").put("description", "scheduled: {\"ok\": \"operation scheduled\"}");
        responses.putObject("401").put("$ref", "#/components/responses/Error");
        twin.set(method, async);
        if (!twin.has("get")) {
            ObjectNode refused = twin.putObject("get");
            refused.put("summary", "Refused: an operation with !/ cannot be a GET");
            refused.putObject("responses").putObject("405").put("$ref", "#/components/responses/Error");
        }
    }
}
