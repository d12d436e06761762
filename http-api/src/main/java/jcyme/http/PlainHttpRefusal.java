package jcyme.http;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.Executor;
import jcyme.tasks.Json;
import org.eclipse.jetty.io.AbstractConnection;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.server.ConnectionFactory;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.DetectorConnectionFactory;
import org.eclipse.jetty.util.BufferUtil;
import org.eclipse.jetty.util.Callback;

/**
 * What a TLS branch answers to plain HTTP on its port: {@code 400 {"error": "this branch speaks
 * HTTPS; use https://<host>/<path>"}}, then it closes the connection. The request never reaches
 * the API (no route, no token check), and the answer is the same for any request.
 */
final class PlainHttpRefusal extends AbstractConnection implements Connection.UpgradeTo {
    /** How much of the request is read for its request line and Host header. */
    private static final int HEAD_LIMIT = 8192;

    /** TLS when the first bytes are a TLS handshake; else this refusal. */
    static final class Detector extends DetectorConnectionFactory {
        Detector(ConnectionFactory.Detecting tls) {
            super(tls);
        }

        @Override
        protected void nextProtocol(Connector connector, EndPoint endPoint, ByteBuffer buffer) {
            endPoint.upgrade(new PlainHttpRefusal(endPoint, connector.getExecutor()));
        }
    }

    private final StringBuilder head = new StringBuilder();
    private final ByteBuffer buffer = BufferUtil.allocate(4096);
    private boolean answered;

    private PlainHttpRefusal(EndPoint endPoint, Executor executor) {
        super(endPoint, executor);
    }

    @Override
    public void onUpgradeTo(ByteBuffer prefilled) {
        if (prefilled != null) {
            head.append(StandardCharsets.ISO_8859_1.decode(prefilled.slice()));
        }
    }

    @Override
    public void onOpen() {
        super.onOpen();
        if (!answerWhenHeadIsIn(false)) {
            fillInterested();
        }
    }

    @Override
    public void onFillable() {
        try {
            while (true) {
                BufferUtil.clear(buffer);
                int read = getEndPoint().fill(buffer);
                if (read == 0) {
                    fillInterested();
                    return;
                }
                if (read < 0) {
                    if (answered) {
                        close();
                    } else {
                        answerWhenHeadIsIn(true);
                    }
                    return;
                }
                if (!answered) {
                    head.append(StandardCharsets.ISO_8859_1.decode(buffer));
                    if (answerWhenHeadIsIn(false)) {
                        return;
                    }
                }
                // after the answer: drain what the client still sends until it closes
            }
        } catch (Exception e) {
            close();
        }
    }

    /** Answers once the request's head is in (or the client stopped sending); true when answered. */
    private boolean answerWhenHeadIsIn(boolean ended) {
        if (answered || !(ended || head.indexOf("\r\n\r\n") >= 0 || head.indexOf("\n\n") >= 0 || head.length() >= HEAD_LIMIT)) {
            return answered;
        }
        answered = true;
        byte[] body = Json.MAPPER.valueToTree(Map.of("error", "this branch speaks HTTPS; use " + httpsUrl())).toString()
                .getBytes(StandardCharsets.UTF_8);
        String response = "HTTP/1.1 400 Bad Request\r\n"
                + "Content-Type: application/json\r\n"
                + "Content-Length: " + body.length + "\r\n"
                + "Connection: close\r\n\r\n";
        ByteBuffer bytes = ByteBuffer.allocate(response.length() + body.length);
        bytes.put(response.getBytes(StandardCharsets.ISO_8859_1)).put(body).flip();
        getEndPoint().write(Callback.from(() -> {
            getEndPoint().shutdownOutput();
            if (ended) {
                close();
            } else {
                fillInterested();
            }
        }, failure -> close()), bytes);
        return true;
    }

    /** {@code https://} with the request's Host and path (as far as they are readable), else the connector's port. */
    private String httpsUrl() {
        String[] lines = head.toString().split("\r?\n", -1);
        String[] requestLine = lines[0].split(" ");
        String target = requestLine.length >= 3 && requestLine[1].startsWith("/") ? requestLine[1] : "/";
        String host = null;
        for (int i = 1; i < lines.length && !lines[i].isEmpty(); i++) {
            int colon = lines[i].indexOf(':');
            if (colon > 0 && lines[i].substring(0, colon).trim().equalsIgnoreCase("Host")) {
                host = lines[i].substring(colon + 1).trim();
            }
        }
        if (host == null || host.isEmpty() || !host.matches("[A-Za-z0-9.:\\[\\]_-]{1,255}")) {
            host = getEndPoint().getLocalAddress().getHostString() + ":" + getEndPoint().getLocalAddress().getPort();
        }
        return "https://" + host + (target.length() > 1024 ? "/" : target);
    }
}
