package jcyme.branch;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import jcyme.api.BranchInfo;
import jcyme.api.QueueSpec;
import jcyme.supervisor.InstanceState;
import jcyme.tasks.Json;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * This branch as a member of the cluster: it gossips its record and the full list of the
 * instances it owns, replicates app versions (last writer wins by a Lamport clock, ties to the
 * greater origin id, deletes kept as tombstones), and answers who owns an instance and where a new
 * one goes. Every view change (a merge after a split too) re-sends every app version; and every
 * record carries a digest of the versions held, so a branch that sees a different one re-sends
 * its versions when the difference outlasts a gossip interval: two halves of a split converge
 * even if a message of the merge was lost.
 * Alone (no cluster), it answers for this branch only.
 */
final class ClusterMember implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ClusterMember.class);

    /** Gossip: the record goes out at once when it changes, and at least this often anyway. */
    private static final Duration GOSSIP_INTERVAL = Duration.ofSeconds(2);
    private static final Duration GOSSIP_TICK = Duration.ofMillis(250);

    /** Told which of this branch's instances a replicated change touched, so they converge to their records. */
    interface Local {
        void changed(String app);
    }

    private final BranchConfig config;
    private final Store store;
    private final EventLog events;
    private final Supplier<BranchInfo> self;
    private final Supplier<Map<String, Integer>> instanceStates;
    private final Local local;
    private final Map<String, JsonNode> records = new ConcurrentHashMap<>();
    private final AtomicLong appClock = new AtomicLong();
    private volatile Cluster cluster;

    private final ScheduledExecutorService gossip = Executors.newSingleThreadScheduledExecutor(DaemonThreads.named("branch-gossip"));
    /** Work on this branch's instances that the cluster asked for, off the channel's threads. */
    private final ExecutorService clusterWork = Executors.newSingleThreadExecutor(DaemonThreads.named("branch-cluster-work"));
    private volatile List<Store.Placement> lastOwn = List.of();
    private volatile Map<String, Integer> lastStates = Map.of();
    private volatile long lastGossipAt;
    /** When this branch last re-sent its app versions because another branch's digest differed. */
    private volatile long lastAppsResendAt;
    /** The digest each branch last sent that differed from this one's. */
    private final Map<String, String> differing = new ConcurrentHashMap<>();
    /** The URL every branch seen in a view advertised, kept after it leaves, to name it in errors. */
    private final Map<String, String> knownUrls = new ConcurrentHashMap<>();
    /** The other branches in the last view, to tell who joined and who left. */
    private Set<String> lastView = Set.of();

    ClusterMember(BranchConfig config, Store store, EventLog events, Supplier<BranchInfo> self,
                  Supplier<Map<String, Integer>> instanceStates, Local local) {
        this.config = config;
        this.store = store;
        this.events = events;
        this.self = self;
        this.instanceStates = instanceStates;
        this.local = local;
    }

    /** Joins the cluster of {@code config.cluster()} and starts gossiping. */
    void join() throws IOException {
        appClock.set(store.maxAppClock());
        cluster = new Cluster(config.cluster(), config.id(), config.url(), new Cluster.Listener() {
            @Override
            public void onMessage(String from, JsonNode message) {
                received(from, message);
            }

            @Override
            public void onView(List<Cluster.Member> members) {
                Set<String> live = new java.util.HashSet<>();
                members.forEach(m -> {
                    live.add(m.id());
                    if (m.url() != null) {
                        knownUrls.put(m.id(), m.url());
                    }
                });
                records.keySet().retainAll(live);
                viewChanged(live);
                gossip.execute(ClusterMember.this::gossipAll);
            }
        });
        try {
            cluster.connect();
        } catch (Exception e) {
            String why = "cannot join cluster '" + config.cluster().name() + "': " + String.valueOf(e.getMessage()).lines().findFirst().orElse("");
            if (!config.cluster().isDefaultDiscovery()) {
                throw new IOException(why, e);
            }
            log.warn("{}; running alone (set --cluster-bind and --peers to join over TCP)", why);
            cluster.close();
            cluster = null;
            return;
        }
        gossip.scheduleWithFixedDelay(this::gossipIfChanged, GOSSIP_TICK.toMillis(), GOSSIP_TICK.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Records the branches that joined and left since the last view (this one is never among them). */
    private synchronized void viewChanged(Set<String> live) {
        Set<String> others = new java.util.TreeSet<>(live);
        others.remove(config.id());
        for (String id : others) {
            if (!lastView.contains(id)) {
                events.record("branch.joined", BranchEvent.fields("id", id));
            }
        }
        for (String id : new java.util.TreeSet<>(lastView)) {
            if (!others.contains(id)) {
                events.record("branch.left", BranchEvent.fields("id", id));
            }
        }
        lastView = others;
    }

    /** Everything this branch knows that the others must too: its record, its instances and every app version. */
    private void gossipAll() {
        gossipRecord();
        List<Store.AppEntry> entries = store.appEntries();
        if (!entries.isEmpty()) {
            cluster.broadcast(Map.of("type", "apps", "entries", entries));
        }
    }

    private void gossipIfChanged() {
        try {
            List<Store.Placement> own = ownPlacements();
            if (!own.equals(lastOwn) || !instanceStates.get().equals(lastStates)
                    || System.nanoTime() - lastGossipAt >= GOSSIP_INTERVAL.toNanos()) {
                gossipRecord(own);
            }
        } catch (RuntimeException e) {
            log.debug("gossip failed: {}", e.getMessage());
        }
    }

    private void gossipRecord() {
        gossipRecord(ownPlacements());
    }

    /** The branch record with the full list of instances this branch owns. */
    private void gossipRecord(List<Store.Placement> own) {
        BranchInfo info = self.get();
        lastOwn = own;
        lastStates = info.instanceStates();
        lastGossipAt = System.nanoTime();
        cluster.broadcast(Map.of("type", "record", "record", info, "instances", own, "apps", appsDigest()));
    }

    /** A short digest of every app version this branch holds (tombstones included). */
    private String appsDigest() {
        try {
            byte[] hash = java.security.MessageDigest.getInstance("SHA-256")
                    .digest(store.appVersions().getBytes(java.nio.charset.StandardCharsets.UTF_8));
            return java.util.HexFormat.of().formatHex(hash, 0, 12);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Another branch holds other app versions than this one: send ours (at most once per gossip interval). */
    private void appsDiffer(String from) {
        long now = System.nanoTime();
        if (now - lastAppsResendAt < GOSSIP_INTERVAL.toNanos()) {
            return;
        }
        lastAppsResendAt = now;
        log.debug("branch {} holds other app versions: re-sending ours", from);
        gossip.execute(() -> {
            List<Store.AppEntry> entries = store.appEntries();
            if (!entries.isEmpty()) {
                cluster.broadcast(Map.of("type", "apps", "entries", entries));
            }
        });
    }

    private List<Store.Placement> ownPlacements() {
        return store.instances().stream().map(r -> new Store.Placement(r.name(), r.app(), config.id())).toList();
    }

    /** Tells the cluster the current version of one app (or its tombstone). */
    void replicate(String app) {
        if (cluster != null) {
            store.appEntry(app).ifPresent(entry -> cluster.broadcast(Map.of("type", "apps", "entries", List.of(entry))));
        }
    }

    /** Tells the cluster at once that this branch's instances changed. */
    void announceInstances() {
        if (cluster != null) {
            gossip.execute(this::gossipRecord);
        }
    }

    /** The clock for a new local version of an app: past every version seen. */
    long nextClock() {
        return appClock.updateAndGet(c -> Math.max(c, store.maxAppClock()) + 1);
    }

    private void received(String from, JsonNode message) {
        if (from.equals(config.id())) {
            return;
        }
        switch (message.path("type").asText()) {
            case "record" -> {
                JsonNode record = message.path("record");
                String url = peers().stream().filter(p -> p.id().equals(from)).map(Peer::url).findFirst().orElse(null);
                if (url == null) {
                    log.debug("ignored the record of branch {}, which advertises no usable URL", from);
                    return;
                }
                if (!record.path("id").asText().equals(from) || !record.path("url").asText().equals(url)) {
                    log.warn("rejected the record of branch {}: it names branch '{}' at '{}', its cluster address says '{}' at '{}'",
                            from, record.path("id").asText(), record.path("url").asText(), from, url);
                    return;
                }
                records.put(from, record);
                List<Store.Placement> theirs = new ArrayList<>();
                for (JsonNode node : message.path("instances")) {
                    theirs.add(new Store.Placement(node.path("name").asText(), node.path("app").asText(), from));
                }
                if (store.replacePlacements(from, theirs)) {
                    log.debug("branch {} now owns {} instance(s)", from, theirs.size());
                }
                String digest = message.path("apps").asText("");
                if (digest.isEmpty() || digest.equals(appsDigest())) {
                    differing.remove(from);
                } else if (digest.equals(differing.put(from, digest))) {
                    appsDiffer(from); // the same difference two records in a row: not a change still on its way
                }
            }
            case "apps" -> {
                for (JsonNode node : message.path("entries")) {
                    Store.AppEntry entry;
                    String problem;
                    try {
                        entry = Json.MAPPER.convertValue(node, Store.AppEntry.class);
                        problem = problem(entry);
                    } catch (IllegalArgumentException e) {
                        entry = null;
                        problem = "unreadable: " + Checks.firstLine(e.getMessage());
                    }
                    if (problem != null) {
                        log.warn("rejected app '{}' from branch {}: {}", node.path("name").asText(), from, jcyme.tasks.BrokerUrl.mask(problem));
                        continue;
                    }
                    appClock.accumulateAndGet(entry.clock(), Math::max);
                    apply(entry);
                }
            }
            case "forget" -> {
                String gone = message.path("branch").asText();
                if (!branches().contains(gone)) {
                    store.forgetPlacements(gone);
                    log.info("forgot branch {} and its instances (asked by branch {})", gone, from);
                }
            }
            default -> log.debug("unknown cluster message from {}: {}", from, message.path("type").asText());
        }
    }

    /**
     * Why a replicated app version must not be stored, or null: it must pass the same checks as a
     * request's app and queues (names, bounds, broker URL, class path on this host, exchange types).
     */
    static String problem(Store.AppEntry entry) {
        try {
            Checks.name("app", entry.name());
            if (entry.origin() == null) {
                return "no origin branch";
            }
            if (entry.deleted()) {
                return null;
            }
            if (entry.app() == null || !entry.name().equals(entry.app().name())) {
                return "its definition is missing or names another app";
            }
            Apps.validate(entry.app());
            Set<String> seen = new java.util.HashSet<>();
            for (QueueSpec queue : entry.queues() == null ? List.<QueueSpec>of() : entry.queues()) {
                Queues.validate(queue);
                if (!seen.add(queue.name())) {
                    return "queue '" + queue.name() + "' is declared twice";
                }
            }
            return null;
        } catch (BranchException e) {
            return e.getMessage();
        }
    }

    /**
     * Applies a replicated app version if it is newer than ours (last writer wins). The store
     * changes in one step (a deleted app's instances become tombstones, a dropped queue is unbound);
     * the instances then converge to it.
     */
    private synchronized void apply(Store.AppEntry entry) {
        Store.AppEntry current = store.appEntry(entry.name()).orElse(null);
        if (!entry.newerThan(current)) {
            return;
        }
        int instances = store.instances(entry.name()).size();
        store.applyApp(entry);
        boolean existed = current != null && !current.deleted();
        String kind = entry.deleted() ? "app.deleted" : existed ? "app.updated" : "app.created";
        if (entry.deleted()) {
            log.info("app {} deleted by branch {}: removing its {} instance(s) here", entry.name(), entry.origin(), instances);
        } else {
            log.info("app {} {} by branch {}", entry.name(), existed ? "updated" : "created", entry.origin());
        }
        if (existed || !entry.deleted()) { // a tombstone of an app never seen here changes nothing here
            events.record(kind, BranchEvent.fields("app", entry.name(), "origin", entry.origin()));
        }
        clusterWork.execute(() -> local.changed(entry.name()));
    }

    /** The cluster channel's traffic so far (none when alone). */
    Cluster.Traffic traffic() {
        Cluster current = cluster;
        return current == null ? Cluster.Traffic.NONE : current.traffic();
    }

    /** Ids of the live branches, this one included. */
    List<String> branches() {
        if (cluster == null) {
            return List.of(config.id());
        }
        return cluster.members().stream().map(Cluster.Member::id).sorted().toList();
    }

    /** A live branch's record: this one's own, or the last one it gossiped. */
    Object branchInfo(String id) {
        if (id.equals(config.id())) {
            return self.get();
        }
        Peer peer = peers().stream().filter(p -> p.id().equals(id)).findFirst()
                .orElseThrow(() -> BranchException.notFound("no live branch '" + id + "'"));
        JsonNode record = records.get(id);
        return record != null ? record : Map.of("id", peer.id(), "url", peer.url());
    }

    /**
     * Forgets a branch that is gone for good: every branch drops the instances it owned from its
     * listings. Should it come back, its own gossip brings them back.
     */
    void forgetBranch(String id) {
        if (branches().contains(id)) {
            throw BranchException.conflict("branch '" + id + "' is live; only a branch that is gone can be forgotten");
        }
        if (store.placements().stream().noneMatch(p -> p.branch().equals(id))) {
            throw BranchException.notFound("no instances of branch '" + id + "' are known");
        }
        store.forgetPlacements(id);
        if (cluster != null) {
            cluster.broadcast(Map.of("type", "forget", "branch", id));
        }
        log.info("forgot branch {} and its instances", id);
    }

    /** The other live branches. */
    List<Peer> peers() {
        if (cluster == null) {
            return List.of();
        }
        return cluster.members().stream().filter(m -> !m.id().equals(config.id()) && m.url() != null)
                .map(m -> new Peer(m.id(), m.url())).toList();
    }

    /**
     * Where a request about an instance must be answered: empty for here (the instance is ours,
     * or unknown anywhere), or the live branch that owns it. An owner that is down is a 503.
     */
    Optional<Peer> ownerOf(String app, String name) {
        if (cluster == null || store.instance(name).isPresent()) {
            return Optional.empty();
        }
        Store.Placement placement = store.placement(name).orElse(null);
        if (placement == null || !placement.app().equals(app)) {
            return Optional.empty();
        }
        String owner = placement.branch();
        return Optional.of(peers().stream().filter(p -> p.id().equals(owner)).findFirst()
                .orElseThrow(() -> unavailable("instance '" + name + "' lives on branch '" + owner + "'"
                        + (knownUrls.containsKey(owner) ? " (" + knownUrls.get(owner) + ")" : "")
                        + ", which is not in this branch's view of the cluster: down, or cut off from it")));
    }

    /**
     * The branch a new instance goes to: {@code branch} if named, the one with the fewest
     * running instances for {@code placement=least-loaded}, else this one. A name already
     * used anywhere in the cluster is a 409. The app itself is checked where the instance goes.
     */
    Peer placeInstance(String name, String branch, String placement) {
        if (name != null && !name.isEmpty()) {
            requireNameFree(name);
        }
        Peer self = new Peer(config.id(), config.url());
        if (branch != null && !branch.isEmpty()) {
            if (branch.equals(config.id())) {
                return self;
            }
            return peers().stream().filter(p -> p.id().equals(branch)).findFirst()
                    .orElseThrow(() -> BranchException.notFound("no live branch '" + branch + "' (live: " + branches() + ")"));
        }
        if (placement == null || placement.isEmpty() || placement.equals("local")) {
            return self;
        }
        if (!placement.equals("least-loaded")) {
            throw BranchException.invalid("placement must be 'local' or 'least-loaded', got '" + placement + "'");
        }
        Peer best = self;
        int fewest = running(instanceStates.get());
        for (Peer peer : peers()) {
            JsonNode record = records.get(peer.id());
            int count = record == null ? Integer.MAX_VALUE : record.path("instance_states").path("RUNNING").asInt(0);
            if (count < fewest || (count == fewest && peer.id().compareTo(best.id()) < 0)) {
                best = peer;
                fewest = count;
            }
        }
        return best;
    }

    /** A 409 when another branch owns an instance of this name. */
    void requireNameFree(String name) {
        store.placement(name).ifPresent(p -> {
            throw BranchException.conflict("instance name '" + name + "' is taken on branch '" + p.branch() + "'");
        });
    }

    private static int running(Map<String, Integer> states) {
        return states.getOrDefault(InstanceState.RUNNING.name(), 0);
    }

    /** Instances of the app on branches other than the live ones given, as their owners last told. */
    List<String> instanceNamesElsewhere(String app, Set<String> answered) {
        if (cluster == null) {
            return List.of();
        }
        return store.placements().stream().filter(p -> p.app().equals(app) && !answered.contains(p.branch()))
                .map(Store.Placement::name).toList();
    }

    private static BranchException unavailable(String message) {
        return new BranchException(503, message);
    }

    @Override
    public void close() {
        gossip.shutdownNow();
        clusterWork.shutdownNow();
        if (cluster != null) {
            cluster.close();
        }
    }
}
