package jcyme.cli;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import jcyme.api.Instance;
import jcyme.client.BranchClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code cyme start-all|restart-all|shutdown-all APP}: every instance of an app on every branch,
 * found through {@code GET /<app>/instances} and reached through the branch asked (which forwards
 * to each owner), one progress line per instance.
 */
final class FleetCommands {
    private FleetCommands() {
    }

    /** Each instance of the app by the branch that owns it, in name order. */
    static Map<String, List<Instance>> byBranch(BranchClient client, String app) {
        Map<String, List<Instance>> branches = new TreeMap<>();
        for (String name : client.instances(app).stream().sorted().toList()) {
            Instance instance = client.instance(app, name);
            branches.computeIfAbsent(instance.branch(), b -> new ArrayList<>()).add(instance);
        }
        return branches;
    }

    /** One instance-changing call on every instance of the app, branch by branch, a progress line each. */
    private static int eachInstance(CommandSpec spec, BranchClient client, String app, String done,
                                    InstanceCall action) {
        PrintWriter out = spec.commandLine().getOut();
        int n = 0;
        for (var branch : byBranch(client, app).entrySet()) {
            for (Instance instance : branch.getValue()) {
                Instance after = action.apply(client, app, instance.name());
                out.println(done + " " + instance.name() + " on " + branch.getKey() + ": " + after.state());
                out.flush();
                n++;
            }
        }
        out.println(done + " " + n + " instance(s) of " + app);
        out.flush();
        return 0;
    }

    /** A client call about one instance of an app. */
    @FunctionalInterface
    private interface InstanceCall {
        Instance apply(BranchClient client, String app, String name);
    }

    @Command(name = "start-all", mixinStandardHelpOptions = true,
            description = "Enable every instance of APP on every branch (a FATAL one starts afresh).")
    static final class StartAll implements Callable<Integer> {
        @Spec CommandSpec spec;
        @Mixin ClientOptions options;
        @Parameters(paramLabel = "APP") String app;

        @Override
        public Integer call() {
            return eachInstance(spec, options.client(), app, "started", BranchClient::enable);
        }
    }

    @Command(name = "shutdown-all", mixinStandardHelpOptions = true,
            description = "Disable every instance of APP on every branch: each worker stops warm (running tasks finish).")
    static final class ShutdownAll implements Callable<Integer> {
        @Spec CommandSpec spec;
        @Mixin ClientOptions options;
        @Parameters(paramLabel = "APP") String app;

        @Override
        public Integer call() {
            return eachInstance(spec, options.client(), app, "shut down", BranchClient::disable);
        }
    }

    @Command(name = "restart-all", mixinStandardHelpOptions = true,
            description = "Replace every worker of APP, rolling: on each branch one instance at a time, the next once the"
                    + " replacement is RUNNING; branches in parallel.")
    static final class RestartAll implements Callable<Integer> {
        @Spec CommandSpec spec;
        @Mixin ClientOptions options;
        @Parameters(paramLabel = "APP") String app;

        @Option(names = "--timeout", paramLabel = "S",
                description = "How long one replacement may take to be RUNNING (default: ${DEFAULT-VALUE}).")
        double timeout = 120;

        @Option(names = "--poll", paramLabel = "S", description = "How often a replacement's state is read (default: ${DEFAULT-VALUE}).")
        double poll = 0.5;

        @Override
        public Integer call() throws InterruptedException {
            PrintWriter out = spec.commandLine().getOut();
            BranchClient client = options.client();
            List<String> failures = java.util.Collections.synchronizedList(new ArrayList<>());
            List<Thread> lanes = new ArrayList<>();
            for (var branch : byBranch(client, app).entrySet()) {
                Thread lane = new Thread(() -> {
                    for (Instance instance : branch.getValue()) {
                        String failure = restart(client, instance, out);
                        if (failure != null) {
                            failures.add(failure);
                            return; // a lane stops at its first failure: the rest of that branch keeps its workers
                        }
                    }
                }, "restart-" + branch.getKey());
                lane.start();
                lanes.add(lane);
            }
            for (Thread lane : lanes) {
                lane.join();
            }
            if (!failures.isEmpty()) {
                spec.commandLine().getErr().println("cyme: " + String.join("; ", failures));
                return 1;
            }
            out.println("restarted every instance of " + app);
            out.flush();
            return 0;
        }

        /** Restarts one instance and waits until its replacement is RUNNING; the failure, or null. */
        private String restart(BranchClient client, Instance before, PrintWriter out) {
            try {
                client.restart(app, before.name());
                long deadline = System.nanoTime() + (long) (timeout * 1e9);
                Instance now = client.instance(app, before.name());
                while (!("RUNNING".equals(now.state()) && now.pid() != null && !Objects.equals(now.pid(), before.pid()))) {
                    if (System.nanoTime() > deadline) {
                        return before.name() + " on " + before.branch() + " is " + now.state() + " after " + timeout + " s";
                    }
                    Thread.sleep((long) (poll * 1000));
                    now = client.instance(app, before.name());
                }
                synchronized (out) {
                    out.println("restarted " + before.name() + " on " + before.branch() + ": pid " + before.pid() + " -> "
                            + now.pid() + " RUNNING");
                    out.flush();
                }
                return null;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return before.name() + ": interrupted";
            } catch (RuntimeException e) {
                return before.name() + " on " + before.branch() + ": " + e.getMessage();
            }
        }
    }
}
