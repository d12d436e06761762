package jcyme.it;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import jcyme.tasks.Json;

/** A real branch JVM started from dist/, and a small HTTP client for it. */
final class BranchProcess implements AutoCloseable {
    /** The warm shutdown time test branches give their instances (as the worker's command line shows it). */
    static final String SHUTDOWN_TIMEOUT = "10.0";
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    final Path dataDir;
    int port;
    /** Where this test reaches the branch: loopback, or its host's address when it runs in a network namespace. */
    private String host = "127.0.0.1";
    private List<String> namespace = List.of();
    private String token;
    private final List<String> command;
    /** For a branch started with --tls-cert: a client trusting its --tls-ca (else its --tls-cert chain). */
    private final HttpClient https;
    private final java.util.Map<String, String> env = new java.util.HashMap<>();
    private final List<String> unset = new ArrayList<>();
    private List<String> prefix = List.of();
    private Process process;
    private int starts;

    /** A reply: status and body (JSON when it parses). */
    record Reply(int status, String text) {
        JsonNode json() {
            try {
                return Json.MAPPER.readTree(text);
            } catch (IOException e) {
                throw new AssertionError("not JSON (" + status + "): " + text);
            }
        }
    }

    BranchProcess(Path dataDir, String... options) throws IOException {
        this.dataDir = dataDir;
        this.port = freePort();
        command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData",
                "-cp", lib() + "/*", "jcyme.cli.BranchMain",
                "-D", dataDir.toString(), "--bind", Integer.toString(port),
                "--sup-interval", "1", "--backoff-base", "0.2", "--start-secs", "3", "--shutdown-timeout", SHUTDOWN_TIMEOUT,
                "--kill-grace", "3"));
        command.addAll(List.of(options));
        https = command.contains("--tls-cert") ? HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5))
                .sslContext(trusting(Path.of(option(command.contains("--tls-ca") ? "--tls-ca" : "--tls-cert")))).build() : null;
        if (!command.contains("--cluster") && !command.contains("--no-cluster")) {
            command.addAll(List.of("--cluster", "it-" + java.util.UUID.randomUUID().toString().substring(0, 8)));
        }
    }

    /**
     * Runs the branch in network namespace {@code ns} ({@code ip netns exec}), listening on every
     * address there at {@code port}; this test reaches it at {@code address}.
     */
    BranchProcess inNamespace(String ns, String address, int port) {
        namespace = List.of("ip", "netns", "exec", ns);
        host = address;
        this.port = port;
        command.addAll(List.of("--bind", "0.0.0.0:" + port));
        return this;
    }

    /** Sends {@code Authorization: Bearer TOKEN} with every call. */
    BranchProcess token(String token) {
        this.token = token;
        return this;
    }

    private String option(String name) {
        return command.get(command.lastIndexOf(name) + 1);
    }

    /** A TLS context trusting exactly the certificates of a PEM file. */
    static javax.net.ssl.SSLContext trusting(Path pem) {
        try (java.io.InputStream in = Files.newInputStream(pem)) {
            java.security.KeyStore store = java.security.KeyStore.getInstance("PKCS12");
            store.load(null, null);
            int i = 0;
            for (java.security.cert.Certificate certificate : java.security.cert.CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                store.setCertificateEntry("ca-" + i++, certificate);
            }
            javax.net.ssl.TrustManagerFactory trust = javax.net.ssl.TrustManagerFactory.getInstance(
                    javax.net.ssl.TrustManagerFactory.getDefaultAlgorithm());
            trust.init(store);
            javax.net.ssl.SSLContext context = javax.net.ssl.SSLContext.getInstance("TLS");
            context.init(null, trust.getTrustManagers(), null);
            return context;
        } catch (IOException | java.security.GeneralSecurityException e) {
            throw new AssertionError("cannot trust " + pem + ": " + e);
        }
    }

    /** Sets (or with a null value removes) an environment variable of the branch JVM. */
    BranchProcess env(String name, String value) {
        if (value == null) {
            unset.add(name);
        } else {
            env.put(name, value);
        }
        return this;
    }

    /**
     * Runs the branch as another OS user ({@code runuser -u USER --}) from a copy of the
     * distribution's lib/ that user can read, in its own data directory (which must be that user's).
     */
    BranchProcess asUser(String user, Path readableLib) {
        prefix = List.of("runuser", "-u", user, "--");
        command.set(command.indexOf(lib() + "/*"), readableLib + "/*");
        return this;
    }

    private ProcessBuilder builder() {
        List<String> full = new ArrayList<>(namespace);
        full.addAll(prefix);
        if (!prefix.isEmpty()) {
            full.add("env");
            unset.forEach(name -> full.addAll(List.of("-u", name)));
            env.forEach((name, value) -> full.add(name + "=" + value));
        }
        full.addAll(command);
        ProcessBuilder builder = new ProcessBuilder(full).redirectErrorStream(true).redirectOutput(out().toFile());
        if (prefix.isEmpty()) {
            unset.forEach(builder.environment()::remove);
            builder.environment().putAll(env);
        } else {
            builder.directory(dataDir.toFile());
        }
        return builder;
    }

    /** The lib/ of the distribution this build assembled ({@code jcyme.dist}, else the checkout's dist/). */
    static Path lib() {
        Path home = Path.of(System.getProperty("jcyme.home", "..")).toAbsolutePath();
        return Path.of(System.getProperty("jcyme.dist", home.resolve("dist").toString())).toAbsolutePath().resolve("lib");
    }

    static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    Path out() {
        return out(starts);
    }

    private Path out(int start) {
        return dataDir.resolveSibling(dataDir.getFileName() + "-branch-" + start + ".out");
    }

    BranchProcess start() throws IOException {
        starts++;
        Files.createDirectories(dataDir);
        process = builder().start();
        Wait.until(Duration.ofSeconds(90), "branch to be ready", () -> read(out()).contains("\nready") || !process.isAlive(),
                () -> read(out()));
        if (!process.isAlive()) {
            throw new AssertionError("branch exited: " + read(out()));
        }
        return this;
    }

    /** Starts the JVM without waiting for it to be ready (for start-up refusals). */
    Process startExpectingExit() throws IOException {
        starts++;
        Files.createDirectories(dataDir.getParent());
        process = builder().start();
        return process;
    }

    long pid() {
        return process.pid();
    }

    void kill9() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(10, TimeUnit.SECONDS);
    }

    String log() {
        return read(out());
    }

    /** The output of every start of this branch so far, oldest first. */
    String logs() {
        StringBuilder all = new StringBuilder();
        for (int start = 1; start <= starts; start++) {
            all.append(read(out(start)));
        }
        return all.toString();
    }

    Reply call(String method, String path) {
        return call(method, path, null);
    }

    String url() {
        return (https != null ? "https" : "http") + "://" + host + ":" + port;
    }

    Reply call(String method, String path, String json) {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(url() + path))
                .timeout(Duration.ofSeconds(30));
        if (json != null) {
            request.header("Content-Type", "application/json");
        }
        if (token != null) {
            request.header("Authorization", "Bearer " + token);
        }
        request.method(method, json == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(json));
        try {
            HttpResponse<String> response = (https != null ? https : HTTP).send(request.build(), HttpResponse.BodyHandlers.ofString());
            return new Reply(response.statusCode(), response.body());
        } catch (IOException e) {
            throw new AssertionError(method + " " + path + ": " + e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted");
        }
    }

    JsonNode json(String method, String path) {
        Reply reply = call(method, path);
        if (reply.status() >= 300) {
            throw new AssertionError(method + " " + path + " -> " + reply.status() + " " + reply.text());
        }
        return reply.json();
    }

    /** Waits until the instance is in {@code state}; returns it. */
    JsonNode awaitState(String app, String name, String state) {
        JsonNode[] last = new JsonNode[1];
        Wait.until(Duration.ofSeconds(60), name + " to be " + state, () -> {
            Reply reply = call("GET", "/" + app + "/instances/" + name);
            last[0] = reply.status() == 200 ? reply.json() : null;
            return last[0] != null && last[0].path("state").asText().equals(state);
        }, () -> "last: " + last[0] + "\n" + log());
        return last[0];
    }

    /**
     * Waits until every instance named is RUNNING with a pid other than the one {@code notPids}
     * gives it (the worker it had before); returns their pids.
     */
    Map<String, Long> awaitRunning(String app, List<String> names, Map<String, Long> notPids, Duration timeout) {
        Map<String, Long> pids = new HashMap<>();
        Map<String, String> last = new TreeMap<>();
        Wait.until(timeout, "instances " + names + " to be RUNNING" + (notPids.isEmpty() ? "" : " (new pid for " + notPids + ")"), () -> {
            pids.clear();
            for (String name : names) {
                Reply reply;
                try {
                    reply = call("GET", "/" + app + "/instances/" + name);
                } catch (AssertionError noReply) {
                    return false;
                }
                if (reply.status() != 200) {
                    last.put(name, reply.status() + " " + reply.text());
                    return false;
                }
                JsonNode json = reply.json();
                last.put(name, json.path("state").asText() + " pid " + json.path("pid").asText());
                if (!json.path("state").asText().equals("RUNNING") || !json.path("pid").isNumber()
                        || json.path("pid").asLong() == notPids.getOrDefault(name, -1L)) {
                    return false;
                }
                pids.put(name, json.path("pid").asLong());
            }
            return true;
        }, () -> last + "\n" + ConcurrencyTest.tail(log(), 40));
        return new HashMap<>(pids);
    }

    /** The port of the branch's embedded broker ({@code --broker-port}). */
    int brokerPort() {
        return Integer.parseInt(option("--broker-port"));
    }

    /**
     * SIGKILLs the branch's embedded broker (the process its {@code broker/broker.pid} names, checked
     * to be one) and waits until the branch has started it again.
     */
    void restartEmbeddedBroker() throws IOException {
        long brokerPid = Long.parseLong(Files.readAllLines(dataDir.resolve("broker/broker.pid")).get(0).trim());
        String cmdline = commandLine(brokerPid);
        if (!cmdline.contains("-Djcyme.broker=")) {
            throw new AssertionError("broker.pid " + brokerPid + " is not the embedded broker: " + cmdline);
        }
        ProcessHandle.of(brokerPid).orElseThrow().destroyForcibly();
        Wait.until(Duration.ofSeconds(10), "the broker to die", () -> !portOpen(brokerPort()));
        Wait.until(Duration.ofSeconds(90), "the branch to start the broker again", () -> portOpen(brokerPort()), this::log);
    }

    /** True when something accepts TCP connections on {@code port} of the loopback address. */
    static boolean portOpen(int port) {
        try (java.net.Socket socket = new java.net.Socket()) {
            socket.connect(new java.net.InetSocketAddress("127.0.0.1", port), 200);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * {@code bin/branch stop -D DIR}: the branch stops together with its instances (warm) and exits.
     * The reply's status is the command's exit code, its text the command's output.
     */
    Reply stopWithInstances() throws IOException, InterruptedException {
        List<String> stop = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", lib() + "/*", "jcyme.cli.BranchMain", "stop", "-D", dataDir.toString());
        Process command = new ProcessBuilder(stop).redirectErrorStream(true).start();
        String output = new String(command.getInputStream().readAllBytes());
        if (!command.waitFor(90, TimeUnit.SECONDS)) {
            command.destroyForcibly();
            throw new AssertionError("branch stop did not exit: " + output);
        }
        if (process != null) {
            process.waitFor(30, TimeUnit.SECONDS);
        }
        return new Reply(command.exitValue(), output);
    }

    /** Runs {@code cyme ARGS} from dist/; the reply's status is its exit code, its text stdout and stderr. */
    static Reply cyme(String... args) throws IOException, InterruptedException {
        return cyme(java.util.Map.of(), args);
    }

    /** {@code cyme ARGS} with these environment variables added. */
    static Reply cyme(java.util.Map<String, String> env, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", lib() + "/*",
                "jcyme.cli.CymeMain"));
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        builder.environment().putAll(env);
        Process cli = builder.start();
        String output = new String(cli.getInputStream().readAllBytes());
        if (!cli.waitFor(60, TimeUnit.SECONDS)) {
            cli.destroyForcibly();
            throw new AssertionError("cyme " + List.of(args) + " did not exit: " + output);
        }
        return new Reply(cli.exitValue(), output);
    }

    /** Kills (SIGKILL) every live process whose command line carries {@code marker}. */
    static void killAllWith(String marker) {
        for (long pid : processesWith(marker)) {
            ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        }
    }

    /** Pids of live processes whose command line carries {@code marker}. */
    static List<Long> processesWith(String marker) {
        List<Long> pids = new ArrayList<>();
        ProcessHandle.allProcesses().forEach(p -> {
            try {
                String cmdline = commandLine(p.pid());
                String stat = Files.readString(Path.of("/proc", Long.toString(p.pid()), "stat"));
                boolean zombie = stat.charAt(stat.lastIndexOf(')') + 2) == 'Z';
                if (cmdline.contains(marker) && !zombie) {
                    pids.add(p.pid());
                }
            } catch (IOException | RuntimeException e) {
                // gone meanwhile
            }
        });
        return pids;
    }

    /** The command line of process {@code pid}, its words joined by spaces. */
    private static String commandLine(long pid) throws IOException {
        return new String(Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline"))).replace('\0', ' ');
    }

    private static String read(Path file) {
        try {
            return Files.exists(file) ? Files.readString(file) : "";
        } catch (IOException e) {
            return "";
        }
    }

    /**
     * Stops the branch; its instances keep running, as they do when a branch stops. A spare worker
     * still waiting for a claim is killed: one dies with its branch anyway, but one handed a claim
     * just before the branch went becomes that instance a moment later, after a caller's scan for the
     * instance's marker, and would outlive the test.
     */
    @Override
    public void close() throws InterruptedException {
        if (process != null && process.isAlive()) {
            List<ProcessHandle> started = process.descendants().toList();
            process.destroy();
            if (!process.waitFor(20, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
            for (ProcessHandle child : started) {
                try {
                    if (child.isAlive() && commandLine(child.pid()).contains("-Djcyme.spare=")) {
                        child.destroyForcibly();
                    }
                } catch (IOException gone) {
                    // exited meanwhile
                }
            }
        }
    }
}
