package jcyme.cli;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import jcyme.api.TaskDetail;
import jcyme.api.TaskInfo;
import jcyme.api.TaskPage;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code cyme tasks APP [filters]} and {@code cyme tasks show APP ID}: the task history of an app. */
@Command(name = "tasks", aliases = "task", mixinStandardHelpOptions = true,
        description = "The task history of an app (from its workers' Celery events), newest first; or one task.")
final class TasksCommand implements Runnable {
    @Spec CommandSpec spec;
    @Mixin ClientOptions options;

    @Parameters(paramLabel = "APP", arity = "0..1") String app;
    @Option(names = "--state", paramLabel = "S", description = "Only tasks in this state (SUCCESS, FAILURE, STARTED, ...).") String state;
    @Option(names = "--name", paramLabel = "N", description = "Only tasks of this name.") String name;
    @Option(names = "--worker", paramLabel = "W", description = "Only tasks of this worker (node or instance name).") String worker;
    @Option(names = {"-q", "--query"}, paramLabel = "QUERY",
            description = "A search: name:, state:, worker:, args:, kwargs:, result: and plain words, all of which must match.") String query;
    @Option(names = "--limit", paramLabel = "N", description = "At most N tasks (default 100, at most 1000).") Integer limit;

    @Override
    public void run() {
        if (app == null) {
            throw new ParameterException(spec.commandLine(), "Missing required parameter: 'APP'");
        }
        TaskPage page = options.client().tasks(app, state, name, worker, query, limit);
        PrintWriter out = spec.commandLine().getOut();
        if (options.json) {
            options.print(out, page);
            return;
        }
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"ID", "NAME", "STATE", "WORKER", "RUNTIME", "RECEIVED"});
        for (TaskInfo t : page.tasks()) {
            rows.add(new String[] {t.id(), dash(t.name()), t.state(), dash(t.worker()),
                    runtime(t.runtime()), dash(t.received())});
        }
        ClientOptions.table(out, rows);
        out.println(page.tasks().size() + " of " + page.total() + " task(s)");
        out.flush();
    }

    @Command(name = "show", mixinStandardHelpOptions = true, description = "One task: its fields, traceback and Celery events.")
    void show(@Parameters(paramLabel = "APP") String app, @Parameters(paramLabel = "ID") String id) {
        TaskDetail task = options.client().task(app, id);
        PrintWriter out = spec.commandLine().getOut();
        if (options.json) {
            options.print(out, task);
            return;
        }
        List<String[]> rows = new ArrayList<>();
        String[][] fields = {{"id", task.id()}, {"name", task.name()}, {"state", task.state()}, {"worker", task.worker()},
                {"instance", task.instance()}, {"received", task.received()}, {"started", task.started()},
                {"finished", task.finished()}, {"runtime", task.runtime() == null ? null : runtime(task.runtime())},
                {"retries", Integer.toString(task.retries())}, {"args", task.args()}, {"kwargs", task.kwargs()},
                {"result", task.result()}, {"exception", task.exception()}};
        for (String[] field : fields) {
            rows.add(new String[] {field[0] + ":", dash(field[1])});
        }
        ClientOptions.table(out, rows);
        if (task.traceback() != null) {
            out.println("traceback:");
            task.traceback().lines().forEach(line -> out.println("  " + line));
        }
        out.println("events:");
        for (Map<String, Object> event : task.events()) {
            String at = event.get("timestamp") instanceof Number n
                    ? java.time.Instant.ofEpochMilli(Math.round(n.doubleValue() * 1000)).toString() : String.valueOf(event.get("timestamp"));
            out.println("  " + at + "  " + event.get("type") + "  " + event.get("hostname"));
        }
        out.flush();
    }

    /** Seconds as a person reads them: 0.052ms, 12.300ms, 1.250s. */
    static String runtime(Double seconds) {
        if (seconds == null) return "-";
        return seconds < 1 ? String.format(Locale.ROOT, "%.3fms", seconds * 1000) : String.format(Locale.ROOT, "%.3fs", seconds);
    }

    private static String dash(String value) {
        return value == null ? "-" : value;
    }
}
