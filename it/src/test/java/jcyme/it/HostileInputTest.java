package jcyme.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Stream;
import jcyme.api.Names;
import jcyme.tasks.Json;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.ResourceLock;

/**
 * Thousands of generated hostile requests against a live branch — random paths and verbs, names
 * with {@code ../}, {@code %2e%2e}, NUL and unicode, huge values, malformed JSON and forms, foreign
 * Host and Origin headers — and three promises: no answer is a 5xx, every error is the API's JSON
 * error, and no refused request changes the store (apps, queues, instances and their records) or
 * a directory on disk. The generator is seeded; the seed is printed, and {@code -Dhostile.seed=N}
 * replays a run ({@code -Dhostile.requests=N} changes its length).
 */
@ResourceLock(TestBroker.RABBITMQ)
class HostileInputTest {
    static final String APP = "fz";
    static final String INSTANCE = "w1";
    static final String QUEUE = "q1";
    static final Set<String> SAFE = Set.of("GET", "HEAD", "OPTIONS");
    static final long MAX_BODY = 1 << 20;
    /** Instance fields that are the record (not the process's live state). */
    static final List<String> RECORD_FIELDS = List.of("name", "app", "branch", "queues", "min_concurrency", "max_concurrency",
            "is_enabled", "broker", "arguments", "extra_config", "dir");

    @TempDir
    static Path tmp;

    static BranchProcess branch;
    static final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();

    @BeforeAll
    static void start() throws Exception {
        branch = new BranchProcess(tmp.resolve("instances"), "--no-cluster", "--broker", TestBroker.rabbitmq().url(),
                "--max-instances", "1", "-l", "WARNING").start();
        ok(branch.call("PUT", "/" + APP, "{\"max_concurrency\": 2, \"default_queues\": [\"" + APP + "-" + QUEUE + "\"]}"));
        ok(branch.call("PUT", "/" + APP + "/queues/" + QUEUE, "{\"routing_key\": \"rk\"}"));
        ok(branch.call("POST", "/" + APP + "/instances/" + INSTANCE, "{\"max\": 2, \"queues\": [\"" + APP + "-" + QUEUE + "\"]}"));
        branch.awaitState(APP, INSTANCE, "RUNNING");
        // the app's spare worker is made once its first worker is ready: it is there before the first snapshot
        Wait.until(Duration.ofSeconds(30), "the app's spare worker", () -> Files.exists(tmp.resolve("instances").resolve("spares.log")));
    }

    static void ok(BranchProcess.Reply reply) {
        assertTrue(reply.status() < 300, reply.toString());
    }

