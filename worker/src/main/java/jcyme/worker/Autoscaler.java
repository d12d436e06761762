package jcyme.worker;

import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.IntSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Keeps the pool between min and max threads by {@link AutoscalePolicy}, reacting to demand. */
final class Autoscaler {
    private static final Logger log = LoggerFactory.getLogger(Autoscaler.class);

    private final TaskPool pool;
    private final IntSupplier demand;
    private AutoscalePolicy policy;
    private Instant lastScaleUp;

    Autoscaler(AutoscalePolicy policy, TaskPool pool, IntSupplier demand) {
        this.policy = policy;
        this.pool = pool;
        this.demand = demand;
    }

    synchronized void maybeScale() {
        int procs = pool.size();
        int qty = demand.getAsInt();
        int target = policy.target(qty, procs, lastScaleUp, Instant.now());
        if (target != procs) {
            scaleTo(target, qty);
        }
    }

    /** New bounds, applied at once: the pool moves inside them immediately. */
    synchronized void update(int max, int min) {
        policy = new AutoscalePolicy(min, max, policy.keepalive());
        int procs = pool.size();
        int target = Math.max(min, Math.min(max, procs));
        if (target != procs) {
            scaleTo(target, demand.getAsInt());
        }
        maybeScale();
    }

    private void scaleTo(int target, int qty) {
        int procs = pool.size();
        if (target > procs) {
            lastScaleUp = Instant.now();
        }
        pool.resize(target);
        log.info("autoscale: pool {} -> {} thread(s) (demand {}, min {}, max {})", procs, target, qty, policy.min(), policy.max());
    }

    synchronized AutoscalePolicy policy() {
        return policy;
    }

    /** Celery's {@code stats.autoscaler}. */
    synchronized Map<String, Object> info() {
        Map<String, Object> info = new LinkedHashMap<>();
        info.put("max", policy.max());
        info.put("min", policy.min());
        info.put("current", pool.size());
        info.put("qty", demand.getAsInt());
        return info;
    }
}
