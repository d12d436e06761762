package jcyme.client;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLException;
import javax.net.ssl.TrustManagerFactory;
import jcyme.api.App;
import jcyme.api.Autoscale;
import jcyme.api.BranchInfo;
import jcyme.api.Event;
import jcyme.api.EventPage;
import jcyme.api.Instance;
import jcyme.api.QueueSpec;
import jcyme.api.TaskDetail;
import jcyme.api.TaskPage;

/**
 * A typed client of a branch's HTTP API. Every method is one request; an error reply throws
 * {@link BranchException} with the status and the branch's one-sentence message. Thread-safe.
 *
 * <pre>{@code
 * BranchClient branch = BranchClient.of("http://127.0.0.1:8000");
 * branch.createApp("pycon", Map.of());
 * Instance w1 = branch.createInstance("pycon", "w1", Map.of("queues", List.of("celery"), "max", 4));
 * branch.setAutoscale("pycon", "w1", 10, 4);
 * }</pre>
 */
public final class BranchClient {
    private static final ObjectMapper JSON = new ObjectMapper().disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);
    private static final TypeReference<List<String>> NAMES = new TypeReference<>() {};

    private final URI base;
    private final String token;
    private final Duration timeout;
    private final HttpClient http;

    private BranchClient(URI base, String token, Duration timeout, SSLContext tls) {
        this.base = base;
        this.token = token;
        this.timeout = timeout;
        HttpClient.Builder http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5));
        if (tls != null) {
            http.sslContext(tls);
        }
        this.http = http.build();
    }

    public static BranchClient of(String url) {
        return of(url, null, Duration.ofSeconds(60));
    }

    /** @param token bearer token, or null */
    public static BranchClient of(String url, String token, Duration timeout) {
        return of(url, token, timeout, null);
    }

    /**
     * A client of an {@code https://} branch whose certificate is signed by a CA of your own, or
     * self-signed (as {@code curl --cacert}).
     *
     * @param caCert PEM file of the certificates to trust, instead of the JVM's trust store; null for that store
     */
    public static BranchClient of(String url, String token, Duration timeout, Path caCert) {
        String trimmed = url.endsWith("/") ? url.substring(0, url.length() - 1) : url;
        return new BranchClient(URI.create(trimmed), token, timeout, caCert == null ? null : trusting(caCert));
    }

    public URI url() {
        return base;
    }

    // ---- branch -------------------------------------------------------------------------------

    public String ping() {
        return ok(request("GET", path("ping"), null));
    }

    public List<String> branches() {
        return read(request("GET", path("branches"), null), NAMES);
    }

    public BranchInfo branch(String id) {
        return read(request("GET", path("branches", id), null), BranchInfo.class);
    }

    /** Forgets a branch that is gone for good, with the instances it owned (409 while it is live). */
    public void forgetBranch(String id) {
        request("DELETE", path("branches", id), null);
    }

    // ---- apps ---------------------------------------------------------------------------------

    public List<String> apps() {
        return read(request("GET", "/", null), NAMES);
    }

    public App app(String name) {
        return read(request("GET", path(name), null), App.class);
    }

    /** Creates the app, or updates the given fields (broker, classpath, jvm_options, env, default_queues, ...). */
    public App putApp(String name, Map<String, ?> fields) {
        return read(request("PUT", path(name), fields), App.class);
    }

    /** Pushes the app's live configuration to its workers on every branch; {@code {"changed": false, ...}} when it holds that id already. */
    public Map<String, Object> putConfig(String app, String configId, Map<String, ?> config) {
        Map<String, Object> body = new java.util.LinkedHashMap<>();
        body.put("config_id", configId);
        body.put("config", config);
        return read(request("PUT", path(app, "config"), body), new TypeReference<Map<String, Object>>() {});
    }

    /** The app's live configuration and, per instance of the branch asked, the config id its worker holds. */
    public Map<String, Object> config(String app) {
        return read(request("GET", path(app, "config"), null), new TypeReference<Map<String, Object>>() {});
    }

    public App createApp(String name) {
        return putApp(name, Map.of());
    }

    public void deleteApp(String name) {
        request("DELETE", path(name), null);
    }

    // ---- instances ----------------------------------------------------------------------------

    public List<String> instances(String app) {
        return read(request("GET", path(app, "instances"), null), NAMES);
    }

    public Instance instance(String app, String name) {
        return read(request("GET", path(app, "instances", name), null), Instance.class);
    }

    /**
     * Creates and starts an instance; {@code name} null for a generated one. Fields: queues (list),
     * min, max, arguments, extra_config, broker; and where it goes: {@code branch} (a branch id) or
     * {@code placement} ({@code "least-loaded"}), else on the branch this client talks to.
     */
    public Instance createInstance(String app, String name, Map<String, ?> fields) {
        String path = name == null ? path(app, "instances") : path(app, "instances", name);
        return read(request("POST", path, fields), Instance.class);
    }

    public void deleteInstance(String app, String name) {
        request("DELETE", path(app, "instances", name), null);
    }

    public Instance restart(String app, String name) {
        return read(request("POST", path(app, "instances", name, "restart"), null), Instance.class);
    }

    public Instance enable(String app, String name) {
        return read(request("POST", path(app, "instances", name, "enable"), null), Instance.class);
    }

    public Instance disable(String app, String name) {
        return read(request("POST", path(app, "instances", name, "disable"), null), Instance.class);
    }

    /** Live stats, in Celery's {@code stats} shape. */
    public JsonNode stats(String app, String name) {
        return read(request("GET", path(app, "instances", name, "stats"), null), JsonNode.class);
    }

    public Autoscale autoscale(String app, String name) {
        return read(request("GET", path(app, "instances", name, "autoscale"), null), Autoscale.class);
    }

    public Autoscale setAutoscale(String app, String name, int max, int min) {
        return read(request("PUT", path(app, "instances", name, "autoscale"), Map.of("max", max, "min", min)), Autoscale.class);
    }

    /** The queues the instance consumes now. */
    public Map<String, QueueSpec> consumers(String app, String name) {
        return read(request("GET", path(app, "instances", name, "queues"), null), new TypeReference<>() {});
    }

    public void addConsumer(String app, String name, String queue) {
        request("PUT", path(app, "instances", name, "queues", queue), null);
    }

    public void cancelConsumer(String app, String name, String queue) {
        request("DELETE", path(app, "instances", name, "queues", queue), null);
    }

    public String log(String app, String name, int lines) {
        return request("GET", path(app, "instances", name, "log") + "?lines=" + lines, null);
    }

    // ---- queues -------------------------------------------------------------------------------

    public List<String> queues(String app) {
        return read(request("GET", path(app, "queues"), null), NAMES);
    }

    public QueueSpec queue(String app, String name) {
        return read(request("GET", path(app, "queues", name), null), QueueSpec.class);
    }

    public QueueSpec declareQueue(String app, QueueSpec queue) {
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("exchange", queue.exchange());
        fields.put("exchange_type", queue.exchangeType());
        fields.put("routing_key", queue.routingKey());
        fields.put("options", queue.options());
        return read(request("PUT", path(app, "queues", queue.name()), fields), QueueSpec.class);
    }

    public void deleteQueue(String app, String name) {
        request("DELETE", path(app, "queues", name), null);
    }

    /** Drops every ready message of the queue on the app's broker; how many it dropped. */
    public int purge(String app, String queue) {
        return read(request("DELETE", path(app, "queues", queue, "messages"), null), JsonNode.class).path("purged").asInt();
    }

    // ---- tasks --------------------------------------------------------------------------------

    /** Publishes a task through the branch; returns its id. {@code queue} and {@code countdown} may be null. */
    public String sendTask(String app, String task, List<?> args, Map<String, ?> kwargs, String queue, Double countdown) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("args", args == null ? List.of() : args);
        body.put("kwargs", kwargs == null ? Map.of() : kwargs);
        if (queue != null) body.put("queue", queue);
        if (countdown != null) body.put("countdown", countdown);
        return read(request("POST", path(app, "tasks", task), body), JsonNode.class).path("id").asText();
    }

    /** {@code {"state": ...}} */
    public String taskState(String app, String id) {
        return read(request("GET", path(app, "query", id, "state"), null), JsonNode.class).path("state").asText();
    }

    /** {@code {"state": ..., "result": ...}} as it is now. */
    public JsonNode taskResult(String app, String id) {
        return read(request("GET", path(app, "query", id, "result"), null), JsonNode.class);
    }

    /** Waits up to {@code timeoutSeconds} for the task to finish; {@code {"state", "result"}}. */
    public JsonNode waitTask(String app, String id, double timeoutSeconds) {
        return read(request("GET", path(app, "query", id, "wait") + "?timeout=" + timeoutSeconds, null), JsonNode.class);
    }

    /**
     * The app's task history, newest first, from the Celery events of its workers. Every filter may
     * be null: {@code state} and {@code name} exact, {@code worker} a node or instance name,
     * {@code query} a Flower-style search ({@code state:FAILURE name:tasks.add args:2,3 word}),
     * {@code limit} at most 1000 (default 100).
     */
    public TaskPage tasks(String app, String state, String name, String worker, String query, Integer limit) {
        Map<String, Object> params = new LinkedHashMap<>();
        params.put("state", state);
        params.put("name", name);
        params.put("worker", worker);
        params.put("q", query);
        params.put("limit", limit);
        return read(request("GET", path(app, "tasks") + query(params), null), TaskPage.class);
    }

    /** One task of the app's history, with its traceback and Celery events. */
    public TaskDetail task(String app, String id) {
        return read(request("GET", path(app, "tasks", id), null), TaskDetail.class);
    }

    // ---- events -------------------------------------------------------------------------------

    /** The branch's kept events after {@code since}, oldest first, at most 100; {@code since} null for the newest 100. */
    public EventPage events(Long since) {
        return events(since, 100);
    }

    /** The branch's kept events after {@code since}, oldest first, at most {@code limit} (1 to 10 000); {@code since} null for the newest. */
    public EventPage events(Long since, int limit) {
        String query = "?limit=" + limit + (since == null ? "" : "&since=" + since);
        return read(request("GET", path("events") + query, null), EventPage.class);
    }

    /**
     * Follows the branch's event stream ({@code GET /events/stream}): its kept events after
     * {@code since} (null: none, only what happens from now on), then every event as it happens,
     * task and worker events included, each handed to {@code each} in order. Blocks until the
     * stream ends — the branch stopped, or dropped this client for falling behind — and returns the
     * last kept event's seq, to resume from with another call.
     */
    public long followEvents(Long since, Consumer<Event> each) {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(base + path("events", "stream")
                + (since == null ? "" : "?since=" + since))).timeout(timeout).header("Accept", "text/event-stream").GET();
        if (token != null) {
            request.header("Authorization", "Bearer " + token);
        }
        long last = since == null ? 0 : since;
        try {
            HttpResponse<Stream<String>> response = http.send(request.build(), HttpResponse.BodyHandlers.ofLines());
            if (response.statusCode() >= 400) {
                String body = response.body().collect(Collectors.joining("\n"));
                throw new BranchException(response.statusCode(), errorMessage(body, response.statusCode(), response.uri()));
            }
            StringBuilder data = new StringBuilder();
            try (Stream<String> lines = response.body()) {
                for (Iterator<String> it = lines.iterator(); it.hasNext(); ) {
                    String line = it.next();
                    if (line.isEmpty() && data.length() > 0) {
                        Event event = read(data.toString(), Event.class);
                        data.setLength(0);
                        last = event.seq() > 0 ? event.seq() : last;
                        each.accept(event);
                    } else if (line.startsWith("data:")) {
                        data.append(line.substring(line.startsWith("data: ") ? 6 : 5));
                    }
                }
            }
            return last;
        } catch (IOException | UncheckedIOException e) {
            throw new BranchException(0, "cannot reach branch at " + base + ": " + (e.getMessage() == null ? e : e.getMessage())
                    + tlsHint(e));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BranchException(0, "interrupted while following events of " + base);
        }
    }

    // ---- plumbing -----------------------------------------------------------------------------

    /** A TLS context trusting exactly the certificates in a PEM file. */
    static SSLContext trusting(Path caCert) {
        try (InputStream in = Files.newInputStream(caCert)) {
            KeyStore store = KeyStore.getInstance("PKCS12");
            store.load(null, null);
            int i = 0;
            for (Certificate certificate : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                store.setCertificateEntry("ca-" + i++, certificate);
            }
            if (i == 0) {
                throw new BranchException(0, "no PEM certificate in CA file " + caCert);
            }
            TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            trust.init(store);
            SSLContext context = SSLContext.getInstance("TLS");
            context.init(null, trust.getTrustManagers(), null);
            return context;
        } catch (NoSuchFileException e) {
            throw new BranchException(0, "cannot read CA file " + caCert + ": no such file");
        } catch (IOException | GeneralSecurityException e) {
            throw new BranchException(0, "cannot read CA file " + caCert + ": " + (e.getMessage() == null ? e : e.getMessage()));
        }
    }

    /** {@code ?k=v&...} of the non-null values, URL-encoded; empty when there are none. */
    static String query(Map<String, ?> params) {
        StringBuilder out = new StringBuilder();
        params.forEach((key, value) -> {
            if (value != null) {
                out.append(out.length() == 0 ? '?' : '&').append(key).append('=')
                        .append(URLEncoder.encode(value.toString(), StandardCharsets.UTF_8).replace("+", "%20"));
            }
        });
        return out.toString();
    }

    /** {@code /a/b/c} with every segment URL-encoded. */
    static String path(String... segments) {
        StringBuilder out = new StringBuilder();
        for (String segment : segments) {
            out.append('/').append(URLEncoder.encode(segment, StandardCharsets.UTF_8).replace("+", "%20"));
        }
        return out.toString();
    }

    private String request(String method, String path, Object body) {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(base + path)).timeout(timeout);
        if (token != null) {
            request.header("Authorization", "Bearer " + token);
        }
        try {
            if (body != null) {
                request.header("Content-Type", "application/json");
                request.method(method, HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body)));
            } else {
                request.method(method, HttpRequest.BodyPublishers.noBody());
            }
            HttpResponse<String> response = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
            if (response.statusCode() >= 400) {
                throw new BranchException(response.statusCode(), errorMessage(response));
            }
            return response.body();
        } catch (IOException e) {
            throw new BranchException(0, "cannot reach branch at " + base + ": " + (e.getMessage() == null ? e : e.getMessage())
                    + tlsHint(e));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BranchException(0, "interrupted while calling " + base);
        }
    }

    /** What to do about a failed TLS handshake, when that is what failed. */
    private static String tlsHint(Throwable e) {
        for (Throwable cause = e; cause != null; cause = cause.getCause()) {
            if (cause instanceof SSLException) {
                String message = String.valueOf(cause.getMessage());
                if (message.contains("PKIX") || message.contains("certification path")) {
                    return " (the branch's certificate is not trusted: give its CA certificate, e.g. cyme --cacert FILE)";
                }
                if (message.contains("nrecognized SSL message") || message.contains("plaintext")) {
                    return " (the branch does not speak TLS: try http://)";
                }
                return "";
            }
        }
        return "";
    }

    static String errorMessage(HttpResponse<String> response) {
        return errorMessage(response.body(), response.statusCode(), response.uri());
    }

    private static String errorMessage(String body, int status, URI uri) {
        try {
            JsonNode error = JSON.readTree(body).path("error");
            if (error.isTextual()) {
                return error.asText();
            }
        } catch (IOException notJson) {
            // fall through
        }
        return "HTTP " + status + " from " + uri;
    }

    private static String ok(String body) {
        return read(body, JsonNode.class).path("ok").asText();
    }

    private static <T> T read(String body, Class<T> type) {
        try {
            return JSON.readValue(body, type);
        } catch (IOException e) {
            throw new BranchException(0, "unexpected reply from the branch: " + e.getMessage());
        }
    }

    private static <T> T read(String body, TypeReference<T> type) {
        try {
            return JSON.readValue(body, type);
        } catch (IOException e) {
            throw new BranchException(0, "unexpected reply from the branch: " + e.getMessage());
        }
    }
}
