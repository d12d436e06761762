package jcyme.branch;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jcyme.api.App;
import jcyme.api.Names;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An app's {@code per_branch} instances on this branch: {@code <app>-<branch>-1} to {@code -N}.
 * Each branch keeps its own from the app as replicated to it — missing records are created,
 * those past N become tombstones, queues and concurrency follow the app's defaults — and the
 * reconciler then converges the workers to those records, as for every other change.
 */
final class PerBranch {
    private static final Logger log = LoggerFactory.getLogger(PerBranch.class);

    private final Store store;
    private final Reconciler reconciler;
    private final EventLog events;
    private final String branchId;
    private final Path dataDir;
    private final Runnable announce;
    /** Names refused with their reason, so that a refusal is told once, not on every pass. */
    private final java.util.Map<String, String> refused = new java.util.HashMap<>();
    /**
     * What each instance's worker was started with from the app (class path, JVM options, env,
     * arguments, setup, broker), as last seen here: a change replaces the worker. At boot
     * the stored app counts as what the adopted workers run.
     */
    private final java.util.Map<String, List<Object>> launchedWith = new java.util.HashMap<>();

    PerBranch(Store store, Reconciler reconciler, EventLog events, String branchId, Path dataDir, Runnable announce) {
        this.store = store;
        this.reconciler = reconciler;
        this.events = events;
        this.branchId = branchId;
        this.dataDir = dataDir;
        this.announce = announce;
    }

    /** The name of this branch's k-th instance of the app (k from 1). */
    static String name(String app, String branchId, int k) {
        return app + "-" + branchId + "-" + k;
    }

    /** Every app's per-branch instances, as at boot. */
    void convergeAll() {
        store.appNames().forEach(this::converge);
    }

    /** Brings this branch's per-branch records of the app in line with the app as stored (none if it is gone). */
    synchronized void converge(String appName) {
        App app = store.app(appName).orElse(null);
        int wanted = app == null ? 0 : app.perBranch();
        String prefix = appName + "-" + branchId + "-";
        List<String> touched = new ArrayList<>();
        for (InstanceRecord record : store.instances(appName)) {
            int k = ordinal(record.name(), prefix);
            if (k < 1) {
                continue;
            }
            if (k > wanted) {
                store.updateInstance(record.name(), InstanceRecord::tombstone);
                log.info("instance {}: past per_branch {} of app {}, deleting", record.name(), wanted, appName);
                events.record("instance.deleted", BranchEvent.fields("app", appName, "instance", record.name(), "cause", "per_branch"));
                touched.add(record.name());
            } else if (!launch(app).equals(launchedWith.getOrDefault(record.name(), launch(app)))) {
                store.updateInstance(record.name(), r -> new InstanceRecord(r.name(), r.app(), queues(app), app.minConcurrency(),
                        app.maxConcurrency(), r.enabled(), r.broker(), r.arguments(), r.extraConfig(), r.generation() + 1, r.deleting(),
                        r.recycleAfterTasks(), r.recycleAboveRssKib()));
                log.info("instance {}: app {} changed how its workers start; replacing the worker", record.name(), appName);
                touched.add(record.name());
            } else if (!followsApp(record, app)) {
                store.updateInstance(record.name(), r -> r.withQueues(queues(app)).withAutoscale(app.maxConcurrency(), app.minConcurrency()));
                log.info("instance {}: follows app {} (queues {}, autoscale {},{})", record.name(), appName, queues(app),
                        app.maxConcurrency(), app.minConcurrency());
                touched.add(record.name());
            }
        }
        for (int k = 1; k <= wanted; k++) {
            String name = name(appName, branchId, k);
            if (store.instanceRecord(name).isPresent()) {
                continue;
            }
            String problem = problem(name);
            if (problem != null) {
                if (!problem.equals(refused.put(name, problem))) {
                    log.warn("app {}: no per_branch instance {}: {}", appName, name, problem);
                    events.record("instance.refused", BranchEvent.fields("app", appName, "instance", name, "error", problem));
                }
                break;
            }
            refused.remove(name);
            store.insertInstance(new InstanceRecord(name, appName, queues(app), app.minConcurrency(), app.maxConcurrency(), true,
                    null, null, null, 1, false, null, null));
            log.info("instance {} of app {} created (per_branch {})", name, appName, wanted);
            events.record("instance.created", BranchEvent.fields("app", appName, "instance", name, "cause", "per_branch"));
            touched.add(name);
        }
        for (InstanceRecord record : store.instances(appName)) {
            if (app != null && ordinal(record.name(), prefix) >= 1) {
                launchedWith.put(record.name(), launch(app));
            }
        }
        launchedWith.keySet().removeIf(name -> name.startsWith(prefix) && store.instance(name).isEmpty());
        if (!touched.isEmpty()) {
            announce.run();
            touched.forEach(reconciler::wake);
        }
    }

    /** k for a name {@code <prefix>k}, else 0. */
    private static int ordinal(String name, String prefix) {
        if (!name.startsWith(prefix) || name.length() == prefix.length() || name.length() > prefix.length() + 4) {
            return 0;
        }
        String digits = name.substring(prefix.length());
        return digits.chars().allMatch(Character::isDigit) && digits.charAt(0) != '0' ? Integer.parseInt(digits) : 0;
    }

    private static boolean followsApp(InstanceRecord record, App app) {
        return record.queues().equals(queues(app)) && record.min() == app.minConcurrency() && record.max() == app.maxConcurrency();
    }

    /** The app's settings that take effect only when a worker starts. */
    private static List<Object> launch(App app) {
        return java.util.Arrays.asList(app.classpath(), app.jvmOptions(), app.env(), app.arguments(), app.setupCmd(),
                app.broker());
    }

    private static List<String> queues(App app) {
        return app.defaultQueues().isEmpty() ? List.of("celery") : app.defaultQueues();
    }

    /** Why this branch cannot run an instance of that name, or null. */
    private String problem(String name) {
        String invalid = Names.problem("instance", name);
        if (invalid != null) {
            return invalid;
        }
        if (!Instances.socketFits(dataDir, name)) {
            return "the name is too long for a control socket under " + dataDir + " (use a shorter app name, branch id or data directory)";
        }
        if (store.instances().size() >= Limits.maxInstances()) {
            return "this branch already runs its limit of " + Limits.maxInstances() + " instance(s) (--max-instances)";
        }
        if (store.placement(name).isPresent()) {
            return "another branch owns an instance of that name";
        }
        return null;
    }
}
