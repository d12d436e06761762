package jcyme.supervisor;

import java.io.File;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * One run of an app's setup command before its worker starts: {@code /bin/sh -c} in the instance
 * directory, in a session of its own ({@code setsid}, so a timeout kills everything it started),
 * with the app's environment (not the broker URL), stdin from /dev/null and its output appended
 * to {@code worker.log} after a line {@code setup: <cmd>}.
 */
final class SetupRun {
    /** How many of its last output lines a failure reports. */
    static final int LAST_LINES = 5;
    /** The most of its output read back for those lines. */
    private static final int TAIL_BYTES = 64 * 1024;

    private final Process process;
    private final Path log;
    private final long offset;

    private SetupRun(Process process, Path log, long offset) {
        this.process = process;
        this.log = log;
        this.offset = offset;
    }

    static SetupRun start(InstanceSpec spec) throws IOException {
        WorkerLauncher.privateDirectory(spec.dir());
        Path log = spec.logfile();
        append(log, Instant.now() + " setup: " + spec.setupCmd().replace('\n', ' '));
        long offset = Files.size(log);
        ProcessBuilder builder = new ProcessBuilder("setsid", "/bin/sh", "-c", spec.setupCmd())
                .directory(spec.dir().toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                .redirectErrorStream(true);
        builder.environment().putAll(spec.env());
        try {
            return new SetupRun(builder.start(), log, offset);
        } catch (IOException e) {
            throw new IOException("cannot run setup_cmd: " + e.getMessage(), e);
        }
    }

    /** Waits for the command: empty if it exited 0, else why the start failed, with its last output lines. */
    Optional<String> await(Duration timeout) {
        String why;
        try {
            if (process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                int code = process.exitValue();
                if (code == 0) {
                    append(log, Instant.now() + " setup: done");
                    return Optional.empty();
                }
                why = "setup_cmd exited with status " + code;
            } else {
                kill();
                why = "setup_cmd timed out after " + timeout.toMillis() / 1000.0 + " s";
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            kill();
            why = "setup_cmd interrupted";
        }
        List<String> last = lastLines();
        append(log, Instant.now() + " setup: failed: " + why);
        return Optional.of(why + (last.isEmpty() ? "" : "; last output: " + String.join(" | ", last)));
    }

    /** Kills the command and everything it started (its process group). */
    void kill() {
        WorkerLauncher.run(List.of("kill", "-KILL", "--", "-" + process.pid()));
        process.destroyForcibly();
        try {
            process.waitFor(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private List<String> lastLines() {
        try (RandomAccessFile in = new RandomAccessFile(log.toFile(), "r")) {
            long from = Math.max(offset, in.length() - TAIL_BYTES);
            byte[] bytes = new byte[(int) (in.length() - from)];
            in.seek(from);
            in.readFully(bytes);
            List<String> lines = new String(bytes, StandardCharsets.UTF_8).lines().filter(l -> !l.isBlank()).toList();
            return lines.subList(Math.max(0, lines.size() - LAST_LINES), lines.size());
        } catch (IOException e) {
            return List.of();
        }
    }

    private static void append(Path log, String line) {
        try {
            Files.writeString(log, line + "\n", StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            // worker.log is only a record; the run itself decides the start
        }
    }
}
