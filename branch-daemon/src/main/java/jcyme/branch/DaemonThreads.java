package jcyme.branch;

import java.util.concurrent.ThreadFactory;

/** The branch's background threads: named for what they do, daemons so they never hold the JVM open. */
final class DaemonThreads {
    private DaemonThreads() {}

    static ThreadFactory named(String name) {
        return task -> {
            Thread thread = new Thread(task, name);
            thread.setDaemon(true);
            return thread;
        };
    }
}
