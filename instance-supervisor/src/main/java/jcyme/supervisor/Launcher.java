package jcyme.supervisor;

import java.io.IOException;
import java.util.Collection;

/** What supervision asks of whatever starts workers; {@link WorkerLauncher} is the one a branch uses. */
interface Launcher {
    /** Starts the instance's worker and returns its process, a child of this JVM. */
    Process start(InstanceSpec spec) throws IOException;

    /** Makes, in the background, the spare workers the spec's configuration lacks. */
    void refillSpares(InstanceSpec spec);

    /** Keeps only the spare workers the given instances could use. */
    void retainSpares(Collection<InstanceSpec> live);

    /** Stops the spare workers; none are made from now on. */
    void closeSpares();
}
