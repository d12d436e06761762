package jcyme.cli;

import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code cyme consumers ...}: which queues an instance consumes, changed live. */
@Command(name = "consumers", aliases = "consumer", mixinStandardHelpOptions = true,
        description = "List, add (bind) and delete (unbind) the queues an instance consumes.")
final class ConsumersCommand {
    @Spec CommandSpec spec;
    @Mixin ClientOptions options;

    @Command(name = "list", description = "Queues the instance consumes now.")
    void list(@Parameters(paramLabel = "APP") String app, @Parameters(paramLabel = "NAME") String name) {
        var queues = options.client().consumers(app, name);
        options.print(spec.commandLine().getOut(), options.json ? queues : queues.keySet());
    }

    @Command(name = "add", description = "Start consuming QUEUE now (and after restarts).")
    void add(@Parameters(paramLabel = "APP") String app, @Parameters(paramLabel = "NAME") String name,
             @Parameters(paramLabel = "QUEUE") String queue) {
        options.client().addConsumer(app, name, queue);
        options.print(spec.commandLine().getOut(), Map.of("ok", name + " consumes " + queue));
    }

    @Command(name = "delete", aliases = "cancel", description = "Stop consuming QUEUE now.")
    void delete(@Parameters(paramLabel = "APP") String app, @Parameters(paramLabel = "NAME") String name,
                @Parameters(paramLabel = "QUEUE") String queue) {
        options.client().cancelConsumer(app, name, queue);
        options.print(spec.commandLine().getOut(), Map.of("ok", name + " no longer consumes " + queue));
    }
}
