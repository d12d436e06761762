package jcyme.it;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.zip.GZIPInputStream;
import java.util.zip.InflaterInputStream;

/**
 * HTTP/1.1 over a plain socket: sends exactly the bytes given (so a test can replay another
 * client's requests, or malformed ones no Java client would send) and reads one response.
 */
final class RawHttp {
    private RawHttp() {}

    /** A response: status, headers (lower-case names), body decoded from its content encoding. */
    record Response(int status, Map<String, String> headers, String body) {
        String header(String name) {
            return headers.get(name.toLowerCase(Locale.ROOT));
        }

        BranchProcess.Reply reply() {
            return new BranchProcess.Reply(status, body);
        }

        @Override
        public String toString() {
            return status + " " + headers + " " + body;
        }
    }

    static Response exchange(int port, String request) throws IOException {
        return exchange(port, request.getBytes(StandardCharsets.ISO_8859_1), !request.startsWith("HEAD "));
    }

    /** Sends {@code request} on a new connection and reads the response (no body for HEAD). */
    static Response exchange(int port, byte[] request, boolean bodyExpected) throws IOException {
        return exchange(port, request, bodyExpected, false);
    }

    /**
     * As above; with {@code whileSending}, the response is read while the request is still being
     * sent, so that a server answering early (and closing) before a large body is all sent is heard.
     */
    static Response exchange(int port, byte[] request, boolean bodyExpected, boolean whileSending) throws IOException {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress("127.0.0.1", port), 5_000);
            socket.setSoTimeout(30_000);
            if (whileSending) {
                Thread sender = new Thread(() -> {
                    try {
                        socket.getOutputStream().write(request);
                        socket.getOutputStream().flush();
                    } catch (IOException e) {
                        // the server stopped reading: its answer is what counts
                    }
                }, "raw-http-send");
                sender.setDaemon(true);
                sender.start();
            } else {
                socket.getOutputStream().write(request);
                socket.getOutputStream().flush();
            }
            InputStream in = socket.getInputStream();
            String statusLine = line(in);
            if (statusLine == null) {
                throw new IOException("connection closed without a response");
            }
            String[] parts = statusLine.split(" ", 3);
            int status = Integer.parseInt(parts[1]);
            Map<String, String> headers = new LinkedHashMap<>();
            for (String header = line(in); header != null && !header.isEmpty(); header = line(in)) {
                int colon = header.indexOf(':');
                headers.put(header.substring(0, colon).trim().toLowerCase(Locale.ROOT), header.substring(colon + 1).trim());
            }
            byte[] body = new byte[0];
            if (bodyExpected && status != 204 && status != 304) {
                if ("chunked".equalsIgnoreCase(headers.get("transfer-encoding"))) {
                    body = chunked(in);
                } else if (headers.containsKey("content-length")) {
                    body = in.readNBytes(Integer.parseInt(headers.get("content-length")));
                } else {
                    body = in.readAllBytes();
                }
            }
            String encoding = headers.getOrDefault("content-encoding", "identity");
            if (encoding.equalsIgnoreCase("gzip")) {
                body = new GZIPInputStream(new java.io.ByteArrayInputStream(body)).readAllBytes();
            } else if (encoding.equalsIgnoreCase("deflate")) {
                body = new InflaterInputStream(new java.io.ByteArrayInputStream(body)).readAllBytes();
            }
            return new Response(status, headers, new String(body, StandardCharsets.UTF_8));
        }
    }

    private static byte[] chunked(InputStream in) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        while (true) {
            String size = line(in);
            int length = Integer.parseInt(size.split(";")[0].trim(), 16);
            if (length == 0) {
                while (true) {
                    String trailer = line(in);
                    if (trailer == null || trailer.isEmpty()) return out.toByteArray();
                }
            }
            out.write(in.readNBytes(length));
            line(in);
        }
    }

    private static String line(InputStream in) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int b;
        while ((b = in.read()) != -1) {
            if (b == '\n') {
                String text = out.toString(StandardCharsets.ISO_8859_1);
                return text.endsWith("\r") ? text.substring(0, text.length() - 1) : text;
            }
            out.write(b);
        }
        return out.size() == 0 ? null : out.toString(StandardCharsets.ISO_8859_1);
    }
}
