package jcyme.cli;

import java.util.ArrayList;
import java.util.List;
import jcyme.api.BranchInfo;
import jcyme.client.BranchClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code cyme branches ...} */
@Command(name = "branches", aliases = "branch", mixinStandardHelpOptions = true, description = "List branches, or show one.")
final class BranchesCommand implements Runnable {
    @Spec CommandSpec spec;
    @Mixin ClientOptions options;

    @Override
    public void run() {
        list();
    }

    @Command(name = "list", description = "The live branches of the cluster, with their instances and load.")
    void list() {
        BranchClient client = options.client();
        List<String> ids = client.branches();
        if (options.json) {
            options.print(spec.commandLine().getOut(), ids);
            return;
        }
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"ID", "URL", "HOST", "INSTANCES", "LOAD", "DISK"});
        for (String id : ids) {
            try {
                BranchInfo b = client.branch(id);
                rows.add(new String[] {b.id(), b.url(), b.host(), states(b), b.load().isEmpty() ? "-" : String.valueOf(b.load().get(0)),
                        b.diskUsedPct() + "%"});
            } catch (jcyme.client.BranchException e) {
                rows.add(new String[] {id, "-", "-", "-", "-", e.getMessage()});
            }
        }
        ClientOptions.table(spec.commandLine().getOut(), rows);
        spec.commandLine().getOut().flush();
    }

    @Command(name = "forget", description = "Forget a branch that is gone for good, with the instances it owned.")
    void forget(@Parameters(paramLabel = "ID") String id) {
        options.client().forgetBranch(id);
        options.print(spec.commandLine().getOut(), java.util.Map.of("ok", "forgot " + id));
    }

    private static String states(BranchInfo info) {
        if (info.instanceStates() == null || info.instanceStates().isEmpty()) {
            return Integer.toString(info.instances());
        }
        List<String> parts = new ArrayList<>();
        info.instanceStates().forEach((state, count) -> parts.add(count + " " + state));
        return String.join(", ", parts);
    }

    @Command(name = "show", description = "A branch's info.")
    void show(@Parameters(paramLabel = "ID") String id) {
        options.print(spec.commandLine().getOut(), options.client().branch(id));
    }
}
