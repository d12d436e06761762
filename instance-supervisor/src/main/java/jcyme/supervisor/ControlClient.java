package jcyme.supervisor;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** Asks a worker over its control socket: one JSON request line, one JSON reply line, with a deadline. */
public final class ControlClient {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ExecutorService CALLS = Executors.newCachedThreadPool(task -> {
        Thread thread = new Thread(task, "control-client");
        thread.setDaemon(true);
        return thread;
    });

    private ControlClient() {}

    /** Thrown when the worker cannot be reached or does not answer in time. */
    public static final class UnreachableException extends IOException {
        UnreachableException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    public static JsonNode call(Path socket, String method, Map<String, ?> arguments, Duration timeout)
            throws UnreachableException {
        Future<JsonNode> reply = CALLS.submit(() -> exchange(socket, method, arguments));
        try {
            return reply.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            reply.cancel(true);
            throw new UnreachableException("worker did not answer '" + method + "' within " + timeout.toMillis() + " ms", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new UnreachableException("interrupted", e);
        } catch (java.util.concurrent.ExecutionException e) {
            throw new UnreachableException("worker socket " + socket + ": " + e.getCause().getMessage(), e.getCause());
        }
    }

    private static JsonNode exchange(Path socket, String method, Map<String, ?> arguments) throws IOException {
        try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            channel.connect(UnixDomainSocketAddress.of(socket));
            byte[] request = (JSON.writeValueAsString(Map.of("method", method, "arguments", arguments)) + "\n")
                    .getBytes(StandardCharsets.UTF_8);
            ByteBuffer buffer = ByteBuffer.wrap(request);
            while (buffer.hasRemaining()) {
                channel.write(buffer);
            }
            BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(channel), StandardCharsets.UTF_8));
            String line = in.readLine();
            if (line == null) {
                throw new IOException("closed without a reply");
            }
            return JSON.readTree(line);
        }
    }
}
