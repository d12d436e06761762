package jcyme.http;

import io.javalin.Javalin;
import java.util.Map;
import jcyme.branch.Branch;

/**
 * The task history: {@code GET /<app>/tasks?state=&name=&worker=&q=&limit=} (newest first, with
 * the total that matched) and {@code GET /<app>/tasks/<id>} (also its traceback and events).
 * Every branch follows all events of its apps' brokers, so each answers from its own history.
 */
final class TaskRoutes {
    private TaskRoutes() {}

    static void register(Javalin app, Branch branch) {
        app.get("/{app}/tasks", ctx -> {
            Map<String, Object> params = Params.of(ctx);
            ctx.json(branch.tasks().history(ctx.pathParam("app"), Params.text(params, "state"), Params.text(params, "name"),
                    Params.text(params, "worker"), Params.text(params, "q"), Params.integer(params, "limit")));
        });
        app.get("/{app}/tasks/{id}", ctx -> ctx.json(branch.tasks().historyOf(ctx.pathParam("app"), ctx.pathParam("id"))));
    }
}
