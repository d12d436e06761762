package jcyme.cli;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import jcyme.api.App;
import jcyme.client.BranchClient;
import jcyme.client.BranchException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code cyme purge APP [-Q q,...] [-f]}, like {@code celery purge}: drops every waiting message
 * of the app's queues (the ones given, else every queue the app knows) after asking.
 */
@Command(name = "purge", mixinStandardHelpOptions = true,
        description = "Drop every waiting task of an app's queues (all it knows: declared, default and its instances' queues).")
final class PurgeCommand implements java.util.concurrent.Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin ClientOptions options;

    @Parameters(paramLabel = "APP") String app;

    @Option(names = {"-Q", "--queues"}, split = ",", paramLabel = "QUEUE", description = "Only these queues (comma-separated).")
    List<String> queues;

    @Option(names = {"-f", "--force"}, description = "Do not ask.")
    boolean force;

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        BranchClient client = options.client();
        List<String> targets = queues == null || queues.isEmpty() ? known(client) : List.copyOf(new LinkedHashSet<>(queues));
        if (targets.isEmpty()) {
            out.println("No known task queues of " + app + " to purge.");
            out.flush();
            return 0;
        }
        if (!force && !confirmed(out, targets)) {
            return 1;
        }
        long purged = 0;
        List<Map<String, Object>> each = new ArrayList<>();
        for (String queue : targets) {
            int n = purge(client, queue);
            purged += n;
            each.add(Map.of("queue", queue, "purged", n));
        }
        if (options.json) {
            options.print(out, Map.of("purged", purged, "queues", each));
        } else {
            out.println("Purged " + purged + " messages from " + targets.size() + " known task queues.");
            out.flush();
        }
        return 0;
    }

    /** Purges one queue; a queue the broker does not have (yet) holds nothing, as {@code celery purge} counts it. */
    private int purge(BranchClient client, String queue) {
        try {
            return client.purge(app, queue);
        } catch (BranchException e) {
            if (e.status() == 404 && e.getMessage().contains("has no queue")) {
                return 0;
            }
            throw e;
        }
    }

    /** The app's declared and default queues and the queues its instances consume, each once. */
    private List<String> known(BranchClient client) {
        Set<String> names = new LinkedHashSet<>(client.queues(app));
        App owner = client.app(app);
        if (owner.defaultQueues() != null) {
            names.addAll(owner.defaultQueues());
        }
        for (String instance : client.instances(app)) {
            names.addAll(client.instance(app, instance).queues());
        }
        return List.copyOf(names);
    }

    /** Asks on stdin: only a "y" or "yes" answer purges; a closed stdin (no answer) refuses. */
    private boolean confirmed(PrintWriter out, List<String> targets) throws IOException {
        out.print("You are about to purge " + targets.size() + " known task queues of " + app + ": " + String.join(", ", targets) + ". Are you sure? [y/N] ");
        out.flush();
        String answer = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();
        if (answer == null) {
            out.println();
            out.flush();
            spec.commandLine().getErr().println("cyme: refusing to purge without an answer (stdin is closed); use -f to purge anyway");
            return false;
        }
        if (!List.of("y", "yes").contains(answer.trim().toLowerCase(Locale.ROOT))) {
            spec.commandLine().getErr().println("cyme: purge cancelled, nothing purged");
            return false;
        }
        return true;
    }
}
