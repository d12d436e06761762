package jcyme.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A JVM that moves into another directory and log (what a claimed spare worker does) is, from then
 * on, what it would be had it started there: relative paths, Java's {@code user.dir}, its output and
 * the JVM's own (a {@code kill -3} thread dump) all in the new place.
 */
class ProcessHomeTest {
    @TempDir
    Path tmp;

    /** Moves into {@code args[0]} and log {@code args[1]}, writes relative files and its view of the directory, then waits for stdin to end. */
    public static void main(String[] args) throws Exception {
        ProcessHome.move(Path.of(args[0]), Path.of(args[1]));
        Files.writeString(Path.of("nio.txt"), "nio");
        try (OutputStream io = new FileOutputStream("io.txt")) {
            io.write('x');
        }
        System.out.println("user.dir=" + System.getProperty("user.dir"));
        System.out.println("file=" + new File("a").getAbsolutePath());
        System.out.println("path=" + Path.of("a").toAbsolutePath());
        System.err.println("moved");
        new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();
    }

    @Test
    void aMovedJvmWorksAndWritesWhereItMoved() throws Exception {
        Path scratch = Files.createDirectory(tmp.resolve("scratch"));
        Path home = Files.createDirectory(tmp.resolve("home"));
        Path before = scratch.resolve("spares.log");
        Path log = home.resolve("worker.log");
        Process jvm = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-opens=java.base/java.io=ALL-UNNAMED", "--add-opens=java.base/sun.nio.fs=ALL-UNNAMED", "-XX:TieredStopAtLevel=1",
                "-cp", System.getProperty("java.class.path"), ProcessHomeTest.class.getName(), home.toString(), log.toString())
                .directory(scratch.toFile()).redirectErrorStream(true).redirectOutput(before.toFile()).start();
        try {
            awaitText(log, "moved", jvm);
            assertEquals(home.toRealPath(), Path.of("/proc", Long.toString(jvm.pid()), "cwd").toRealPath());
            assertTrue(Files.exists(home.resolve("nio.txt")) && Files.exists(home.resolve("io.txt")), "relative writes land in the new directory");
            String text = Files.readString(log);
            for (String line : List.of("user.dir=" + home, "file=" + home.resolve("a"), "path=" + home.resolve("a"))) {
                assertTrue(text.contains(line + "\n"), line + " in " + text);
            }
            assertEquals(0, new ProcessBuilder("kill", "-3", Long.toString(jvm.pid())).start().waitFor());
            awaitText(log, "Full thread dump", jvm);
            assertFalse(Files.readString(before).contains("Full thread dump"), Files.readString(before));
            assertFalse(Files.exists(scratch.resolve("nio.txt")));
        } finally {
            jvm.getOutputStream().close();
            if (!jvm.waitFor(10, TimeUnit.SECONDS)) {
                jvm.destroyForcibly();
            }
        }
        assertEquals(0, jvm.exitValue(), Files.readString(before));
    }

    private static void awaitText(Path file, String text, Process jvm) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!(Files.exists(file) && Files.readString(file).contains(text))) {
            if (System.nanoTime() > deadline || !jvm.isAlive()) {
                throw new AssertionError("no '" + text + "' in " + file + " (" + (jvm.isAlive() ? "timed out" : "exited") + ")");
            }
            Thread.sleep(20);
        }
    }
}
