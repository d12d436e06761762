package jcyme.worker;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.Writer;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import jcyme.tasks.Json;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The control socket: a Unix-domain socket (mode 0600) speaking JSON lines. It is private from the
 * first moment: bound inside a fresh directory of mode 0700 beside its path (nobody else can reach
 * a socket in there whatever mode bind gave it), narrowed to 0600, then renamed into place; the
 * branch also makes the instance directory that holds it 0700. Each request line is
 * {@code {"method": "stats", "arguments": {...}}}; each reply is one JSON line.
 */
final class ControlServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ControlServer.class);

    private final Path path;
    private final ControlCommands commands;
    private final ExecutorService connections = Executors.newCachedThreadPool(task -> {
        Thread thread = new Thread(task, "control");
        thread.setDaemon(true);
        return thread;
    });
    private ServerSocketChannel server;

    ControlServer(Path path, ControlCommands commands) {
        this.path = path;
        this.commands = commands;
    }

    /** Binds the socket; a stale socket file left by a dead worker is replaced. */
    void start() throws IOException {
        Files.deleteIfExists(path);
        Path staging = path.toAbsolutePath().resolveSibling(".c" + ProcessHandle.current().pid());
        Path bound = staging.resolve("s");
        Files.deleteIfExists(bound);
        Files.deleteIfExists(staging);
        Files.createDirectory(staging, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        try {
            server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            server.bind(UnixDomainSocketAddress.of(bound));
            Files.setPosixFilePermissions(bound, PosixFilePermissions.fromString("rw-------"));
            Files.move(bound, path, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(bound);
            Files.deleteIfExists(staging);
        }
        Thread acceptor = new Thread(this::acceptLoop, "control-accept");
        acceptor.setDaemon(true);
        acceptor.start();
        log.info("control socket listening on {}", path);
    }

    private void acceptLoop() {
        while (server.isOpen()) {
            try {
                SocketChannel client = server.accept();
                connections.execute(() -> serve(client));
            } catch (ClosedChannelException closed) {
                return;
            } catch (IOException e) {
                log.warn("control socket accept failed: {}", e.getMessage());
            }
        }
    }

    private void serve(SocketChannel client) {
        try (client;
             BufferedReader in = new BufferedReader(Channels.newReader(client, StandardCharsets.UTF_8));
             Writer out = Channels.newWriter(client, StandardCharsets.UTF_8)) {
            String line;
            while ((line = in.readLine()) != null) {
                if (line.isBlank()) {
                    continue;
                }
                Object reply;
                try {
                    JsonNode request = Json.MAPPER.readTree(line);
                    reply = commands.dispatch(request.path("method").asText(), request.get("arguments"));
                } catch (com.fasterxml.jackson.core.JsonProcessingException badJson) {
                    reply = ControlCommands.error("request is not a JSON object: " + badJson.getOriginalMessage());
                }
                out.write(Json.string(reply));
                out.write('\n');
                out.flush();
            }
        } catch (IOException e) {
            log.debug("control client went away: {}", e.getMessage());
        }
    }

    @Override
    public void close() {
        try {
            if (server != null) {
                server.close();
            }
            Files.deleteIfExists(path);
        } catch (IOException e) {
            log.debug("closing control socket: {}", e.getMessage());
        }
        connections.shutdownNow();
    }
}