    @AfterAll
    static void stop() throws Exception {
        if (branch != null) {
            branch.close();
        }
        BranchProcess.processesWith("-Djcyme.instance=" + APP + "/")
                .forEach(pid -> ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly));
    }

    /** One generated request: what it is (for a failure message) and its bytes. */
    record Attempt(String method, String shown, byte[] bytes, int bodyLength) {}

    @Test
    void hostileRequestsAreRefusedCleanlyAndChangeNothing() throws Exception {
        long seed = Long.getLong("hostile.seed", System.nanoTime());
        int count = Integer.getInteger("hostile.requests", 2400);
        System.out.println("HostileInputTest: seed " + seed + " (replay with -Dhostile.seed=" + seed + "), " + count + " requests");
        Generator generator = new Generator(new Random(seed), branch.port);
        Map<String, Object> before = snapshot();
        List<String> failures = new ArrayList<>();
        Map<Integer, Integer> statuses = new TreeMap<>();
        List<String> accepted = new ArrayList<>();
        long started = System.nanoTime();
        for (int i = 0; i < count && failures.size() < 25; i++) {
            Attempt attempt = generator.next();
            RawHttp.Response response;
            try {
                response = RawHttp.exchange(branch.port, attempt.bytes(), !attempt.method().equals("HEAD"), true);
            } catch (IOException e) {
                if (attempt.bodyLength() > MAX_BODY) {
                    // the branch answered before the upload was over and closed: it would not read that much
                    statuses.merge(-1, 1, Integer::sum);
                } else {
                    failures.add("#" + i + " " + attempt.shown() + " -> no response: " + e);
                }
                continue;
            }
            statuses.merge(response.status(), 1, Integer::sum);
            String problem = problem(attempt, response);
            if (problem != null) {
                failures.add("#" + i + " " + attempt.shown() + " -> " + problem);
            }
            if (!SAFE.contains(attempt.method())) {
                Map<String, Object> after = snapshot();
                if (response.status() < 400 && accepted.size() < 20) {
                    accepted.add(response.status() + " " + abbreviate(attempt.shown()));
                }
                if (response.status() >= 400 && !after.equals(before)) {
                    failures.add("#" + i + " " + attempt.shown() + " -> " + response.status() + " but changed the store:\n  before "
                            + before + "\n  after  " + after);
                }
                before = after;
            }
        }
        System.out.println("HostileInputTest: statuses " + statuses + " (-1: connection closed during a body over the limit) in "
                + (System.nanoTime() - started) / 1_000_000 + " ms; changes accepted (the first 20):\n  " + String.join("\n  ", accepted));
        assertEquals(200, branch.call("GET", "/ping").status(), "the branch still answers");
        assertTrue(failures.isEmpty(), failures.size() + " failure(s) with seed " + seed + ":\n" + String.join("\n", failures)
                + "\n--- branch log (end) ---\n" + tail(branch.log()));
    }

    /** What is wrong with the answer, or null: no 5xx, and every error is {"error": "<sentence>"}. */
    static String problem(Attempt attempt, RawHttp.Response response) {
        String shown = response.status() + " " + response.header("content-type") + " "
                + response.body().substring(0, Math.min(300, response.body().length()));
        if (response.status() >= 500) {
            return shown + " (a server error)";
        }
        if (response.status() < 400) {
            return null;
        }
        String type = response.header("content-type");
        if (type == null || !type.startsWith("application/json")) {
            return shown + " (an error that is not application/json)";
        }
        if (attempt.method().equals("HEAD")) {
            return null;
        }
        try {
            JsonNode body = Json.MAPPER.readTree(response.body());
            if (!body.path("error").isTextual() || body.path("error").asText().isBlank()) {
                return shown + " (not {\"error\": \"...\"})";
            }
        } catch (IOException e) {
            return shown + " (not JSON)";
        }
        return null;
    }

    /** The store as the API shows it (records only, not live process state), and the directories on disk. */
    static Map<String, Object> snapshot() throws Exception {
        Map<String, Object> state = new TreeMap<>();
        JsonNode apps = get("/");
        state.put("/", apps);
        List<String> paths = new ArrayList<>();
        for (JsonNode app : apps) {
            String name = "/" + app.asText();
            paths.addAll(List.of(name, name + "/instances", name + "/queues"));
        }
        Map<String, CompletableFuture<JsonNode>> asked = new LinkedHashMap<>();
        paths.forEach(p -> asked.put(p, getAsync(p)));
        for (Map.Entry<String, CompletableFuture<JsonNode>> entry : asked.entrySet()) {
            state.put(entry.getKey(), entry.getValue().get());
        }
        Map<String, CompletableFuture<JsonNode>> more = new LinkedHashMap<>();
        for (JsonNode app : apps) {
            String name = "/" + app.asText();
            for (JsonNode queue : (JsonNode) state.get(name + "/queues")) {
                more.put(name + "/queues/" + queue.asText(), getAsync(name + "/queues/" + queue.asText()));
            }
            for (JsonNode instance : (JsonNode) state.get(name + "/instances")) {
                more.put(name + "/instances/" + instance.asText(), getAsync(name + "/instances/" + instance.asText()));
                more.put(name + "/instances/" + instance.asText() + "/autoscale",
                        getAsync(name + "/instances/" + instance.asText() + "/autoscale"));
            }
        }
        for (Map.Entry<String, CompletableFuture<JsonNode>> entry : more.entrySet()) {
            JsonNode value = entry.getValue().get();
            if (value instanceof ObjectNode object && entry.getKey().matches("/[^/]+/instances/[^/]+")) {
                object.retain(RECORD_FIELDS);
            }
            state.put(entry.getKey(), value);
        }
        state.put("data dir", entries(branch.dataDir));
        state.put("test dir", entries(tmp));
        return state;
    }

    static List<String> entries(Path dir) throws IOException {
        try (Stream<Path> list = Files.list(dir)) {
            return list.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    static JsonNode get(String path) throws Exception {
        return getAsync(path).get();
    }

    static CompletableFuture<JsonNode> getAsync(String path) {
        HttpRequest request = HttpRequest.newBuilder(URI.create(branch.url() + path)).timeout(Duration.ofSeconds(30)).GET().build();
        return http.sendAsync(request, HttpResponse.BodyHandlers.ofByteArray()).thenApply(response -> {
            JsonNode body = Json.parse(response.body());
            return response.statusCode() == 200 ? body : Json.tree(Map.of("status", response.statusCode(), "body", body));
        });
    }

    static String tail(String log) {
        return log.length() <= 4000 ? log : log.substring(log.length() - 4000);
    }

    /** Hostile requests, from a seeded Random. */
    static final class Generator {
        final Random random;
        final int port;

        static final List<String> METHODS = List.of("GET", "GET", "HEAD", "POST", "POST", "PUT", "PUT", "DELETE", "DELETE",
                "PATCH", "OPTIONS", "TRACE", "FROB", "post", "CONNECT");
        static final List<String> SEGMENTS = List.of("..", ".", "%2e%2e", "%2E%2e", "%2e", "..%2f..%2fetc", "%2f", "%5c..%5c",
                "a%00b", "%00", "nul%00.txt", "\u00fcn\u00efc\u00f6d\u00e9", "\u65e5\u672c", "\ud83d\udca9", "%F0%9F%92%A9", "%C3%BC",
                "%c0%ae%c0%ae", "%ff", "%", "%zz", "a%20b", "a;b", "a;jsessionid=1", "~root", "$HOME", "`id`", "'", "\"", "<x>",
                "-rf", "-XX:OnError=id", ".hidden", "a.", "CON", "instances", "queues", "tasks", "query", "!", "ping", "branches",
                "broker", "branch.db", "branch.lock", APP, INSTANCE, QUEUE, "w2", "x", "0", "-1");
        /** Hosts that are never allowed. */
        static final List<String> HOSTS = List.of("evil.example", "evil.example:8000", "localhost.evil.example", "127.0.0.1.nip.io",
                "[::2]", "1.2.3.4", "0.0.0.0", "", "a b", "[", ":80", "\u00fcnic\u00f6de", "%65vil", "x".repeat(300),
                "127.1", "2130706433", "localhost.", "[::1", "127.0.0.1 evil.example");
        /** Hosts that are malformed spellings of allowed ones (only for reads). */
        static final List<String> ODD_HOSTS = List.of("127.0.0.1:99999", "127.0.0.1:-1", "LOCALHOST", "[::1]:x", "[0:0:0:0:0:0:0:1]",
                "127.0.0.1:", "localhost:0");
        static final List<String> ORIGINS = List.of("http://evil.example", "null", "https://127.0.0.1", "http://127.0.0.1:1",
                "http://localhost:3000", "file://", "%%%", "http://evil.example/path", "http://127.0.0.1.evil.example",
                "javascript:alert(1)", "");
        static final List<String> SITES = List.of("cross-site", "same-site", "CROSS-SITE", "x");
        static final List<String> BAD_INTS = List.of("20000", "257", "-1", "abc", "1e309", "NaN", "Infinity", "99999999999",
                "%00", "1.5", "0x10", " 3", "\u0663");
        static final List<String> BAD_WAITS = List.of("301", "-1", "1e309", "abc", "NaN", "Infinity", "-Infinity", "1e10",
                "300.5", "%00", "0x1");
        static final List<String> CONTENT_TYPES = List.of("application/json", "application/json; charset=utf-8",
                "application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=bogus", "text/plain",
                "multipart/form-data; boundary=x", "multipart/form-data", "application/json; charset=utf-16", "", "*/*",
                "application/xml");

        Generator(Random random, int port) {
            this.random = random;
            this.port = port;
        }

        <T> T pick(List<T> list) {
            return list.get(random.nextInt(list.size()));
        }

        boolean chance(int percent) {
            return random.nextInt(100) < percent;
        }

        Attempt next() {
            return switch (random.nextInt(10)) {
                case 0, 1, 2 -> randomRequest();
                case 3 -> appChange();
                case 4 -> instanceCreate();
                case 5 -> instanceChange();
                case 6 -> queueChange();
                case 7 -> taskSend();
                case 8 -> reads();
                default -> browser();
            };
        }

        /** A name that is never a valid one (so it can never create anything). */
        String badName() {
            String segment = pick(SEGMENTS);
            return switch (random.nextInt(6)) {
                case 0 -> "..%2f" + segment;
                case 1 -> "a".repeat(129 + random.nextInt(400));
                case 2 -> segment + "%00";
                case 3 -> "%2e%2e";
                case 4 -> "-" + segment;
                default -> Names.problem("x", decodeish(segment)) != null ? segment : "." + segment;
            };
        }

        static String decodeish(String segment) {
            try {
                return java.net.URLDecoder.decode(segment, StandardCharsets.UTF_8);
            } catch (IllegalArgumentException e) {
                return segment;
            }
        }

        String path(int depth) {
            StringBuilder path = new StringBuilder();
            for (int i = 0; i < depth; i++) {
                path.append('/').append(chance(85) ? pick(SEGMENTS) : badName());
            }
            if (depth == 0 || chance(15)) {
                path.append('/');
            }
            return path.toString();
        }

        /** Random verb, path, headers and body; a request that could route to a change always carries a hostile header. */
        Attempt randomRequest() {
            String method = pick(METHODS);
            String path = path(random.nextInt(8));
            if (chance(20)) {
                path = path.replaceFirst("/instances", "/instances/!");
            }
            String query = chance(30) ? "?" + pick(List.of("max", "min", "timeout", "lines", "queues", "a", "branch",
                    "placement", "%00")) + "=" + pick(BAD_INTS) : "";
            List<String> headers = new ArrayList<>();
            String host = local();
            boolean hostile = false;
            if (chance(25)) {
                host = pick(HOSTS);
                hostile = true;
            }
            if (chance(25)) {
                headers.add("Origin: " + pick(ORIGINS));
                hostile = true;
            }
            if (!SAFE.contains(method) && !hostile) {
                // never let a random request be a valid change by accident: refuse it at the door
                if (chance(50)) {
                    headers.add("Origin: " + pick(ORIGINS.subList(0, 10)));
                } else if (chance(50)) {
                    headers.add("Sec-Fetch-Site: " + pick(SITES));
                } else {
                    host = pick(HOSTS.subList(0, 7));
                }
            }
            byte[] body = chance(50) ? body() : null;
            if (body != null) {
                headers.add("Content-Type: " + pick(CONTENT_TYPES));
            }
            return request(method, path + query, host, headers, body);
        }

        /** PUT/POST an app with at least one invalid field, maybe beside huge valid-looking ones. */
        Attempt appChange() {
            String name = chance(70) ? APP : chance(50) ? badName() : "fz-new";
            Map<String, Object> fields = new LinkedHashMap<>();
            switch (random.nextInt(9)) {
                case 0 -> fields.put("max_concurrency", pick(List.of(20000, 257, -1, 0, "abc", 1e300)));
                case 1 -> fields.put("min_concurrency", pick(List.of(-5, 300, "x")));
                case 2 -> {
                    // a string or a number is a one-element list in a form, so a bad maximum makes sure it is refused
                    fields.put("jvm_options", pick(List.of(5, Map.of("a", 1), "x".repeat(10))));
                    fields.put("max_concurrency", 257);
                }
                case 3 -> fields.put("env", pick(List.of(List.of(1, 2), "not-an-object", 7)));
                case 4 -> fields.put("classpath", List.of("/no/such/" + pick(SEGMENTS) + ".jar"));
                case 5 -> fields.put("broker", pick(List.of("nope://x", "amqp:///vhost", "::::", "amqp://h:99999//", "%00")));
                case 6 -> fields.put(pick(List.of("evil", "name", "__proto__", "jvm-options", "")), "x");
                case 7 -> fields.put("default_queues", List.of(badName()));
                default -> fields.put("extra_config", pick(List.of("not json", "[1]", 3)));
            }
            if (chance(30)) {
                // huge and dangerous values beside the invalid one: the whole change is refused
                fields.putIfAbsent("jvm_options", List.of("-XX:OnError=touch " + tmp.resolve("pwned"), "x".repeat(random.nextInt(200_000))));
                fields.putIfAbsent("env", Map.of("JAVA_TOOL_OPTIONS", "-javaagent:/tmp/evil.jar", "LD_PRELOAD", "/tmp/evil.so"));
            }
            String method = pick(List.of("PUT", "POST"));
            return chance(60) ? json(method, "/" + name, fields, local()) : form(method, "/" + name, fields, local());
        }

        /** Creating an instance: invalid fields, or a valid one beyond this branch's one-instance limit. */
        Attempt instanceCreate() {
            String app = chance(80) ? APP : badName();
            String name = chance(50) ? badName() : pick(List.of("w2", "w3", INSTANCE, ""));
            String path = "/" + app + "/instances" + (chance(20) ? "/!" : "") + (name.isEmpty() ? "" : "/" + name);
            Map<String, Object> fields = new LinkedHashMap<>();
            switch (random.nextInt(7)) {
                case 0 -> fields.put("max", pick(List.of(20000, 257, -1, "abc", 1e12)));
                case 1 -> fields.put("queues", pick(List.of(List.of(badName()), "a,..%2f,b", 5, Map.of("a", 1))));
                case 2 -> fields.put("broker", pick(List.of("nope://", "amqp://h:0//x", "")));
                case 3 -> fields.put(pick(List.of("jvm_options", "env", "classpath", "dir")), "x");
                case 4 -> fields.put("extra_config", pick(List.of("[", List.of(1), "x".repeat(5000))));
                case 5 -> fields.put("placement", pick(List.of("random", "", "least-loaded")));
                default -> fields.put("min", 3);
            }
            return chance(50) ? json("POST", path, fields, local()) : form("POST", path, fields, local());
        }

        /** Autoscale, restart/enable/disable, bind and delete on the one instance — always refused. */
        Attempt instanceChange() {
            String base = "/" + APP + "/instances/" + (chance(15) ? "!/" : "") + (chance(85) ? INSTANCE : badName());
            return switch (random.nextInt(5)) {
                case 0, 1 -> request(pick(List.of("PUT", "POST")), base + "/autoscale?max=" + pick(BAD_INTS)
                        + (chance(50) ? "&min=" + pick(BAD_INTS) : ""), local(), List.of(), null);
                case 2 -> request(pick(List.of("PUT", "POST", "DELETE")), base + "/queues/" + badName(), local(), List.of(), null);
                case 3 -> request(pick(List.of("POST", "DELETE")), base + pick(List.of("", "/restart", "/enable", "/disable")),
                        pick(HOSTS), List.of(), null); // every one of HOSTS is refused
                default -> request(pick(List.of("POST", "DELETE", "PUT")), base + pick(List.of("", "/restart", "/disable")),
                        local(), List.of("Origin: " + pick(ORIGINS.subList(0, 10)), "Content-Type: application/x-www-form-urlencoded"),
                        "a=1".getBytes(StandardCharsets.UTF_8));
            };
        }

        Attempt queueChange() {
            String app = chance(80) ? APP : badName();
            Map<String, Object> fields = new LinkedHashMap<>();
            if (chance(50)) {
                fields.put(pick(List.of("exchange", "routing_key", "exchange_type")), badName());
            }
            if (chance(30)) {
                fields.put("options", pick(List.of("[", "x", List.of(1))));
            }
            String path = "/" + app + "/queues/" + (chance(80) ? badName() : QUEUE + "/" + badName());
            String method = pick(List.of("PUT", "POST", "DELETE"));
            return chance(50) ? json(method, path, fields, local()) : form(method, path, fields, local());
        }

        /** Tasks with broken arguments; the store holds no tasks, so nothing to change — but nothing may break either. */
        Attempt taskSend() {
            String task = chance(60) ? pick(List.of("tasks.add", "tasks.noop")) : badName();
            Map<String, Object> fields = new LinkedHashMap<>();
            switch (random.nextInt(5)) {
                case 0 -> fields.put("args", pick(List.of("x", 5, Map.of("a", 1))));
                case 1 -> fields.put("kwargs", pick(List.of("x", List.of(1))));
                case 2 -> fields.put("countdown", pick(List.of("NaN", "Infinity", "-Infinity", 1e300, -1e300, "x", "1e309")));
                case 3 -> fields.put("queue", badName());
                default -> fields.put("args", List.of("x".repeat(random.nextInt(100_000))));
            }
            if (!fields.containsKey("countdown") && !fields.containsKey("queue")) {
                fields.put("queue", badName()); // so that nothing is ever published
            }
            String path = "/" + (chance(85) ? APP : badName()) + "/tasks/" + task;
            return chance(60) ? json("POST", path, fields, local()) : form("POST", path, fields, local());
        }

        Attempt reads() {
            String id = chance(50) ? java.util.UUID.randomUUID().toString() : badName();
            String path = switch (random.nextInt(6)) {
                case 0 -> "/" + APP + "/query/" + id + "/wait?timeout=" + pick(BAD_WAITS);
                case 1 -> "/" + APP + "/query/" + id + "/" + pick(List.of("state", "result", "wait?timeout=0"));
                case 2 -> "/" + APP + "/instances/" + INSTANCE + "/log?lines=" + pick(BAD_INTS);
                case 3 -> "/" + APP + "/instances/" + badName() + pick(List.of("", "/stats", "/queues", "/autoscale", "/log"));
                case 4 -> "/branches/" + badName();
                default -> "/" + badName() + pick(List.of("", "/instances", "/queues"));
            };
            String host = chance(20) ? pick(HOSTS) : chance(15) ? pick(ODD_HOSTS) : local();
            return request(pick(List.of("GET", "HEAD")), path, host, List.of(), null);
        }

        /** What a hostile web page can make a browser send: a form or fetch with its Origin. */
        Attempt browser() {
            String path = pick(List.of("/evil", "/" + APP, "/" + APP + "/instances/w-evil", "/" + APP + "/instances",
                    "/" + APP + "/instances/" + INSTANCE, "/" + APP + "/instances/" + INSTANCE + "/autoscale?max=3",
                    "/" + APP + "/queues/evil", "/" + APP + "/tasks/tasks.add", "/branches/x"));
            List<String> headers = new ArrayList<>();
            if (chance(80)) {
                headers.add("Origin: " + pick(ORIGINS.subList(0, 10)));
            }
            headers.add("Sec-Fetch-Site: " + pick(SITES.subList(0, 2)));
            headers.add("Content-Type: " + pick(List.of("application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=b")));
            byte[] body = ("jvm_options=-XX:OnError=touch+" + tmp.resolve("pwned") + "&queues=celery&max=2")
                    .getBytes(StandardCharsets.UTF_8);
            return request(pick(List.of("POST", "PUT", "DELETE")), path, chance(20) ? pick(HOSTS.subList(0, 3)) : local(), headers, body);
        }

        String local() {
            return pick(List.of("127.0.0.1:" + port, "localhost:" + port, "[::1]:" + port, "127.0.0.1"));
        }

        byte[] body() {
            return switch (random.nextInt(14)) {
                case 0 -> "{".getBytes(StandardCharsets.UTF_8);
                case 1 -> "{\"max\": ".getBytes(StandardCharsets.UTF_8);
                case 2 -> "[1,2".getBytes(StandardCharsets.UTF_8);
                case 3 -> "[".repeat(5000 + random.nextInt(50_000)).getBytes(StandardCharsets.UTF_8);
                case 4 -> ("{\"a\":".repeat(3000) + "1" + "}".repeat(3000)).getBytes(StandardCharsets.UTF_8);
                case 5 -> new byte[] {(byte) 0xff, (byte) 0xfe, 0, 0x7b, (byte) 0xc3};
                case 6 -> "a=%zz&=&&&b&%".getBytes(StandardCharsets.UTF_8);
                case 7 -> ("max=" + pick(BAD_INTS) + "&queues=" + badName()).getBytes(StandardCharsets.UTF_8);
                case 8 -> ("{\"s\": \"" + "\\u0000".repeat(1000) + "\", \"max_concurrency\": 20000}").getBytes(StandardCharsets.UTF_8);
                case 9 -> ("{\"n\": 1" + "0".repeat(5000) + "}").getBytes(StandardCharsets.UTF_8);
                case 10 -> chance(20) ? ("{\"x\": \"" + "y".repeat((1 << 20) + 10) + "\"}").getBytes(StandardCharsets.UTF_8)
                        : "null".getBytes(StandardCharsets.UTF_8);
                case 11 -> "--x\r\nContent-Disposition: form-data; name=\"max\"\r\n\r\n20000\r\n--x".getBytes(StandardCharsets.UTF_8);
                case 12 -> {
                    byte[] bytes = new byte[random.nextInt(2000)];
                    random.nextBytes(bytes);
                    yield bytes;
                }
                default -> "{\"a\": 1, \"a\": 2, \"max_concurrency\": -1}".getBytes(StandardCharsets.UTF_8);
            };
        }

        Attempt json(String method, String path, Map<String, Object> fields, String host) {
            List<String> headers = new ArrayList<>(List.of("Content-Type: application/json"));
            return request(method, path, host, headers, Json.string(fields).getBytes(StandardCharsets.UTF_8));
        }

        Attempt form(String method, String path, Map<String, Object> fields, String host) {
            StringBuilder form = new StringBuilder();
            fields.forEach((key, value) -> {
                String text = value instanceof String s ? s : Json.string(value);
                form.append(form.length() == 0 ? "" : "&").append(java.net.URLEncoder.encode(key, StandardCharsets.UTF_8)).append('=')
                        .append(chance(80) ? java.net.URLEncoder.encode(text, StandardCharsets.UTF_8) : text);
            });
            boolean inQuery = chance(30);
            String target = inQuery ? path + (path.contains("?") ? "&" : "?") + form : path;
            List<String> headers = new ArrayList<>();
            if (!inQuery) {
                headers.add("Content-Type: application/x-www-form-urlencoded");
            }
            return request(method, target, host, headers, inQuery ? null : form.toString().getBytes(StandardCharsets.UTF_8));
        }

        Attempt request(String method, String target, String host, List<String> headers, byte[] body) {
            List<String> all = new ArrayList<>(headers);
            if (chance(10)) {
                all.add("Authorization: Bearer " + pick(List.of("x", "", "\u00e9", "a".repeat(2000))));
            }
            boolean chunked = body != null && chance(15);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            StringBuilder head = new StringBuilder(method).append(' ').append(target.isEmpty() ? "/" : target).append(" HTTP/1.1\r\n");
            head.append("Host: ").append(host).append("\r\nConnection: close\r\n");
            all.forEach(h -> head.append(h).append("\r\n"));
            if (body != null) {
                head.append(chunked ? "Transfer-Encoding: chunked\r\n" : "Content-Length: " + body.length + "\r\n");
            }
            head.append("\r\n");
            out.writeBytes(head.toString().getBytes(StandardCharsets.UTF_8));
            if (body != null && chunked) {
                for (int at = 0; at < body.length; at += 8192) {
                    int length = Math.min(8192, body.length - at);
                    out.writeBytes((Integer.toHexString(length) + "\r\n").getBytes(StandardCharsets.US_ASCII));
                    out.write(body, at, length);
                    out.writeBytes("\r\n".getBytes(StandardCharsets.US_ASCII));
                }
                out.writeBytes("0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            } else if (body != null) {
                out.writeBytes(body);
            }
            String shownBody = body == null ? "" : " body " + new String(body, 0, Math.min(body.length, 120), StandardCharsets.UTF_8)
                    + (body.length > 120 ? "...(" + body.length + " bytes)" : "") + (chunked ? " chunked" : "");
            String shown = method + " " + abbreviate(target) + " Host: " + abbreviate(host) + " " + all.stream().map(
                    HostileInputTest::abbreviate).toList() + shownBody;
            return new Attempt(method, shown, out.toByteArray(), body == null ? 0 : body.length);
        }
    }

    static String abbreviate(String text) {
        return text.length() <= 160 ? text : text.substring(0, 160) + "...(" + text.length() + " chars)";
    }
}
