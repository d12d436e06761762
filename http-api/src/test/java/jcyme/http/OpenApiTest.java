package jcyme.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import jcyme.tasks.Json;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code GET /openapi.json} documents exactly the routes the router holds, each with its method. */
class OpenApiTest {

    @TempDir
    Path tmp;

    @Test
    void theDocumentHoldsEveryRouteAndNothingElse() throws Exception {
        try (LocalBranch local = new LocalBranch(tmp, null)) {
            HttpResponse<String> reply = local.get("/openapi.json", null);
            assertEquals(200, reply.statusCode(), reply.body());
            JsonNode document = Json.parse(reply.body().getBytes());
            assertTrue(document.path("openapi").asText().startsWith("3."), reply.body());

            Set<String> documented = new TreeSet<>();
            document.path("paths").fields().forEachRemaining(path -> path.getValue().fieldNames().forEachRemaining(method -> {
                if (!method.equals("parameters")) {
                    documented.add(method.toUpperCase() + " " + shape(path.getKey()));
                }
            }));
            Set<String> routed = new TreeSet<>();
            local.api.registeredRoutes().forEach(route -> routed.add(shape(route)));
            assertTrue(routed.size() > 40, "the router's routes: " + routed);

            Set<String> undocumented = new TreeSet<>(routed);
            undocumented.removeAll(documented);
            assertEquals(Set.of(), undocumented, "routes missing from /openapi.json");
            Set<String> notRouted = new TreeSet<>(documented);
            notRouted.removeAll(routed);
            assertEquals(Set.of(), notRouted, "documented routes the router does not have");
        }
    }

    @Test
    void everyPathParameterIsDeclaredAndEveryReferenceResolves() throws Exception {
        JsonNode document = OpenApiRoutes.document();
        document.path("paths").fields().forEachRemaining(path -> {
            Set<String> declared = new TreeSet<>();
            path.getValue().path("parameters").forEach(p -> declared.add(resolve(document, p).path("name").asText()));
            Set<String> inPath = new TreeSet<>();
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("\\{([^}]+)}").matcher(path.getKey());
            while (m.find()) {
                inPath.add(m.group(1));
            }
            assertEquals(inPath, declared, "path parameters of " + path.getKey());
        });
        for (String ref : references(document, new TreeSet<>())) {
            assertTrue(!resolve(document, Json.MAPPER.createObjectNode().put("$ref", ref)).isMissingNode(), "unresolved " + ref);
        }
    }

    /** {@code GET /{app}/instances/{name}} and {@code GET /{}/instances/{}} are the same route. */
    private static String shape(String route) {
        return route.replaceAll("\\{[^}]*}", "{}");
    }

    private static JsonNode resolve(JsonNode document, JsonNode node) {
        if (!node.has("$ref")) {
            return node;
        }
        return document.at(node.get("$ref").asText().substring(1));
    }

    private static Set<String> references(JsonNode node, Set<String> found) {
        if (node.has("$ref")) {
            found.add(node.get("$ref").asText());
        }
        node.forEach(child -> references(child, found));
        return found;
    }
}
