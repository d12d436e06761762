package jcyme.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code /metrics} and queue depth over HTTP, with a broker that does not answer. */
class MetricsRoutesTest {
    @TempDir
    Path tmp;

    @Test
    void aBrokerThatIsDownDoesNotFailTheScrapeAndNoPasswordShows() throws Exception {
        try (LocalBranch local = new LocalBranch(tmp, "s3cret")) {
            local.branch.apps().put("pycon", Map.of("broker", "amqp://jcyme:hunter2@127.0.0.1:1/prod", "default_queues", List.of("images")));

            assertEquals(401, local.get("/metrics", null).statusCode(), "the token guards /metrics too");
            HttpResponse<String> scrape = local.get("/metrics", "s3cret");
            assertEquals(200, scrape.statusCode(), scrape.body());
            assertTrue(scrape.headers().firstValue("Content-Type").orElse("").startsWith("text/plain; version=0.0.4"), scrape.headers().toString());
            assertTrue(scrape.body().contains("jcyme_broker_up{broker=\"amqp://127.0.0.1:1/prod\"} 0.0"), scrape.body());
            assertTrue(scrape.body().contains("jcyme_branch_up{branch=\"local\"} 1.0"), scrape.body());
            assertTrue(scrape.body().contains("jcyme_cluster_branches 1.0"), scrape.body());
            assertFalse(scrape.body().contains("hunter2"), scrape.body());
            assertFalse(scrape.body().contains("jcyme_queue_messages{"), "no depth from a broker that is down: " + scrape.body());

            HttpResponse<String> depth = local.get("/pycon/queues/images/depth", "s3cret");
            assertEquals(502, depth.statusCode(), depth.body());
            assertTrue(depth.body().startsWith("{\"error\":\"broker amqp://127.0.0.1:1/prod of app 'pycon' cannot be reached"), depth.body());
            assertFalse(depth.body().contains("hunter2"), depth.body());
            assertEquals(404, local.get("/nope/queues/images/depth", "s3cret").statusCode());
            HttpResponse<String> bad = local.get("/pycon/queues/..bad/depth", "s3cret");
            assertEquals(400, bad.statusCode(), bad.body());
        }
    }
}
