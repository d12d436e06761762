package jcyme.it;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * Hosts made of Linux network namespaces: each has {@code eth0} on a bridge of its own (the LAN
 * between hosts, a private 10.213.N.0/24 that no route of this machine uses) and {@code op0}, a
 * direct link to this machine at 10.213.N.254 (the operator, and what {@link #expose} offers):
 * cutting a host off the LAN leaves the operator's link up. Needs root and {@code ip netns}; the
 * caller skips (JUnit assumption) otherwise. {@link #close} removes everything, whatever happened.
 */
final class NetnsHosts implements AutoCloseable {
    /** The address of this machine on every host's {@code op0}. */
    final String operator;
    private final String suffix;
    private final String subnet;
    private final String bridge;
    private final List<String> names;
    private final List<ServerSocket> relays = new ArrayList<>();

    private NetnsHosts(String suffix, String subnet, List<String> names) {
        this.suffix = suffix;
        this.subnet = subnet;
        this.bridge = "jcbr-" + suffix;
        this.names = names;
        this.operator = subnet + ".254";
    }

    /** Makes the hosts (addresses .1, .2, ...), or skips the calling test saying why it cannot. */
    static NetnsHosts make(String... hosts) throws IOException, InterruptedException {
        assumeTrue(java.nio.file.Files.readString(java.nio.file.Path.of("/proc/self/status")).matches("(?s).*\\nUid:\\s+0\\s.*"),
                "NOT RUN: network namespaces need root (running as " + System.getProperty("user.name") + ")");
        assumeTrue(run("ip", "netns", "list") == 0, "NOT RUN: 'ip netns' is not available");
        String used = output("ip", "-4", "-o", "addr") + output("ip", "-4", "route", "show", "table", "all");
        Random random = new Random();
        String subnet;
        do {
            subnet = "10.213." + random.nextInt(250);
        } while (used.contains(subnet + "."));
        String suffix = Long.toString(Math.abs(random.nextLong()) % 1_000_000_000L, 36);
        NetnsHosts made = new NetnsHosts(suffix, subnet, List.of(hosts));
        try {
            made.build();
        } catch (IOException | RuntimeException e) {
            made.close();
            throw e;
        }
        return made;
    }

    private void build() throws IOException, InterruptedException {
        ip("link", "add", bridge, "type", "bridge", "mcast_snooping", "0");
        ip("link", "set", bridge, "up");
        ip("addr", "add", operator + "/32", "dev", bridge);
        for (int i = 0; i < names.size(); i++) {
            String ns = namespace(i);
            String address = address(i);
            ip("netns", "add", ns);
            ip("link", "add", lan(i), "type", "veth", "peer", "name", "eth0", "netns", ns);
            ip("link", "set", lan(i), "master", bridge, "up");
            ip("link", "add", op(i), "type", "veth", "peer", "name", "op0", "netns", ns);
            ip("link", "set", op(i), "up");
            ip("route", "add", address + "/32", "dev", op(i), "src", operator);
            in(i, "ip", "link", "set", "lo", "up");
            in(i, "ip", "addr", "add", address + "/24", "dev", "eth0");
            in(i, "ip", "link", "set", "eth0", "up");
            in(i, "ip", "link", "set", "op0", "up");
            in(i, "ip", "route", "add", operator + "/32", "dev", "op0", "src", address);
            in(i, "ip", "route", "add", "224.0.0.0/4", "dev", "eth0");
        }
    }

    /** The network namespace of host {@code i}. */
    String namespace(int i) {
        return "jcyme-" + suffix + "-" + names.get(i);
    }

    /** Host {@code i}'s address on the LAN (and the one this machine reaches it at). */
    String address(int i) {
        return subnet + "." + (i + 1);
    }

    private String lan(int i) {
        return "jcl" + i + "-" + suffix;
    }

    private String op(int i) {
        return "jco" + i + "-" + suffix;
    }

    /** Cuts host {@code i} off the LAN, both ways and silently, as a dead switch port would; its operator link stays. */
    void cut(int i) throws IOException, InterruptedException {
        ip("link", "set", lan(i), "nomaster");
    }

    /** Puts host {@code i} back on the LAN. */
    void heal(int i) throws IOException, InterruptedException {
        ip("link", "set", lan(i), "master", bridge);
    }

    /** Offers {@code 127.0.0.1:port} of this machine to every host at {@code operator:<returned port>}. */
    int expose(int port) throws IOException {
        ServerSocket server = new ServerSocket();
        server.bind(new InetSocketAddress(InetAddress.getByName(operator), 0));
        relays.add(server);
        Thread accept = new Thread(() -> {
            while (!server.isClosed()) {
                try {
                    Socket in = server.accept();
                    Socket out = new Socket("127.0.0.1", port);
                    pipe(in, out);
                    pipe(out, in);
                } catch (IOException e) {
                    // closed, or the target refused: the host sees its connection drop
                }
            }
        }, "netns-relay-" + port);
        accept.setDaemon(true);
        accept.start();
        return server.getLocalPort();
    }

    private static void pipe(Socket from, Socket to) {
        Thread copy = new Thread(() -> {
            try (from; to) {
                from.getInputStream().transferTo(to.getOutputStream());
            } catch (IOException e) {
                // one side closed: both go
            }
        }, "netns-relay-pipe");
        copy.setDaemon(true);
        copy.start();
    }

    private void in(int i, String... command) throws IOException, InterruptedException {
        List<String> full = new ArrayList<>(List.of("ip", "netns", "exec", namespace(i)));
        full.addAll(List.of(command));
        check(full.toArray(String[]::new));
    }

    private static void ip(String... args) throws IOException, InterruptedException {
        List<String> full = new ArrayList<>(List.of("ip"));
        full.addAll(List.of(args));
        check(full.toArray(String[]::new));
    }

    private static void check(String... command) throws IOException, InterruptedException {
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        Process process = builder.start();
        String out = new String(process.getInputStream().readAllBytes());
        if (!process.waitFor(10, TimeUnit.SECONDS) || process.exitValue() != 0) {
            throw new IOException(String.join(" ", command) + " failed: " + out.strip());
        }
    }

    private static int run(String... command) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        return process.waitFor(10, TimeUnit.SECONDS) ? process.exitValue() : -1;
    }

    private static String output(String... command) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(process.getInputStream().readAllBytes());
        process.waitFor(10, TimeUnit.SECONDS);
        return out;
    }

    /** Removes the namespaces (their veths go with them), the bridge and the relays; never throws. */
    @Override
    public void close() {
        for (ServerSocket relay : relays) {
            try {
                relay.close();
            } catch (IOException e) {
                // closing anyway
            }
        }
        for (int i = 0; i < names.size(); i++) {
            quietly("ip", "netns", "del", namespace(i));
            quietly("ip", "link", "del", lan(i));
            quietly("ip", "link", "del", op(i));
        }
        quietly("ip", "link", "del", bridge);
    }

    private static void quietly(String... command) {
        try {
            run(command);
        } catch (IOException | InterruptedException e) {
            // best effort: the next command still runs
        }
    }
}
