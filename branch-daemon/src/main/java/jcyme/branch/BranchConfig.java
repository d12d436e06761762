package jcyme.branch;

import java.nio.file.Path;
import jcyme.supervisor.SupervisorSettings;

/**
 * How a branch runs.
 *
 * @param broker      an external broker URL, or null for the embedded one
 * @param brokerPort  the embedded broker's port
 * @param url         this branch's HTTP URL, as others should reach it
 * @param libDir      the distribution's lib/ (what workers and the embedded broker run from)
 * @param cluster     how to join the other branches, or null to run alone
 * @param workerArguments the check of apps' and instances' extra worker options
 */
public record BranchConfig(
        String id,
        Path dataDir,
        String broker,
        int brokerPort,
        String url,
        Path java,
        Path libDir,
        SupervisorSettings supervision,
        ClusterSettings cluster,
        WorkerArguments workerArguments) {

    public BranchConfig {
        workerArguments = workerArguments == null ? WorkerArguments.UNCHECKED : workerArguments;
    }

    /** A branch that leaves extra worker options unchecked until a worker starts. */
    public BranchConfig(String id, Path dataDir, String broker, int brokerPort, String url, Path java, Path libDir,
                        SupervisorSettings supervision, ClusterSettings cluster) {
        this(id, dataDir, broker, brokerPort, url, java, libDir, supervision, cluster, null);
    }
}
