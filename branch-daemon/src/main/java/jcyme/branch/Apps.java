package jcyme.branch;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import jcyme.api.App;
import jcyme.api.Names;
import jcyme.tasks.Json;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Apps: defined here or replicated from other branches; deleting one removes its instances everywhere. */
public final class Apps {
    private static final Logger log = LoggerFactory.getLogger(Apps.class);
    static final int DEFAULT_MIN = 1;
    static final int DEFAULT_MAX = 4;
    private static final Set<String> FIELDS = new TreeSet<>(List.of("broker", "arguments", "extra_config", "classpath",
            "jvm_options", "env", "default_queues", "min_concurrency", "max_concurrency",
            "setup_cmd", "recycle_after_tasks", "recycle_above_rss_kib", "per_branch"));
    /** The longest setup command accepted, in characters. */
    static final int MAX_SETUP_CMD = 8192;
    /** The most instances of one app a branch runs for {@code per_branch}. */
    static final int MAX_PER_BRANCH = 64;

    private final Store store;
    private final ClusterMember member;
    private final Reconciler reconciler;
    private final EventLog events;
    private final String branchId;
    private final PerBranch perBranch;
    private final WorkerArguments workerArguments;
    private final Brokers brokers;

    Apps(Store store, ClusterMember member, Reconciler reconciler, EventLog events, String branchId, PerBranch perBranch,
         WorkerArguments workerArguments, Brokers brokers) {
        this.brokers = brokers;
        this.perBranch = perBranch;
        this.workerArguments = workerArguments;
        this.store = store;
        this.member = member;
        this.reconciler = reconciler;
        this.events = events;
        this.branchId = branchId;
    }

    /** Result of a create-or-update. */
    public record Saved<T>(T value, boolean created) {}

    public List<String> names() {
        return store.appNames();
    }

    /** The app as API answers show it: its effective broker (the branch's when it has none of its own), password masked. */
    public App get(String name) {
        return shown(stored(name));
    }

    /** The app as stored (with its broker's password): for this branch's own use, never for an answer. */
    App stored(String name) {
        return store.app(name).orElseThrow(() -> noSuchApp(name));
    }

    static BranchException noSuchApp(String name) {
        return BranchException.notFound("no app named '" + name + "'");
    }

    /** Creates the app, or updates the fields given; unknown fields are an error. */
    public Saved<App> put(String name, Map<String, Object> fields) {
        Checks.name("app", name);
        for (String field : fields.keySet()) {
            if (!FIELDS.contains(field)) {
                throw BranchException.invalid("unknown app field '" + field + "' (known: " + String.join(", ", FIELDS) + ")");
            }
        }
        Store.AppChange change = store.changeApp(name, existing -> merged(name, existing, fields), member::nextClock, branchId);
        boolean created = change.before() == null;
        member.replicate(name);
        log.info("app {} {}", name, created ? "created" : "updated");
        events.record(created ? "app.created" : "app.updated", BranchEvent.fields("app", name, "origin", branchId));
        perBranch.converge(name);
        return new Saved<>(shown(change.after()), created);
    }

    /** The app with the fields given over the existing app's (or the defaults of a new one), checked. */
    private App merged(String name, App existing, Map<String, Object> fields) {
        Map<String, Object> merged = new LinkedHashMap<>();
        if (existing != null) {
            merged.putAll(Json.MAPPER.convertValue(existing, Map.class));
        } else {
            merged.put("min_concurrency", DEFAULT_MIN);
            merged.put("max_concurrency", DEFAULT_MAX);
        }
        merged.putAll(fields);
        merged.put("name", name);
        if (merged.get("broker") instanceof String broker && !broker.isEmpty()) {
            boolean ownBroker = existing != null && existing.broker() != null && !existing.broker().isEmpty();
            boolean defaultSentBack = existing != null && !ownBroker && broker.equals(Checks.masked(brokers.brokerOf(existing, null)));
            // the branch's broker as shown, sent back: still none given, so that the app follows the branch's
            merged.put("broker", defaultSentBack ? null : Checks.unmasked(broker, ownBroker ? existing.broker() : null));
        }
        App app;
        try {
            app = Json.MAPPER.convertValue(merged, App.class);
        } catch (IllegalArgumentException e) {
            String field = e.getCause() instanceof com.fasterxml.jackson.databind.JsonMappingException mapping && !mapping.getPath().isEmpty()
                    ? " '" + mapping.getPath().get(mapping.getPath().size() - 1).getFieldName() + "'" : "";
            throw BranchException.invalid("invalid app field" + field + ": " + Checks.firstLine(e.getMessage()));
        }
        validate(app);
        checkArguments(app.arguments());
        return app;
    }

