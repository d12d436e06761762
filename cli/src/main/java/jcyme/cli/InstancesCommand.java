package jcyme.cli;

import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jcyme.api.Instance;
import jcyme.client.BranchClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code cyme instances ...} */
@Command(name = "instances", aliases = "instance", mixinStandardHelpOptions = true,
        description = "Create, inspect, control and delete worker instances.")
final class InstancesCommand {
    static final Duration WAIT_TIMEOUT = Duration.ofSeconds(90);

    @Spec CommandSpec spec;
    @Mixin ClientOptions options;

    @Command(name = "list", description = "Instances of an app on every branch, with branch, state and pid.")
    void list(@Parameters(paramLabel = "APP") String app) {
        BranchClient client = options.client();
        List<String> names = client.instances(app);
        if (options.json) {
            options.print(out(), names);
            return;
        }
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"NAME", "BRANCH", "STATE", "PID", "QUEUES", "MIN..MAX", "RESTARTS"});
        for (String name : names) {
            try {
                Instance i = client.instance(app, name);
                rows.add(new String[] {i.name(), i.branch(), i.state(), String.valueOf(i.pid()), String.join(",", i.queues()),
                        i.minConcurrency() + ".." + i.maxConcurrency(), Integer.toString(i.restarts())});
            } catch (jcyme.client.BranchException e) {
                rows.add(new String[] {name, "?", "UNREACHABLE", "-", "-", "-", e.getMessage()});
            }
        }
        ClientOptions.table(out(), rows);
        out().flush();
    }

    @Command(name = "add", description = "Create and start an instance (name: a UUID when omitted).")
    int add(@Parameters(paramLabel = "APP") String app,
            @Parameters(paramLabel = "NAME", arity = "0..1") String name,
            @Option(names = {"-Q", "--queues"}, paramLabel = "Q", split = ",") List<String> queues,
            @Option(names = "--min", paramLabel = "N") Integer min,
            @Option(names = "--max", paramLabel = "N") Integer max,
            @Option(names = "--broker", paramLabel = "URL") String broker,
            @Option(names = "--branch", paramLabel = "ID", description = "Place it on this branch (default: the one asked).") String branch,
            @Option(names = "--placement", paramLabel = "POLICY",
                    description = "least-loaded: the branch with the fewest running instances.") String placement,
            @Option(names = "--wait", description = "Wait until it is RUNNING, showing progress.") boolean wait) {
        Map<String, Object> fields = new LinkedHashMap<>();
        if (queues != null) fields.put("queues", queues);
        if (min != null) fields.put("min", min);
        if (max != null) fields.put("max", max);
        if (broker != null) fields.put("broker", broker);
        if (branch != null) fields.put("branch", branch);
        if (placement != null) fields.put("placement", placement);
        Instance created = options.client().createInstance(app, name, fields);
        if (wait) {
            created = awaitRunning(app, created.name());
            if (!created.state().equals("RUNNING")) {
                spec.commandLine().getErr().println("cyme: instance " + created.name() + " is " + created.state()
                        + "; see 'cyme log " + app + " " + created.name() + "'");
                return 1;
            }
        }
        options.print(out(), created);
        return 0;
    }

    private Instance awaitRunning(String app, String name) {
        PrintWriter err = spec.commandLine().getErr();
        err.print("waiting for " + name + " to run ");
        long deadline = System.nanoTime() + WAIT_TIMEOUT.toNanos();
        Instance now = options.client().instance(app, name);
        while (!List.of("RUNNING", "FATAL").contains(now.state()) && System.nanoTime() < deadline) {
            err.print(".");
            err.flush();
            try {
                Thread.sleep(250);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
            now = options.client().instance(app, name);
        }
        err.println(" " + now.state());
        err.flush();
        return now;
    }

    @Command(name = "show", description = "An instance with its live state.")
    void show(@Parameters(paramLabel = "APP") String app, @Parameters(paramLabel = "NAME") String name) {
        options.print(out(), options.client().instance(app, name));
    }

    @Command(name = "delete", description = "Stop an instance (warm shutdown) and remove it and its directory.")
    void delete(@Parameters(paramLabel = "APP") String app, @Parameters(paramLabel = "NAME") String name) {
        options.client().deleteInstance(app, name);
        options.print(out(), Map.of("ok", "deleted " + name));
    }

    @Command(name = "restart", description = "Stop and start again (also leaves FATAL).")
    void restart(@Parameters(paramLabel = "APP") String app, @Parameters(paramLabel = "NAME") String name) {
        options.print(out(), options.client().restart(app, name));
    }

    @Command(name = "enable", description = "Want it running, and start it.")
    void enable(@Parameters(paramLabel = "APP") String app, @Parameters(paramLabel = "NAME") String name) {
        options.print(out(), options.client().enable(app, name));
    }

    @Command(name = "disable", description = "Stop it and keep it stopped.")
    void disable(@Parameters(paramLabel = "APP") String app, @Parameters(paramLabel = "NAME") String name) {
        options.print(out(), options.client().disable(app, name));
    }

    @Command(name = "autoscale", description = "Show, or with --min/--max set, the pool bounds (applied live).")
    void autoscale(@Parameters(paramLabel = "APP") String app, @Parameters(paramLabel = "NAME") String name,
                   @Option(names = "--min", paramLabel = "N") Integer min,
                   @Option(names = "--max", paramLabel = "N") Integer max) {
        BranchClient client = options.client();
        if (min == null && max == null) {
            options.print(out(), client.autoscale(app, name));
            return;
        }
        var current = client.autoscale(app, name);
        options.print(out(), client.setAutoscale(app, name, max == null ? current.max() : max, min == null ? current.min() : min));
    }

    @Command(name = "stats", description = "Live stats from the worker (Celery's shape).")
    void stats(@Parameters(paramLabel = "APP") String app, @Parameters(paramLabel = "NAME") String name) {
        options.print(out(), options.client().stats(app, name));
    }

    @Command(name = "log", description = "The last lines of the worker's log.")
    void log(@Parameters(paramLabel = "APP") String app, @Parameters(paramLabel = "NAME") String name,
             @Option(names = {"-n", "--lines"}, paramLabel = "N", defaultValue = "100") int lines) {
        out().print(options.client().log(app, name, lines));
        out().flush();
    }

    private PrintWriter out() {
        return spec.commandLine().getOut();
    }
}
