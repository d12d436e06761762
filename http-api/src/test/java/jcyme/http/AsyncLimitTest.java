package jcyme.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Operations asked with {@code !/} run in a bounded pool with a bounded queue; beyond both they are refused with a 503. */
class AsyncLimitTest {
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    @TempDir
    Path tmp;

    @Test
    void aFullBackgroundPoolAnswers503() throws Exception {
        Path release = tmp.resolve("release");
        try (LocalBranch local = new LocalBranch(tmp, null)) {
            // every start of a worker of this app waits in its setup command until the test lets it go on
            local.branch.apps().put("pycon", Map.of("setup_cmd", "while [ ! -e '" + release + "' ]; do sleep 0.05; done"));
            RequestGuard guard = RequestGuard.of("127.0.0.1", local.branch.info().url(), List.of(), null);
            HttpApi api = new HttpApi(local.branch, null, null, guard, 1, 1).start("127.0.0.1", 0);
            try {
                assertEquals(202, post(api, "/pycon/instances/!/w0").statusCode(), "runs (held in its setup)");
                assertEquals(202, post(api, "/pycon/instances/!/w1").statusCode(), "waits");
                HttpResponse<String> refused = post(api, "/pycon/instances/!/w2");
                assertEquals(503, refused.statusCode(), refused.body());
                assertTrue(refused.body().startsWith("{\"error\":\"too many operations in the background (1 running, 1 waiting)"),
                        refused.body());
                assertEquals("1", refused.headers().firstValue("Retry-After").orElse(null));
            } finally {
                Files.createFile(release);
                api.close();
            }
        }
    }

    private static HttpResponse<String> post(HttpApi api, String path) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + api.port() + path))
                .timeout(Duration.ofSeconds(20)).POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
    }
}
