package jcyme.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code cyme stats APP NAME} and {@code cyme log APP NAME}: the two commands typed most. */
final class ShortcutCommands {
    private ShortcutCommands() {}

    @Command(name = "stats", mixinStandardHelpOptions = true, description = "Live stats of an instance.")
    static final class Stats implements Runnable {
        @Spec CommandSpec spec;
        @Mixin ClientOptions options;
        @Parameters(index = "0", paramLabel = "APP") String app;
        @Parameters(index = "1", paramLabel = "NAME") String name;

        @Override
        public void run() {
            options.print(spec.commandLine().getOut(), options.client().stats(app, name));
        }
    }

    @Command(name = "log", mixinStandardHelpOptions = true, description = "The last lines of an instance's log.")
    static final class Log implements Runnable {
        @Spec CommandSpec spec;
        @Mixin ClientOptions options;
        @Parameters(index = "0", paramLabel = "APP") String app;
        @Parameters(index = "1", paramLabel = "NAME") String name;
        @Option(names = {"-n", "--lines"}, paramLabel = "N", defaultValue = "100") int lines;

        @Override
        public void run() {
            spec.commandLine().getOut().print(options.client().log(app, name, lines));
            spec.commandLine().getOut().flush();
        }
    }
}
