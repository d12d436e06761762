package jcyme.cli;

import java.util.Map;
import jcyme.api.QueueSpec;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code cyme queues ...}: an app's queue declarations. */
@Command(name = "queues", aliases = "queue", mixinStandardHelpOptions = true, description = "Declare, list, show and delete an app's queues.")
final class QueuesCommand {
    @Spec CommandSpec spec;
    @Mixin ClientOptions options;

    @Command(name = "list", description = "Queue names of an app.")
    void list(@Parameters(paramLabel = "APP") String app) {
        options.print(spec.commandLine().getOut(), options.client().queues(app));
    }

    @Command(name = "add", description = "Declare a queue (on the broker too).")
    void add(@Parameters(paramLabel = "APP") String app, @Parameters(paramLabel = "QUEUE") String queue,
             @Option(names = "--exchange", paramLabel = "X") String exchange,
             @Option(names = "--exchange-type", paramLabel = "T") String exchangeType,
             @Option(names = "--routing-key", paramLabel = "K") String routingKey) {
        options.print(spec.commandLine().getOut(),
                options.client().declareQueue(app, new QueueSpec(queue, exchange, exchangeType, routingKey, null)));
    }

    @Command(name = "show", description = "A queue declaration.")
    void show(@Parameters(paramLabel = "APP") String app, @Parameters(paramLabel = "QUEUE") String queue) {
        options.print(spec.commandLine().getOut(), options.client().queue(app, queue));
    }

    @Command(name = "delete", description = "Delete a declaration; every instance stops consuming it.")
    void delete(@Parameters(paramLabel = "APP") String app, @Parameters(paramLabel = "QUEUE") String queue) {
        options.client().deleteQueue(app, queue);
        options.print(spec.commandLine().getOut(), Map.of("ok", "deleted " + queue));
    }
}
