package jcyme.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.parallel.Isolated;
import org.junit.jupiter.api.io.TempDir;

/**
 * bench/run-million at CI size, as a child JVM from the distribution: two real branches, two
 * workers and RabbitMQ; every result comes back, the report, CSV and plot are there, and nothing it
 * started is left behind. Alone: it checks for what it left behind among every process.
 */
@Isolated
class RunMillionTest {
    static final int TASKS = 2000;
    static final long RUN_TIMEOUT_SECONDS = 150;
    private static final byte[] PNG_MAGIC = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

    @TempDir
    Path tmp;

    @Test
    void aSmallRunLosesNothingAndLeavesItsFiguresAndNoProcess() throws Exception {
        Path dist = BranchProcess.lib().getParent();
        Path out = tmp.resolve("out");
        Path log = tmp.resolve("run.out");
        List<String> command = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-XX:+UseSerialGC",
                "-Djcyme.dist=" + dist, "-cp", dist.resolve("lib") + "/*:" + dist.resolve("bench") + "/*",
                "jcyme.bench.MillionRun", "--broker", TestBroker.rabbitmq().url(), "--tasks", Integer.toString(TASKS),
                "--out", out.toString());
        Process run = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        if (!run.waitFor(RUN_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
            run.destroy();
            run.waitFor(60, TimeUnit.SECONDS);
            throw new AssertionError("run-million did not finish in " + RUN_TIMEOUT_SECONDS + " s:\n" + Files.readString(log));
        }
        String output = Files.readString(log);
        assertEquals(0, run.exitValue(), output);
        for (String line : List.of("^lost\\s+0 of " + TASKS + "$", "^duplicates\\s+\\d+$", "^failed\\s+0$", "^tasks/s\\s+\\d+$",
                "^peak RSS \\(MiB\\)\\s+branch-a \\d+\\s+branch-b \\d+\\s+w1 \\d+\\s+w2 \\d+\\s+producer \\d+$",
                "^memory\\s+flat$", "^run-million: OK$")) {
            assertTrue(Pattern.compile(line, Pattern.MULTILINE).matcher(output).find(), "no line " + line + " in:\n" + output);
        }

        List<String> csv = Files.readAllLines(out.resolve("run-million.csv"));
        assertTrue(csv.get(0).startsWith("seconds,published,completed,tasks_per_s,depth_total,depth_q0,depth_q1,depth_q2,"), csv.get(0));
        assertTrue(csv.size() >= 2, "no sample in the CSV");
        assertEquals(Integer.toString(TASKS), csv.get(csv.size() - 1).split(",")[2], "the last sample counts every result");

        Path png = out.resolve("run-million.png");
        assertArrayEquals(PNG_MAGIC, Arrays.copyOf(Files.readAllBytes(png), PNG_MAGIC.length));
        BufferedImage plot = ImageIO.read(png.toFile());
        assertNotNull(plot, "not a readable PNG");
        assertTrue(plot.getWidth() >= 800 && plot.getHeight() >= 800, plot.getWidth() + "x" + plot.getHeight());

        Matcher data = Pattern.compile("(?m)^data (\\S+)$").matcher(output);
        assertTrue(data.find(), output);
        assertFalse(Files.exists(Path.of(data.group(1))), "its data directory is left: " + data.group(1));
        assertEquals(List.of(), BranchProcess.processesWith(data.group(1)), "processes of the run still live");
    }
}
