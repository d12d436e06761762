package jcyme.bench;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/** What the benchmarks share: waiting for a condition, percentiles, a free port. */
final class Measure {
    private Measure() {}

    interface Check {
        boolean ok() throws Exception;
    }

    static void await(Check check, long timeoutMs, String what) throws Exception {
        await(check, timeoutMs, 10, what);
    }

    /** Waits for {@code check}, looking every {@code pollMs}. */
    static void await(Check check, long timeoutMs, long pollMs, String what) throws Exception {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000;
        while (!check.ok()) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("timed out waiting for " + what);
            }
            Thread.sleep(pollMs);
        }
    }

    /** A TCP port free on this host right now. */
    static int freePort() throws java.io.IOException {
        try (java.net.ServerSocket socket = new java.net.ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    /** A free port whose failure-detection neighbour (port + 100, JGroups' FD_SOCK) is free too. */
    static int clusterPort() throws java.io.IOException {
        while (true) {
            int port = freePort();
            if (port < 65_000) {
                try (java.net.ServerSocket probe = new java.net.ServerSocket(port + 100)) {
                    return port;
                } catch (java.io.IOException taken) {
                    // try another
                }
            }
        }
    }

    static double percentile(List<Double> values, int pct) {
        List<Double> sorted = new ArrayList<>(values);
        Collections.sort(sorted);
        int index = (int) Math.ceil(pct / 100.0 * sorted.size()) - 1;
        return sorted.get(Math.max(0, Math.min(index, sorted.size() - 1)));
    }
}
