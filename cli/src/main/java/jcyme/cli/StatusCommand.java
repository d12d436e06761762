package jcyme.cli;

import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import jcyme.api.Instance;
import jcyme.client.BranchClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code cyme status}, as Celery's: every instance of the cluster that is RUNNING and answers
 * {@code stats} within the timeout counts as a node online; none is exit 69 (EX_UNAVAILABLE).
 */
@Command(name = "status", mixinStandardHelpOptions = true,
        description = "Ask every instance of the cluster for its stats; print the ones that answer and \"N nodes online.\".")
final class StatusCommand implements java.util.concurrent.Callable<Integer> {
    static final int EX_UNAVAILABLE = 69;

    @Spec CommandSpec spec;
    @Mixin ClientOptions options;
    @Option(names = {"-t", "--timeout"}, paramLabel = "SECONDS", defaultValue = "1.0",
            description = "How long each instance may take to answer (default: ${DEFAULT-VALUE}).")
    double timeout;

    @Override
    public Integer call() {
        BranchClient client = options.client();
        BranchClient asking = BranchClient.of(options.url, options.token, Duration.ofMillis(Math.round(timeout * 1000)), options.cacert);
        List<Instance> running = new ArrayList<>();
        for (String app : client.apps()) {
            for (String name : client.instances(app)) {
                try {
                    Instance instance = client.instance(app, name);
                    if (instance.state().equals("RUNNING")) {
                        running.add(instance);
                    }
                } catch (jcyme.client.BranchException e) {
                    // deleted meanwhile, or its branch is down: it does not answer
                }
            }
        }
        ExecutorService pool = Executors.newFixedThreadPool(Math.max(1, Math.min(16, running.size())));
        List<CompletableFuture<Boolean>> asks = running.stream().map(i -> CompletableFuture.supplyAsync(() -> {
            try {
                return asking.stats(i.app(), i.name()).has("pid");
            } catch (RuntimeException e) {
                return false;
            }
        }, pool)).toList();
        pool.shutdown();
        PrintWriter out = spec.commandLine().getOut();
        int online = 0;
        for (int i = 0; i < running.size(); i++) {
            if (asks.get(i).join()) {
                online++;
                out.println("->  " + running.get(i).app() + "/" + running.get(i).name() + " on " + running.get(i).branch() + ": OK");
            }
        }
        if (online == 0) {
            spec.commandLine().getErr().println("No nodes replied within time constraint.");
            spec.commandLine().getErr().flush();
            return EX_UNAVAILABLE;
        }
        out.println();
        out.println(online + (online == 1 ? " node" : " nodes") + " online.");
        out.flush();
        return 0;
    }
}
