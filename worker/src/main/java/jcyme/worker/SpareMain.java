package jcyme.worker;

import ch.qos.logback.classic.Level;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import jcyme.tasks.Json;

/**
 * A spare worker: a JVM a branch starts ahead of need for one app configuration. Its first line on
 * stdin names what every worker of that configuration shares (the broker and the task class path);
 * it loads and initialises what every worker needs (command-line model, logging, JSON, SQLite's
 * native library, the AMQP client), loads the app's tasks and connects to its broker (see
 * {@link Prepared}), then waits for a second line naming the instance it is to become. Claimed, it
 * takes the instance's name on its command line (see {@link ProcessTitle}), moves into the
 * instance's directory and log (its working directory and file descriptors 1 and 2, see
 * {@link ProcessHome}) and runs as {@code WorkerMain} with the given arguments: from there on it is
 * that instance's worker, and nothing tells it from one started cold.
 *
 * <p>Its stdin is a pipe from the branch and its lifeline: end of input before a claim means the
 * branch is gone, and the spare exits, so an unclaimed spare never outlives its branch.
 *
 * <p>The preparation: {@code {"broker": url, "classpath": [entries]}}; the claim:
 * {@code {"title": [words], "broker": url, "dir": path, "log": path, "args": [worker options]}}.
 */
public final class SpareMain {
    /** The command-line word a spare starts with; its length bounds the instance words that replace it. */
    public static final String PLACEHOLDER = "-Djcyme.spare=";
    /** Exit code of a spare that cannot take an instance's name (its command line cannot be rewritten here). */
    public static final int EXIT_UNSUPPORTED = 4;

    private SpareMain() {}

    public static void main(String[] args) throws Exception {
        try {
            ProcessTitle.replace(PLACEHOLDER, ProcessTitle.word(PLACEHOLDER));
        } catch (Exception e) {
            System.err.println("spare: cannot rewrite its command line (" + e.getMessage() + "); exiting");
            System.exit(EXIT_UNSUPPORTED);
        }
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String preparation = in.readLine();
        if (preparation == null) {
            System.exit(0);
        }
        warmUp();
        JsonNode app = Json.MAPPER.readTree(preparation);
        List<Path> classpath = new ArrayList<>();
        app.path("classpath").forEach(entry -> classpath.add(Path.of(entry.asText())));
        Prepared.prepare(app.path("broker").asText(null), classpath);
        String line = in.readLine();
        if (line == null) {
            Prepared.discard();
            System.exit(0);
        }
        JsonNode claim = Json.MAPPER.readTree(line);
        List<String> title = new ArrayList<>();
        claim.path("title").forEach(word -> title.add(word.asText()));
        ProcessTitle.replace(PLACEHOLDER, title.toArray(String[]::new));
        ProcessHome.move(Path.of(claim.path("dir").asText()), Path.of(claim.path("log").asText()));
        WorkerMain.claimedBroker = claim.path("broker").asText(null);
        List<String> workerArgs = new ArrayList<>();
        claim.path("args").forEach(word -> workerArgs.add(word.asText()));
        System.exit(WorkerMain.run(workerArgs.toArray(String[]::new)));
    }

    /** Does once, before a claim, the start-up work every worker repeats. */
    private static void warmUp() throws Exception {
        Logging.configure(Level.WARN, null);
        WorkerMain.checkExtraArguments(List.of("-Q", "a,b", "--autoscale", "2,1", "-E", "-l", "INFO", "--time-limit", "1.5"));
        Json.MAPPER.readTree(Json.bytes(java.util.Map.of("warm", List.of(1, 2.5, "x"))));
        try (Connection db = DriverManager.getConnection("jdbc:sqlite::memory:"); Statement s = db.createStatement()) {
            s.execute("CREATE TABLE warm (id TEXT PRIMARY KEY, at REAL)");
        }
        new com.rabbitmq.client.ConnectionFactory();
        ProcessHome.load();
        rehearse();
    }

    /**
     * Goes once through a worker's start up to its first consumer, in a scratch directory and
     * without a broker: parse a claim's options, build the worker, take a pid lock, open a state
     * db, bind a control socket. What is left of a claimed start then runs on loaded, linked code.
     */
    private static void rehearse() {
        Path scratch = null;
        try {
            scratch = java.nio.file.Files.createTempDirectory("jcyme-spare");
            WorkerMain options = new WorkerMain();
            new picocli.CommandLine(options).setOverwrittenOptionsAllowed(true).parseArgs("-n", "spare", "-E", "-Q", "a,b",
                    "--autoscale", "2,1", "--pidfile", scratch.resolve("worker.pid").toString(),
                    "--logfile", scratch.resolve("worker.log").toString(), "--statedb", scratch.resolve("worker.db").toString(),
                    "--control-socket", scratch.resolve("worker.sock").toString(), "--shutdown-timeout", "60.0");
            WorkerConfig config = options.config();
            Logging.configure(Level.WARN, config.pidfile().resolveSibling("worker.log"));
            Logging.configure(Level.WARN, null);
            new Worker(config, java.util.Map.of());
            Pidfile pid = Pidfile.acquire(config.pidfile());
            try (StateDb db = StateDb.open(config.statedb())) {
                WorkerState.restore(db).saveClock();
            }
            ControlServer control = new ControlServer(config.controlSocket(), new ControlCommands());
            control.start();
            control.close();
            pid.write();
            pid.release();
        } catch (Exception e) {
            System.err.println("spare: rehearsal of a start failed (" + e + "); carrying on");
        } finally {
            if (scratch != null) {
                deleteTree(scratch);
            }
        }
    }

    private static void deleteTree(Path dir) {
        try (var paths = java.nio.file.Files.walk(dir)) {
            paths.sorted(java.util.Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
        } catch (java.io.IOException e) {
            // a scratch directory in the temp dir: left to the system
        }
    }
}
