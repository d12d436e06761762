package jcyme.branch;

import java.io.IOException;
import java.nio.file.Path;
import jcyme.supervisor.SupervisorSettings;

/** A real branch in this JVM, alone (no cluster), with no worker library: enough for what starts no worker. */
final class LocalBranches {
    /** A broker nothing listens on. */
    static final String DOWN_BROKER = "amqp://guest:guest@127.0.0.1:1//";

    private LocalBranches() {}

    static Branch start(Path dir) throws IOException {
        return Branch.start(new BranchConfig("local", dir.resolve("data"), DOWN_BROKER, 0, "http://127.0.0.1:0",
                Path.of(System.getProperty("java.home"), "bin", "java"), dir.resolve("no-lib"), SupervisorSettings.defaults(), null));
    }
}
