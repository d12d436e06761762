package jcyme.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import jcyme.broker.BrokerStartException;
import jcyme.broker.EmbeddedBroker;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code cyme broker}: run the embedded AMQP 0-9-1 broker in the foreground. */
@Command(name = "broker", mixinStandardHelpOptions = true,
        description = "Run the embedded AMQP 0-9-1 broker on 127.0.0.1; durable queues and persistent messages survive restarts.")
final class BrokerCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--port", paramLabel = "PORT", description = "AMQP port (default: ${DEFAULT-VALUE}).")
    int port = 5672;

    @Option(names = "--data-dir", paramLabel = "DIR", description = "Where messages are kept (default: ${DEFAULT-VALUE}).")
    Path dataDir = Path.of("instances", "broker");

    @Option(names = "--pidfile", paramLabel = "FILE", description = "Write the pid here once ready; removed at exit.")
    Path pidfile;

    @Override
    public Integer call() throws Exception {
        EmbeddedBroker broker;
        try {
            broker = EmbeddedBroker.start(port, dataDir);
        } catch (BrokerStartException e) {
            spec.commandLine().getErr().println("cyme broker: " + e.getMessage());
            return 1;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            broker.close();
            if (pidfile != null) {
                pidfile.toFile().delete();
            }
            stopped.countDown();
        }, "broker-shutdown"));
        if (pidfile != null) {
            Files.writeString(pidfile, ProcessHandle.current().pid() + "\n");
        }
        spec.commandLine().getOut().println("broker ready on " + broker.amqpUrl() + " (data: "
                + broker.dataDir().toAbsolutePath() + ")");
        spec.commandLine().getOut().flush();
        stopped.await();
        return 0;
    }
}
