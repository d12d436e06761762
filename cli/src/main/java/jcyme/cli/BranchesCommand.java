package jcyme.cli;

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

    @Command(name = "list", description = "Ids of the live branches.")
    void list() {
        options.print(spec.commandLine().getOut(), options.client().branches());
    }

    @Command(name = "show", description = "A branch's info.")
    void show(@Parameters(paramLabel = "ID") String id) {
        options.print(spec.commandLine().getOut(), options.client().branch(id));
    }
}
