package jcyme.branch;

import java.util.List;

/**
 * How a branch joins the others.
 *
 * @param name    the cluster name; branches join only their own cluster
 * @param bind    host:port the channel listens on (port 0: any, for multicast discovery)
 * @param peers   host:port list for TCP discovery where multicast is blocked; empty means UDP multicast
 * @param secret  shared secret that encrypts all cluster traffic (a branch refuses to join without one)
 * @param secretSource where the secret came from, for the log (never the secret itself)
 * @param timings failure detection, merge and connect times
 */
public record ClusterSettings(String name, String bind, List<String> peers, String secret, String secretSource,
                              ClusterTimings timings) {
    public ClusterSettings {
        peers = peers == null ? List.of() : List.copyOf(peers);
        secret = secret == null || secret.isEmpty() ? null : secret;
        timings = timings == null ? ClusterTimings.DEFAULTS : timings;
    }

    public ClusterSettings(String name, String bind, List<String> peers, String secret, String secretSource) {
        this(name, bind, peers, secret, secretSource, ClusterTimings.DEFAULTS);
    }

    public ClusterSettings(String name, String bind, List<String> peers, String secret) {
        this(name, bind, peers, secret, "given");
    }

    /** Multicast discovery on an address picked for it: what a branch does when told nothing. */
    public boolean isDefaultDiscovery() {
        return peers.isEmpty() && bind.endsWith(":0");
    }
}
