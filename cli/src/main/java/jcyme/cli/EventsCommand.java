package jcyme.cli;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import jcyme.api.Event;
import jcyme.api.EventPage;
import jcyme.client.BranchClient;
import jcyme.tasks.Json;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code cyme events [--since N] [--follow] [--json]}: the branch's event log, one line per event. */
@Command(name = "events", mixinStandardHelpOptions = true,
        description = "The branch's event log: instance transitions, exits, restarts, autoscale, binds, app and branch changes.")
final class EventsCommand implements Runnable {
    @Spec CommandSpec spec;
    @Mixin ClientOptions options;

    @Option(names = "--since", paramLabel = "SEQ", description = "Events after this one (default: the newest --limit).")
    Long since;

    @Option(names = {"-n", "--limit"}, paramLabel = "N", defaultValue = "100", description = "At most N events (default: ${DEFAULT-VALUE}).")
    int limit;

    @Option(names = {"-f", "--follow"}, description = "Then print every event as it happens (task and worker events too), until interrupted.")
    boolean follow;

    @Override
    public void run() {
        PrintWriter out = spec.commandLine().getOut();
        BranchClient client = options.client();
        EventPage page = client.events(since, limit);
        if (!follow) {
            if (options.json) {
                options.print(out, page);
                return;
            }
            List<String[]> rows = new ArrayList<>();
            rows.add(new String[] {"TIME", "KIND", "APP/INSTANCE", "DETAILS"});
            page.events().forEach(event -> rows.add(row(event)));
            ClientOptions.table(out, rows);
            out.flush();
            return;
        }
        page.events().forEach(event -> print(out, event));
        long next = page.next();
        while (true) {
            next = client.followEvents(next, event -> print(out, event));
        }
    }

    /** One line as it arrives: JSON with --json, else the row's columns at fixed widths. */
    private void print(PrintWriter out, Event event) {
        if (options.json) {
            out.println(Json.MAPPER.valueToTree(event).toString());
        } else {
            String[] row = row(event);
            out.println(String.format("%-26s%-20s%-28s%s", row[0], row[1], row[2], row[3]).stripTrailing());
        }
        out.flush();
    }

    /** time, kind, app/instance (or what the event is about), and its other fields as name=value. */
    static String[] row(Event event) {
        String app = event.text("app");
        String instance = event.text("instance");
        String about = app != null && instance != null ? app + "/" + instance : app != null ? app : instance != null ? instance : "-";
        StringBuilder rest = new StringBuilder();
        for (Map.Entry<String, Object> field : event.fields().entrySet()) {
            if (field.getKey().equals("app") || field.getKey().equals("instance") || field.getValue() == null) {
                continue;
            }
            Object value = field.getValue();
            String text = value instanceof String s ? s : Json.MAPPER.valueToTree(value).toString();
            rest.append(rest.length() == 0 ? "" : " ").append(field.getKey()).append('=').append(text.contains(" ") ? "'" + text + "'" : text);
        }
        return new String[] {event.time(), event.kind(), about, rest.toString()};
    }
}
