package jcyme.cli;

import jcyme.client.BranchException;
import jcyme.worker.Logging;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code bin/cyme}: the jcyme command line. */
@Command(name = "cyme", mixinStandardHelpOptions = true, version = "jcyme 0.1.0",
        description = "Drive jcyme: manage a branch's apps, instances and queues; send tasks; run the embedded broker.",
        subcommands = {AppsCommand.class, InstancesCommand.class, ConsumersCommand.class, QueuesCommand.class,
                BranchesCommand.class, TasksCommand.class, StatusCommand.class, EventsCommand.class, PurgeCommand.class, ShortcutCommands.Stats.class, ShortcutCommands.Log.class, CallCommand.class,
                BrokerCommand.class, FleetCommands.StartAll.class, FleetCommands.RestartAll.class, FleetCommands.ShutdownAll.class,
                CommandLine.HelpCommand.class})
public final class CymeMain {

    public static void main(String[] args) {
        Logging.configure(Logging.level("WARNING"), null);
        System.exit(commandLine().execute(clientOptionsLast(args)));
    }

    /**
     * {@code cyme -u URL instances list APP} means {@code cyme instances list APP -u URL}: client
     * options given before the command move after it, where every client command takes them.
     */
    static String[] clientOptionsLast(String[] args) {
        java.util.List<String> leading = new java.util.ArrayList<>();
        int i = 0;
        while (i < args.length) {
            String arg = args[i];
            if (arg.equals("--json")) {
                leading.add(arg);
                i++;
            } else if ((arg.equals("-u") || arg.equals("--url") || arg.equals("--token") || arg.equals("--cacert")) && i + 1 < args.length) {
                leading.add(arg);
                leading.add(args[i + 1]);
                i += 2;
            } else if (arg.startsWith("--url=") || arg.startsWith("--token=") || arg.startsWith("--cacert=")) {
                leading.add(arg);
                i++;
            } else {
                break;
            }
        }
        if (leading.isEmpty() || i == args.length) {
            return args;
        }
        java.util.List<String> reordered = new java.util.ArrayList<>(java.util.Arrays.asList(args).subList(i, args.length));
        reordered.addAll(leading);
        return reordered.toArray(String[]::new);
    }

    /** The command line with jcyme's error handling: one line on stderr, exit 2 for usage errors. */
    static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new CymeMain());
        cli.setParameterExceptionHandler((e, argv) -> {
            e.getCommandLine().getErr().println("cyme: " + e.getMessage());
            e.getCommandLine().getErr().println("Try 'cyme " + e.getCommandLine().getCommandName() + " --help'.");
            return 2;
        });
        cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
            if (e instanceof BranchException failed && failed.status() > 0) {
                cmd.getErr().println("cyme: " + failed.getMessage() + " (HTTP " + failed.status() + ")");
            } else {
                cmd.getErr().println("cyme: " + e.getMessage());
            }
            return 1;
        });
        return cli;
    }
}
