package jcyme.it;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;
import jcyme.tasks.Json;

/** Talks to a worker's control socket: one JSON request line, one JSON reply line. */
final class ControlClient {
    private ControlClient() {}

    static JsonNode call(Path socket, String method, Map<String, ?> arguments) throws IOException {
        try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            channel.connect(UnixDomainSocketAddress.of(socket));
            var out = Channels.newWriter(channel, StandardCharsets.UTF_8);
            out.write(Json.string(Map.of("method", method, "arguments", arguments)) + "\n");
            out.flush();
            BufferedReader in = new BufferedReader(Channels.newReader(channel, StandardCharsets.UTF_8));
            String line = in.readLine();
            if (line == null) {
                throw new IOException("worker closed the control socket without a reply to " + method);
            }
            return Json.MAPPER.readTree(line);
        }
    }
}