    /**
     * What an app must be to be stored, whether it comes from a request or from another branch:
     * a valid name that is not reserved, bounds in order, a broker URL, valid queue names,
     * class path entries that exist on this host and a bounded setup command. A 400 naming the first problem otherwise.
     */
    static void validate(App app) {
        Checks.name("app", app.name());
        if (Names.RESERVED_APPS.contains(app.name())) {
            throw BranchException.invalid("app name '" + app.name() + "' is reserved");
        }
        Checks.bounds(app.minConcurrency(), app.maxConcurrency());
        if (app.broker() != null && !app.broker().isEmpty()) {
            Checks.broker(app.broker());
        }
        app.defaultQueues().forEach(q -> Checks.name("queue", q));
        if (app.perBranch() < 0 || app.perBranch() > MAX_PER_BRANCH) {
            throw BranchException.invalid("per_branch must be between 0 and " + MAX_PER_BRANCH + ", got " + app.perBranch());
        }
        if (app.setupCmd() != null && (app.setupCmd().indexOf('\0') >= 0 || app.setupCmd().length() > MAX_SETUP_CMD)) {
            throw BranchException.invalid("setup_cmd must be a string of at most " + MAX_SETUP_CMD + " characters without NUL");
        }
        Checks.recycle(app.recycleAfterTasks(), app.recycleAboveRssKib());
        for (String jar : app.classpath()) {
            if (jar.indexOf('\0') >= 0 || !Files.exists(Path.of(jar))) {
                throw BranchException.invalid("classpath entry '" + jar.replace("\0", "\\0") + "' does not exist on this host");
            }
        }
    }

    /** Extra worker options as the worker's own parser sees them; a 400 naming what is wrong otherwise. */
    void checkArguments(String arguments) {
        if (arguments != null && arguments.indexOf('\0') >= 0) {
            throw BranchException.invalid("arguments must not contain NUL");
        }
        workerArguments.problem(WorkerArguments.split(arguments)).ifPresent(problem -> {
            throw BranchException.invalid("arguments '" + arguments.trim() + "': " + problem);
        });
    }

    /** The outcome of a configuration push. */
    public record ConfigPush(boolean changed, @com.fasterxml.jackson.annotation.JsonProperty("config_id") String configId) {}

    /**
     * Stores the app's live configuration under {@code configId} and sends it with the app to every
     * branch, whose reconcilers hand it to their running instances; the id it holds already changes nothing.
     */
    public ConfigPush putConfig(String name, String configId, Map<String, Object> config) {
        if (configId == null || configId.isBlank() || configId.length() > MAX_CONFIG_ID || configId.chars().anyMatch(Character::isISOControl)) {
            stored(name);
            throw BranchException.invalid("config_id must be a non-empty string of at most " + MAX_CONFIG_ID + " characters");
        }
        Store.AppChange change = store.changeApp(name, app -> {
            if (app == null) {
                throw noSuchApp(name);
            }
            return configId.equals(app.liveConfigId()) ? app : app.withConfig(configId, config == null ? Map.of() : config);
        }, member::nextClock, branchId);
        if (!change.changed()) {
            return new ConfigPush(false, configId);
        }
        member.replicate(name);
        log.info("app {}: config {} -> {}", name, change.before().liveConfigId(), configId);
        events.record("app.config", BranchEvent.fields("app", name, "config_id", configId, "origin", branchId));
        reconciler.wakeAll();
        return new ConfigPush(true, configId);
    }

    /** The longest config id accepted. */
    static final int MAX_CONFIG_ID = 200;

    /** The app as shown: its effective broker, password replaced by the mask. */
    private App shown(App app) {
        return new App(app.name(), Checks.masked(brokers.brokerOf(app, null)), app.arguments(), app.extraConfig(), app.classpath(),
                app.jvmOptions(), app.env(), app.defaultQueues(), app.minConcurrency(), app.maxConcurrency(), app.setupCmd(),
                app.recycleAfterTasks(), app.recycleAboveRssKib(), app.perBranch(), app.configId(), app.config());
    }

    /** Deletes the app; its instances here become tombstones at once, and are stopped and removed before this returns. */
    public void delete(String name) {
        List<String> instances = store.deleteApp(name, member::nextClock, branchId).orElseThrow(() -> noSuchApp(name));
        member.replicate(name);
        events.record("app.deleted", BranchEvent.fields("app", name, "origin", branchId));
        reconciler.settle(instances);
        log.info("app {} deleted with its {} instance(s) here", name, instances.size());
    }
}
