package jcyme.worker;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.DefaultConsumer;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeoutException;
import jcyme.tasks.BrokerUrl;
import jcyme.tasks.Task;
import jcyme.tasks.Tasks;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a spare worker made ready before it was claimed, from its app's configuration: the two
 * broker connections a worker opens (tasks; events and remote control) and the app's tasks. A
 * claimed worker takes each at most once and only when it fits what the worker was asked for
 * (same broker, same reconnect cap, same class path, still open); whatever does not fit is
 * dropped and the worker makes its own, so a stale preparation never fails a start.
 */
final class Prepared {
    private static final Logger log = LoggerFactory.getLogger(Prepared.class);
    /** How long a spare waits for its app's broker; past it the spare is claimed unconnected. */
    static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(2);
    /** The reconnect cap a spare's connections are made with: the worker's default {@code --max-reconnect-delay}. */
    static final Duration MAX_RECONNECT_DELAY = Duration.ofSeconds(10);

    private record Ready(BrokerUrl broker, long maxBackoffMs, Connection connection) {}

    private static Ready tasksConnection;
    private static Ready sideConnection;
    private static List<Path> classpath;
    private static Map<String, Task> tasks;

    private Prepared() {}

    /** Loads the app's tasks and connects to its broker (both best effort: a failure only leaves that part to the worker). */
    static synchronized void prepare(String brokerUrl, List<Path> appClasspath) {
        try {
            tasks = Tasks.load(WorkerMain.taskLoader(appClasspath));
            classpath = List.copyOf(appClasspath);
        } catch (IOException | RuntimeException e) {
            log.warn("spare: tasks not loaded ahead: {}", e.getMessage());
        }
        if (brokerUrl == null || brokerUrl.isBlank()) {
            return;
        }
        String name = "jcyme spare pid " + ProcessHandle.current().pid();
        try {
            BrokerUrl broker = BrokerUrl.parse(brokerUrl);
            // links a record's equals (a claim compares brokers with it), which costs tens of ms the first time
            broker.equals(BrokerUrl.parse(brokerUrl));
            ConnectionFactory factory = BrokerConsumer.connectionFactory(broker, MAX_RECONNECT_DELAY.toMillis());
            factory.setConnectionTimeout((int) CONNECT_TIMEOUT.toMillis());
            tasksConnection = new Ready(broker, MAX_RECONNECT_DELAY.toMillis(), factory.newConnection(name));
            sideConnection = new Ready(broker, MAX_RECONNECT_DELAY.toMillis(), factory.newConnection(name + " (events, control)"));
            rehearse(tasksConnection.connection());
        } catch (IOException | TimeoutException | RuntimeException e) {
            log.warn("spare: not connected ahead to the broker: {}", BrokerConsumer.reason(e));
            discard();
        }
    }

    /**
     * Goes once through what a starting worker asks of its broker (channels, a confirm channel, a
     * declare, a bind, a consume and its cancel) on a queue and an exchange of its own that the
     * broker deletes with the channel and the binding, so that a claimed worker's first requests run on loaded, linked code.
     */
    private static void rehearse(Connection connection) throws IOException, TimeoutException {
        Channel confirms = connection.createChannel();
        confirms.confirmSelect();
        confirms.close();
        Channel channel = connection.createChannel();
        String queue = channel.queueDeclare("", false, true, true, null).getQueue();
        String exchange = "jcyme.spare." + ProcessHandle.current().pid();
        channel.exchangeDeclare(exchange, "direct", false, true, null);
        channel.queueBind(queue, exchange, queue);
        channel.queueUnbind(queue, exchange, queue);
        channel.basicQos(1);
        String tag = channel.basicConsume(queue, false, new DefaultConsumer(channel));
        channel.basicCancel(tag);
        channel.close();
    }

    /** The prepared connection for tasks, if it fits; at most once. */
    static synchronized Optional<Connection> tasksConnection(BrokerUrl broker, long maxBackoffMs) {
        Optional<Connection> fit = fit(tasksConnection, broker, maxBackoffMs);
        tasksConnection = null;
        return fit;
    }

    /** The prepared connection for events and remote control, if it fits; at most once. */
    static synchronized Optional<Connection> sideConnection(BrokerUrl broker, long maxBackoffMs) {
        Optional<Connection> fit = fit(sideConnection, broker, maxBackoffMs);
        sideConnection = null;
        return fit;
    }

    /** The tasks loaded ahead, if from the same class path; at most once. */
    static synchronized Optional<Map<String, Task>> tasks(List<Path> wanted) {
        Optional<Map<String, Task>> fit = tasks != null && classpath.equals(wanted) ? Optional.of(tasks) : Optional.empty();
        tasks = null;
        classpath = null;
        return fit;
    }

    /** Closes what was not taken. */
    static synchronized void discard() {
        for (Ready ready : new Ready[] {tasksConnection, sideConnection}) {
            if (ready != null) {
                close(ready.connection());
            }
        }
        tasksConnection = null;
        sideConnection = null;
        tasks = null;
        classpath = null;
    }

    private static Optional<Connection> fit(Ready ready, BrokerUrl broker, long maxBackoffMs) {
        if (ready == null) {
            return Optional.empty();
        }
        if (ready.broker().equals(broker) && ready.maxBackoffMs() == maxBackoffMs && ready.connection().isOpen()) {
            log.debug("taking the spare's connection {}", ready.connection().getClientProvidedName());
            return Optional.of(ready.connection());
        }
        log.info("dropping the spare's connection {}: it does not fit (broker, reconnect cap) or is closed",
                ready.connection().getClientProvidedName());
        close(ready.connection());
        return Optional.empty();
    }

    private static void close(Connection connection) {
        try {
            connection.abort(1_000);
        } catch (RuntimeException e) {
            log.debug("closing a prepared connection: {}", e.getMessage());
        }
    }
}
