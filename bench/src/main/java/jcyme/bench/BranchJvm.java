package jcyme.bench;

import static jcyme.bench.Measure.freePort;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** A branch JVM the cluster benchmarks start: its id, HTTP port, process and output file. */
record BranchJvm(String id, int httpPort, Process process, Path out) {
    /** The JVM flags {@code bin/branch} starts a branch with. */
    static final List<String> FLAGS = List.of("-XX:+UseSerialGC", "-XX:-UsePerfData", "-Xmx256m");

    /**
     * Starts branch {@code id} of cluster {@code cluster} from {@code home}'s dist, its data under
     * {@code dir}, on a free HTTP port, the cluster bound to 127.0.0.1:{@code clusterPort}.
     */
    static BranchJvm start(Path home, Path dir, String broker, String id, String cluster, int clusterPort, List<String> options)
            throws IOException {
        int port = freePort();
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        command.addAll(FLAGS);
        command.addAll(List.of("-cp", home.resolve("dist/lib") + "/*", "jcyme.cli.BranchMain", "-D", dir.resolve(cluster + "-" + id).toString(),
                "--bind", Integer.toString(port), "--broker", broker, "--id", id, "--cluster", cluster,
                "--cluster-bind", "127.0.0.1:" + clusterPort, "--cluster-secret", "bench"));
        command.addAll(options);
        Path out = dir.resolve(cluster + "-" + id + ".out");
        Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(out.toFile()).start();
        return new BranchJvm(id, port, process, out);
    }
}
