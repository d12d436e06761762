package jcyme.bench;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import jcyme.tasks.Json;

/**
 * A PNG of a web page from headless Chromium (Debian's; scripts/chromium.sh installs it), taken
 * after the page has run for {@link #RENDER_TIME} of real time, over Chromium's DevTools protocol.
 * (Chromium's own {@code --screenshot} needs {@code --virtual-time-budget}, which fast-forwards the
 * page's clock, and a chart of rates per second with it.)
 */
final class Screenshot {
    static final String CHROMIUM = "/usr/bin/chromium";
    /** How long the page runs before the picture is taken: the dashboard's charts fill in over a few seconds. */
    static final Duration RENDER_TIME = Duration.ofSeconds(15);
    /** The most the whole screenshot may take. */
    static final Duration TIMEOUT = Duration.ofSeconds(60);
    private static final Pattern LISTENING = Pattern.compile("DevTools listening on ws://[^:]+:(\\d+)/");

    private Screenshot() {}

    /** Opens {@code url}, lets it run {@link #RENDER_TIME}, and writes what it shows to {@code target}. */
    static void take(Path profile, Path target, String url) throws IOException, InterruptedException {
        Process chromium = new ProcessBuilder(CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--user-data-dir=" + profile, "--window-size=1400,1000", "--remote-debugging-port=0", url)
                .redirectErrorStream(true).start();
        try {
            int port = devToolsPort(chromium);
            Thread.sleep(RENDER_TIME.toMillis());
            HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
            JsonNode targets = Json.MAPPER.readTree(http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/json/list"))
                    .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString()).body());
            String page = null;
            for (JsonNode candidate : targets) {
                if (candidate.path("type").asText().equals("page")) {
                    page = candidate.path("webSocketDebuggerUrl").asText();
                    break;
                }
            }
            if (page == null) {
                throw new IOException("chromium shows no page");
            }
            Files.write(target, Base64.getDecoder().decode(capture(http, page)));
        } finally {
            chromium.destroy();
            if (!chromium.waitFor(10, TimeUnit.SECONDS)) {
                chromium.destroyForcibly();
            }
        }
    }

    /** The port of Chromium's DevTools endpoint, from the line it prints once listening. */
    private static int devToolsPort(Process chromium) throws IOException {
        BufferedReader out = new BufferedReader(new InputStreamReader(chromium.getInputStream(), StandardCharsets.UTF_8));
        for (String line = out.readLine(); line != null; line = out.readLine()) {
            Matcher listening = LISTENING.matcher(line);
            if (listening.find()) {
                Thread drain = new Thread(() -> {
                    try {
                        out.transferTo(java.io.Writer.nullWriter());
                    } catch (IOException ignored) {
                        // chromium is gone
                    }
                }, "chromium-output");
                drain.setDaemon(true);
                drain.start();
                return Integer.parseInt(listening.group(1));
            }
        }
        throw new IOException("chromium exited before its DevTools endpoint listened");
    }

    /** {@code Page.captureScreenshot} over the page's DevTools WebSocket: the PNG, base64. */
    private static String capture(HttpClient http, String page) throws IOException, InterruptedException {
        CompletableFuture<String> png = new CompletableFuture<>();
        StringBuilder message = new StringBuilder();
        WebSocket socket = http.newWebSocketBuilder().buildAsync(URI.create(page), new WebSocket.Listener() {
            @Override
            public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
                message.append(data);
                if (last) {
                    JsonNode reply = Json.parse(message.toString().getBytes(StandardCharsets.UTF_8));
                    message.setLength(0);
                    if (reply.path("id").asInt() == 1) {
                        png.complete(reply.path("result").path("data").asText(null));
                    }
                }
                webSocket.request(1);
                return null;
            }
        }).join();
        socket.sendText("{\"id\":1,\"method\":\"Page.captureScreenshot\",\"params\":{\"format\":\"png\"}}", true);
        try {
            String data = png.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
            if (data == null) {
                throw new IOException("chromium answered the screenshot request without a picture");
            }
            return data;
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            throw new IOException("no screenshot from chromium: " + e, e);
        } finally {
            socket.sendClose(WebSocket.NORMAL_CLOSURE, "done");
        }
    }
}
