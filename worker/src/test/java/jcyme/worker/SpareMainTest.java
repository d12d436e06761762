package jcyme.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A spare's stdin is its lifeline: when its branch is gone (end of input) before a claim, it exits. */
class SpareMainTest {
    @TempDir
    Path tmp;

    @Test
    void anUnclaimedSpareExitsWhenItsBranchIsGone() throws Exception {
        Path output = tmp.resolve("spares.log");
        Process spare = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                SpareMain.PLACEHOLDER + ".".repeat(40), "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path"),
                SpareMain.class.getName()).directory(tmp.toFile()).redirectErrorStream(true).redirectOutput(output.toFile()).start();
        try (OutputStream in = spare.getOutputStream()) {
            in.write("{\"broker\": null, \"classpath\": []}\n".getBytes(StandardCharsets.UTF_8));
        }
        assertTrue(spare.waitFor(60, TimeUnit.SECONDS), "the spare is still running");
        assertEquals(0, spare.exitValue(), Files.readString(output));
    }
}
