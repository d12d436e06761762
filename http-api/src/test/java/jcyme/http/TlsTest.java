package jcyme.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.javalin.Javalin;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** PEM keys in openssl's forms, the checks made at start-up, and the HTTPS connector with its plain-HTTP refusal. */
class TlsTest {
    @TempDir
    Path tmp;

    static void openssl(Path dir, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("openssl"));
        command.addAll(List.of(args));
        Process process = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes());
        assertTrue(process.waitFor(60, TimeUnit.SECONDS), "openssl " + command);
        assertEquals(0, process.exitValue(), command + ": " + output);
    }

    /** A self-signed certificate for 127.0.0.1 and localhost with the key in {@code key.pem}. */
    Path selfSigned(String name, String... keyOptions) throws Exception {
        List<String> args = new ArrayList<>(List.of("req", "-x509", "-days", "2", "-subj", "/CN=localhost", "-nodes",
                "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", name + "-key.pem", "-out", name + ".pem"));
        args.addAll(List.of(keyOptions));
        openssl(tmp, args.toArray(String[]::new));
        return tmp.resolve(name + ".pem");
    }

    @Test
    void readsPkcs8Pkcs1AndSec1Keys() throws Exception {
        Path rsa = selfSigned("rsa", "-newkey", "rsa:2048");
        assertTrue(Files.readString(tmp.resolve("rsa-key.pem")).contains("BEGIN PRIVATE KEY"));
        assertTrue(Tls.load(rsa, tmp.resolve("rsa-key.pem"), null).serves());

        openssl(tmp, "rsa", "-in", "rsa-key.pem", "-traditional", "-out", "rsa-pkcs1.pem");
        assertTrue(Files.readString(tmp.resolve("rsa-pkcs1.pem")).contains("BEGIN RSA PRIVATE KEY"));
        assertTrue(Tls.load(rsa, tmp.resolve("rsa-pkcs1.pem"), null).serves());

        openssl(tmp, "ecparam", "-name", "prime256v1", "-genkey", "-out", "ec-sec1.pem");
        assertTrue(Files.readString(tmp.resolve("ec-sec1.pem")).contains("BEGIN EC PRIVATE KEY"));
        openssl(tmp, "req", "-x509", "-days", "2", "-subj", "/CN=localhost", "-key", "ec-sec1.pem", "-out", "ec.pem");
        assertTrue(Tls.load(tmp.resolve("ec.pem"), tmp.resolve("ec-sec1.pem"), null).serves());
        openssl(tmp, "ec", "-in", "ec-sec1.pem", "-no_public", "-param_enc", "named_curve", "-out", "ec-bare.pem");
        assertTrue(Tls.load(tmp.resolve("ec.pem"), tmp.resolve("ec-bare.pem"), null).serves());
    }

    @Test
    void badFilesAreOneSentence() throws Exception {
        Path a = selfSigned("a", "-newkey", "rsa:2048");
        Path b = selfSigned("b", "-newkey", "rsa:2048");
        Path ec = selfSigned("ec", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256");

        String mismatch = assertThrows(IllegalArgumentException.class, () -> Tls.load(a, tmp.resolve("b-key.pem"), null)).getMessage();
        assertEquals("--tls-key " + tmp.resolve("b-key.pem") + " does not match the certificate in --tls-cert " + a, mismatch);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Tls.load(b, tmp.resolve("ec-key.pem"), null))
                .getMessage().contains("does not match"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Tls.load(ec, tmp.resolve("a-key.pem"), null))
                .getMessage().contains("does not match"));

        assertEquals("cannot read --tls-key " + tmp.resolve("nope.pem") + ": no such file",
                assertThrows(IllegalArgumentException.class, () -> Tls.load(a, tmp.resolve("nope.pem"), null)).getMessage());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Tls.load(tmp.resolve("a-key.pem"), tmp.resolve("a-key.pem"), null))
                .getMessage().contains("holds no PEM certificate"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Tls.load(a, a, null))
                .getMessage().contains("holds no PEM private key"));
        assertEquals("--tls-cert needs --tls-key",
                assertThrows(IllegalArgumentException.class, () -> Tls.load(a, null, null)).getMessage());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Tls.load(null, null, tmp.resolve("nope.pem")))
                .getMessage().startsWith("cannot read --tls-ca"));

        openssl(tmp, "pkey", "-in", "a-key.pem", "-aes256", "-passout", "pass:x", "-out", "a-encrypted.pem");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Tls.load(a, tmp.resolve("a-encrypted.pem"), null))
                .getMessage().contains("is encrypted"));
        openssl(tmp, "rsa", "-in", "a-key.pem", "-traditional", "-aes256", "-passout", "pass:x", "-out", "a-encrypted1.pem");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Tls.load(a, tmp.resolve("a-encrypted1.pem"), null))
                .getMessage().contains("is encrypted"));

        Files.writeString(tmp.resolve("damaged.pem"), "-----BEGIN CERTIFICATE-----\nnot base64 !!\n-----END CERTIFICATE-----\n");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Tls.load(tmp.resolve("damaged.pem"), tmp.resolve("a-key.pem"), null))
                .getMessage().startsWith("--tls-cert " + tmp.resolve("damaged.pem")));
        assertFalse(Tls.load(null, null, null).serves());
    }

    @Test
    void servesHttpsAndRefusesPlainHttpWithTheHttpsUrl() throws Exception {
        Path cert = selfSigned("s", "-newkey", "rsa:2048");
        Tls tls = Tls.load(cert, tmp.resolve("s-key.pem"), null);
        Javalin app = Javalin.create(config -> config.showJavalinBanner = false);
        app.get("/ping", ctx -> ctx.json(java.util.Map.of("ok", "pong", "secure", ctx.req().isSecure())));
        app.unsafeConfig().jetty.addConnector((server, http) -> tls.connector(server, http, "127.0.0.1", 0));
        app.start();
        try {
            int port = app.port();
            HttpClient client = HttpClient.newBuilder().sslContext(tls.clientContext()).build();
            HttpResponse<String> pong = client.send(HttpRequest.newBuilder(URI.create("https://127.0.0.1:" + port + "/ping")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, pong.statusCode());
            assertEquals("{\"ok\":\"pong\",\"secure\":true}".length(), pong.body().length(), pong.body());
            assertTrue(pong.body().contains("\"secure\":true"), pong.body());

            HttpResponse<String> plain = HttpClient.newHttpClient().send(
                    HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/a/instances?x=1")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(400, plain.statusCode());
            assertEquals("application/json", plain.headers().firstValue("Content-Type").orElse(""));
            assertEquals("{\"error\":\"this branch speaks HTTPS; use https://127.0.0.1:" + port + "/a/instances?x=1\"}", plain.body());

            // a POST with a body, and a client that sends only half a request line and closes
            HttpResponse<String> post = HttpClient.newHttpClient().send(
                    HttpRequest.newBuilder(URI.create("http://localhost:" + port + "/a"))
                            .POST(HttpRequest.BodyPublishers.ofString("x".repeat(100_000))).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(400, post.statusCode());
            assertTrue(post.body().contains("use https://localhost:" + port + "/a\""), post.body());
            try (Socket socket = new Socket("127.0.0.1", port)) {
                OutputStream out = socket.getOutputStream();
                out.write("GET /pi".getBytes(StandardCharsets.US_ASCII));
                socket.shutdownOutput();
                InputStream in = socket.getInputStream();
                String answer = new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
                assertTrue(answer.startsWith("HTTP/1.1 400 "), answer);
                assertTrue(answer.contains("use https://127.0.0.1:" + port + "/"), answer);
            }
        } finally {
            app.stop();
        }
    }
}
