package jcyme.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code bin/branch stop -D DIR}: stops the branch of a data directory together with its
 * instances and its embedded broker. It leaves a stop request in the directory and sends the branch
 * SIGTERM; the branch sees the request as it stops, stops its workers warm first and its embedded
 * broker last. A bare SIGTERM still stops the branch alone, its instances and broker running on.
 */
@Command(name = "stop", mixinStandardHelpOptions = true,
        description = "Stop the branch of DIR, its instances (warm: running tasks finish) and its embedded broker, then wait until the branch is gone.")
final class BranchStopCommand implements Callable<Integer> {
    /** The file in the data directory that asks a stopping branch to take its instances along. */
    static final String REQUEST_FILE = "stop.request";

    @Option(names = {"-D", "--data-dir"}, paramLabel = "DIR", description = "The branch's data directory (default: ${DEFAULT-VALUE}).")
    Path dataDir = Path.of("instances");

    @Option(names = "--wait", paramLabel = "S",
            description = "How long to wait for the branch to exit; its instances' warm shutdown counts (default: ${DEFAULT-VALUE}).")
    double waitSeconds = 180;

    @Override
    public Integer call() throws IOException, InterruptedException {
        Path lock = dataDir.resolve("branch.lock");
        String text = Files.exists(lock) ? Files.readString(lock, StandardCharsets.US_ASCII).trim() : "";
        ProcessHandle branch;
        try {
            branch = text.isEmpty() ? null : ProcessHandle.of(Long.parseLong(text)).orElse(null);
        } catch (NumberFormatException e) {
            branch = null;
        }
        if (branch == null || !branch.isAlive()
                || !branch.info().commandLine().map(c -> c.contains("jcyme.cli.BranchMain")).orElse(false)) {
            System.err.println("branch: no branch runs on " + dataDir + (text.isEmpty() ? "" : " (pid " + text + " in branch.lock is not one)"));
            return 1;
        }
        Files.writeString(dataDir.resolve(REQUEST_FILE), "instances\n", StandardCharsets.US_ASCII);
        System.out.println("stopping branch pid " + branch.pid() + ", its instances and its embedded broker");
        branch.destroy();
        long deadline = System.nanoTime() + (long) (waitSeconds * 1e9);
        while (branch.isAlive()) {
            if (System.nanoTime() > deadline) {
                System.err.println("branch: pid " + branch.pid() + " still running after " + waitSeconds + " s");
                return 1;
            }
            try {
                branch.onExit().get(5, TimeUnit.SECONDS);
            } catch (java.util.concurrent.TimeoutException | java.util.concurrent.ExecutionException e) {
                System.out.println("waiting for branch pid " + branch.pid() + " (its instances finish their tasks)");
            }
        }
        System.out.println("stopped");
        return 0;
    }
}
