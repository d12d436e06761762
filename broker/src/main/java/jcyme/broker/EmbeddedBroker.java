package jcyme.broker;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.qpid.server.SystemLauncher;

/**
 * An AMQP 0-9-1 broker inside this JVM (Apache Qpid Broker-J), listening on 127.0.0.1 with user
 * guest/guest and virtual host {@code /}. Durable queues, exchanges, bindings and persistent
 * messages are stored (Berkeley DB JE) under the data directory, so a restart on the same directory
 * loses nothing. Queue arguments it does not know (Celery's {@code x-expires}, {@code x-message-ttl})
 * are accepted and ignored rather than closing the connection.
 */
public final class EmbeddedBroker implements AutoCloseable {
    private static final String LOCK_FILE = "broker.lock";

    private final SystemLauncher launcher;
    private final int port;
    private final Path dataDir;
    private final boolean temporary;
    private final FileChannel lockChannel;
    private boolean closed;

    private EmbeddedBroker(SystemLauncher launcher, int port, Path dataDir, boolean temporary, FileChannel lockChannel) {
        this.launcher = launcher;
        this.port = port;
        this.dataDir = dataDir;
        this.temporary = temporary;
        this.lockChannel = lockChannel;
    }

    /**
     * Starts a broker on {@code port} (0 picks a free one) keeping its data in {@code dataDir}
     * (null: a temporary directory removed on close).
     */
    public static EmbeddedBroker start(int port, Path dataDir) throws BrokerStartException {
        int chosen = port == 0 ? freePort() : checkFree(port);
        boolean temporary = dataDir == null;
        Path dir;
        try {
            dir = temporary ? Files.createTempDirectory("jcyme-broker") : Files.createDirectories(dataDir).toAbsolutePath();
        } catch (IOException e) {
            throw new BrokerStartException("cannot create broker data directory " + dataDir + ": " + e.getMessage(), e);
        }
        FileChannel lock = lock(dir);
        Map<String, String> context = new HashMap<>();
        context.put("qpid.work_dir", dir.toString());
        context.put("qpid.amqp_port", Integer.toString(chosen));
        context.put("queue.behaviourOnUnknownDeclareArgument", "IGNORE");
        context.put("exchange.behaviourOnUnknownDeclareArgument", "IGNORE");
        Map<String, Object> attributes = new HashMap<>();
        attributes.put("type", "Memory");
        attributes.put("initialConfigurationLocation",
                EmbeddedBroker.class.getResource("/jcyme-broker.json").toExternalForm());
        attributes.put("startupLoggedToSystemOut", false);
        attributes.put("preferenceStoreAttributes", Map.of("type", "Noop"));
        attributes.put("context", context);
        SystemLauncher launcher = new SystemLauncher();
        try {
            launcher.startup(attributes);
        } catch (Exception e) {
            release(lock);
            try {
                launcher.shutdown();
            } catch (RuntimeException ignored) {
                // it never started
            }
            throw new BrokerStartException("embedded broker failed to start on port " + chosen + ": " + rootMessage(e), e);
        }
        return new EmbeddedBroker(launcher, chosen, dir, temporary, lock);
    }

    public int port() {
        return port;
    }

    public Path dataDir() {
        return dataDir;
    }

    /** {@code amqp://guest:guest@127.0.0.1:<port>/} (virtual host {@code /}). */
    public String amqpUrl() {
        return "amqp://guest:guest@127.0.0.1:" + port + "/";
    }

    /** Stops the broker cleanly; its data stays unless it was temporary. Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        launcher.shutdown();
        release(lockChannel);
        if (temporary) {
            deleteTree(dataDir);
        }
    }

    private static int checkFree(int port) throws BrokerStartException {
        try (ServerSocket probe = new ServerSocket()) {
            probe.setReuseAddress(true);
            probe.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
            return port;
        } catch (IOException e) {
            throw new BrokerStartException("port " + port + " on 127.0.0.1 is already in use"
                    + " (another broker? pick one with --port)", e);
        }
    }

    private static int freePort() throws BrokerStartException {
        try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return probe.getLocalPort();
        } catch (IOException e) {
            throw new BrokerStartException("no free port on 127.0.0.1: " + e.getMessage(), e);
        }
    }

    private static FileChannel lock(Path dir) throws BrokerStartException {
        Path file = dir.resolve(LOCK_FILE);
        try {
            FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            FileLock lock;
            try {
                lock = channel.tryLock();
            } catch (OverlappingFileLockException e) {
                lock = null;
            }
            if (lock == null) {
                channel.close();
                throw new BrokerStartException("another broker is using the data directory " + dir);
            }
            return channel;
        } catch (IOException e) {
            throw new BrokerStartException("cannot lock " + file + ": " + e.getMessage(), e);
        }
    }

    private static void release(FileChannel lock) {
        try {
            lock.close();
        } catch (IOException e) {
            // the process is exiting or the file is gone: the lock is released either way
        }
    }

    private static void deleteTree(Path dir) {
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
        } catch (IOException e) {
            // a temp dir left behind is harmless
        }
    }

    private static String rootMessage(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        return root.getMessage() == null ? root.toString() : root.getMessage();
    }
}
