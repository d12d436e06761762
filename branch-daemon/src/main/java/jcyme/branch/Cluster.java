package jcyme.branch;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayInputStream;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.logging.Level;
import javax.crypto.SecretKey;
import javax.crypto.SecretKeyFactory;
import javax.crypto.spec.PBEKeySpec;
import javax.crypto.spec.SecretKeySpec;
import jcyme.tasks.Json;
import org.jgroups.Address;
import org.jgroups.BytesMessage;
import org.jgroups.JChannel;
import org.jgroups.Message;
import org.jgroups.Receiver;
import org.jgroups.View;
import org.jgroups.protocols.SERIALIZE;
import org.jgroups.protocols.SYM_ENCRYPT;
import org.jgroups.stack.IpAddress;
import org.jgroups.stack.ProtocolStack;
import org.jgroups.util.ExtendedUUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The branch's JGroups channel: membership (every member's address carries its branch id and
 * HTTP URL) and small JSON messages. Discovery is UDP multicast, or TCP with a static peer list
 * where multicast is blocked. Every message is encrypted with a key derived from the cluster secret,
 * headers included (SERIALIZE above SYM_ENCRYPT wraps the whole message, so even a join request
 * or a discovery ping without the key is dropped): a member without the secret can neither join
 * nor read. A member's id and URL ride in its own address; the first member to claim an id keeps
 * it, a later one claiming the same id is not trusted, and messages from outside the view are dropped.
 */
