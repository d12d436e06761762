package jcyme.http;

import io.javalin.Javalin;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import java.io.ByteArrayOutputStream;
import jcyme.branch.Branch;

/**
 * {@code GET /metrics} in Prometheus' text format (behind the token when the branch has one), and
 * {@code GET /<app>/queues/<q>/depth}, which the dashboard charts.
 */
final class MetricsRoutes {
    private MetricsRoutes() {}

    static void register(Javalin app, Branch branch) {
        PrometheusTextFormatWriter writer = PrometheusTextFormatWriter.create();
        app.get("/metrics", ctx -> {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            writer.write(out, branch.metrics().scrape());
            ctx.contentType(writer.getContentType()).result(out.toByteArray());
        });
        app.get("/{app}/queues/{queue}/depth", ctx -> ctx.json(branch.metrics().queueDepth(ctx.pathParam("app"), ctx.pathParam("queue"))));
    }
}