final class Cluster implements Receiver, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Cluster.class);
    private static final String ID = "jcyme.id";
    private static final String URL = "jcyme.url";

    /** What the cluster layer tells the branch. */
    interface Listener {
        void onMessage(String fromBranch, JsonNode message);

        void onView(List<Member> members);
    }

    /** A live member: its branch id, HTTP URL and JGroups address. */
    record Member(String id, String url, Address address) {}

    /** What the channel put on and took off the network since it connected (all cluster traffic, encrypted). */
    record Traffic(long messagesSent, long bytesSent, long messagesReceived, long bytesReceived) {
        static final Traffic NONE = new Traffic(0, 0, 0, 0);
    }

    private final ClusterSettings settings;
    private final String branchId;
    private final String url;
    private final Listener listener;
    private JChannel channel;
    private volatile List<Member> members = List.of();

    Cluster(ClusterSettings settings, String branchId, String url, Listener listener) {
        this.settings = settings;
        this.branchId = branchId;
        this.url = url;
        this.listener = listener;
    }

    /** Joins the cluster; fails when the channel did not bind where it was told to. */
    void connect() throws Exception {
        java.util.logging.Logger.getLogger("org.jgroups").setLevel(Level.SEVERE);
        String host = settings.bind().substring(0, settings.bind().lastIndexOf(':'));
        int port = Integer.parseInt(settings.bind().substring(settings.bind().lastIndexOf(':') + 1));
        channel = new JChannel(new ByteArrayInputStream(stack(host, port).getBytes(StandardCharsets.UTF_8)));
        if (settings.secret() == null) {
            throw new IllegalStateException("no cluster secret");
        }
        SYM_ENCRYPT encrypt = new SYM_ENCRYPT();
        encrypt.setKeyStoreEntry(new KeyStore.SecretKeyEntry(key(settings.secret(), settings.name())));
        channel.getProtocolStack().insertProtocol(encrypt, ProtocolStack.Position.ABOVE, org.jgroups.protocols.TP.class);
        encrypt.init();
        SERIALIZE whole = new SERIALIZE();
        channel.getProtocolStack().insertProtocol(whole, ProtocolStack.Position.ABOVE, SYM_ENCRYPT.class);
        whole.init();
        channel.addAddressGenerator(() -> ExtendedUUID.randomUUID(branchId)
                .put(ID, branchId.getBytes(StandardCharsets.UTF_8))
                .put(URL, url.getBytes(StandardCharsets.UTF_8)));
        channel.setReceiver(this);
        channel.getProtocolStack().getTransport().enableStats(true);
        long start = System.nanoTime();
        channel.connect(settings.name());
        long millis = (System.nanoTime() - start) / 1_000_000;
        Object physical = channel.down(new org.jgroups.Event(org.jgroups.Event.GET_PHYSICAL_ADDRESS, channel.getAddress()));
        if (physical instanceof IpAddress ip && !ip.getIpAddress().equals(InetAddress.getByName(host))) {
            channel.close();
            throw new IllegalStateException("cluster channel bound to " + ip + " instead of " + settings.bind());
        }
        log.info("joined cluster '{}' as {} on {} in {} ms ({}{})", settings.name(), branchId, physical, millis,
                settings.peers().isEmpty() ? "multicast discovery" : "peers " + settings.peers(),
                ", encrypted, secret " + settings.secretSource());
    }

    private String stack(String host, int port) {
        boolean tcp = !settings.peers().isEmpty();
        String transport = tcp
                ? "<TCP bind_addr=\"%s\" bind_port=\"%d\" port_range=\"0\" sock_conn_timeout=\"300ms\" tcp_nodelay=\"true\" diag.enabled=\"false\" thread_pool.min_threads=\"0\" thread_pool.max_threads=\"20\"/>"
                        .formatted(host, port == 0 ? 7800 : port)
                : "<UDP bind_addr=\"%s\" bind_port=\"%d\" mcast_port=\"45588\" ip_ttl=\"%d\" diag.enabled=\"false\" thread_pool.min_threads=\"0\" thread_pool.max_threads=\"20\" ucast_recv_buf_size=\"1m\" mcast_recv_buf_size=\"1m\" ucast_send_buf_size=\"640k\" mcast_send_buf_size=\"640k\"/>"
                        .formatted(host, port, isLoopback(host) ? 0 : 8);
        String discovery = tcp
                ? "<TCPPING initial_hosts=\"%s\" port_range=\"0\"/>".formatted(initialHosts())
                : "<PING/>";
        ClusterTimings t = settings.timings();
        return """
                <config xmlns="urn:org:jgroups">
                  %s
                  %s
                  <MERGE3 min_interval="%dms" max_interval="%dms"/>
                  <FD_SOCK2 bind_addr="%s"/>
                  <FD_ALL3 timeout="%dms" interval="%dms"/>
                  <VERIFY_SUSPECT2 timeout="%dms"/>
                  <BARRIER/>
                  <pbcast.NAKACK2 use_mcast_xmit="false"/>
                  <UNICAST3/>
                  <pbcast.STABLE desired_avg_gossip="50s" max_bytes="4M"/>
                  <pbcast.GMS print_local_addr="false" join_timeout="1s"/>
                  <UFC max_credits="2M" min_threshold="0.4"/>
                  <MFC max_credits="2M" min_threshold="0.4"/>
                  <FRAG2 frag_size="60K"/>
                </config>""".formatted(transport, discovery, t.mergeMinInterval().toMillis(), t.mergeInterval().toMillis(), host,
                t.failureTimeout().toMillis(), t.heartbeatInterval().toMillis(), t.verifyTimeout().toMillis());
    }

    private String initialHosts() {
        List<String> hosts = new ArrayList<>();
        for (String peer : settings.peers()) {
            int colon = peer.lastIndexOf(':');
            hosts.add(colon < 0 ? peer + "[7800]" : peer.substring(0, colon) + "[" + peer.substring(colon + 1) + "]");
        }
        return String.join(",", hosts);
    }

    private static boolean isLoopback(String host) {
        try {
            return InetAddress.getByName(host).isLoopbackAddress();
        } catch (java.io.IOException e) {
            return false;
        }
    }

    /** An AES key derived from the shared secret (PBKDF2, salted with the cluster name). */
    static SecretKey key(String secret, String salt) throws GeneralSecurityException {
        SecretKeyFactory factory = SecretKeyFactory.getInstance("PBKDF2WithHmacSHA256");
        byte[] bytes = factory.generateSecret(new PBEKeySpec(secret.toCharArray(),
                ("jcyme:" + salt).getBytes(StandardCharsets.UTF_8), 65_536, 128)).getEncoded();
        return new SecretKeySpec(bytes, "AES");
    }

    Traffic traffic() {
        org.jgroups.protocols.MsgStats stats = channel.getProtocolStack().getTransport().getMessageStats();
        return new Traffic(stats.getNumMsgsSent(), stats.getNumBytesSent(), stats.getNumMsgsReceived(), stats.getNumBytesReceived());
    }

    List<Member> members() {
        return members;
    }

    /** Sends a JSON message to every member (this one included). */
    void broadcast(Object message) {
        try {
            channel.send(new BytesMessage(null, Json.bytes(message)));
        } catch (Exception e) {
            log.debug("cluster send failed: {}", e.getMessage());
        }
    }

    @Override
    public void receive(Message message) {
        Member sender = members.stream().filter(m -> m.address().equals(message.getSrc())).findFirst().orElse(null);
        if (sender == null) {
            log.warn("dropped a cluster message from {}, which is not a trusted member", message.getSrc());
            return;
        }
        String from = sender.id();
        try {
            listener.onMessage(from, Json.parse(message.getArray()));
        } catch (RuntimeException e) {
            log.warn("bad cluster message from {}: {}", from, e.getMessage());
        }
    }

    @Override
    public void viewAccepted(View view) {
        List<Member> now = new ArrayList<>();
        for (Address address : view.getMembers()) {
            String id = idOf(address);
            String url = urlOf(address);
            if (now.stream().anyMatch(m -> m.id().equals(id))) {
                log.warn("ignoring cluster member {}: branch id '{}' is taken by an earlier member", address, id);
                continue;
            }
            if (url != null && !url.matches("https?://[^/?#@\\s]+")) {
                log.warn("branch {} advertises '{}', not an http(s) URL: no request is forwarded to it", id, url);
                url = null;
            }
            now.add(new Member(id, url, address));
        }
        List<Member> before = members;
        members = List.copyOf(now);
        List<String> joined = now.stream().map(Member::id).filter(id -> before.stream().noneMatch(m -> m.id().equals(id))).toList();
        List<String> left = before.stream().map(Member::id).filter(id -> now.stream().noneMatch(m -> m.id().equals(id))).toList();
        log.info("cluster view: {} branch(es){}{}", now.size(), joined.isEmpty() ? "" : ", joined " + joined,
                left.isEmpty() ? "" : ", left " + left);
        listener.onView(members);
    }

    private static String idOf(Address address) {
        String id = field(address, ID);
        return id != null ? id : Objects.toString(address);
    }

    private static String urlOf(Address address) {
        return field(address, URL);
    }

    /** What a member's address carries under {@code key}, or null. */
    private static String field(Address address, String key) {
        byte[] value = address instanceof ExtendedUUID extended ? extended.get(key) : null;
        return value == null ? null : new String(value, StandardCharsets.UTF_8);
    }

    @Override
    public void close() {
        if (channel != null) {
            channel.close();
        }
    }
}
