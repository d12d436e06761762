package jcyme.branch;

import java.io.IOException;
import java.util.List;
import java.util.Set;
import jcyme.api.App;
import jcyme.api.QueueSpec;
import jcyme.tasks.CeleryQueue;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** An app's queue declarations: stored, replicated, declared on the broker; a deleted one is unbound everywhere. */
public final class Queues {
    private static final Logger log = LoggerFactory.getLogger(Queues.class);
    private static final Set<String> EXCHANGE_TYPES = Set.of("direct", "topic", "fanout", "headers");

    private final Store store;
    private final Apps apps;
    private final Brokers brokers;
    private final ClusterMember member;
    private final Reconciler reconciler;
    private final String branchId;

    Queues(Store store, Apps apps, Brokers brokers, ClusterMember member, Reconciler reconciler, String branchId) {
        this.store = store;
        this.apps = apps;
        this.brokers = brokers;
        this.member = member;
        this.reconciler = reconciler;
        this.branchId = branchId;
    }

    public List<String> names(String app) {
        apps.get(app);
        return store.queueNames(app);
    }

    public QueueSpec get(String app, String name) {
        apps.get(app);
        return store.queue(app, name).orElseThrow(() -> noSuchQueue(app, name));
    }

    private static BranchException noSuchQueue(String app, String name) {
        return BranchException.notFound("app '" + app + "' has no queue '" + name + "'");
    }

    /** Declares the queue (on the broker too) for the app. */
    public Apps.Saved<QueueSpec> declare(String app, QueueSpec spec) {
        App owner = apps.stored(app);
        validate(spec);
        try {
            brokers.producer(brokers.brokerOf(owner, null)).declare(new CeleryQueue(spec.name(), spec.exchange(),
                    spec.exchangeType(), spec.routingKey()));
        } catch (IOException | com.rabbitmq.client.ShutdownSignalException e) {
            throw new BranchException(502, "broker refused queue '" + spec.name() + "': " + Checks.firstLine(e.getMessage()));
        }
        boolean created = store.putQueue(app, spec, member::nextClock, branchId)
                .orElseThrow(() -> Apps.noSuchApp(app));
        member.replicate(app);
        return new Apps.Saved<>(spec, created);
    }

    /** What a queue declaration must be to be stored, from a request or from another branch; a 400 otherwise. */
    static void validate(QueueSpec spec) {
        Checks.name("queue", spec.name());
        if (!spec.exchange().isEmpty()) {
            Checks.name("exchange", spec.exchange());
        }
        if (!EXCHANGE_TYPES.contains(spec.exchangeType())) {
            throw BranchException.invalid("exchange_type must be direct, topic, fanout or headers, got '" + spec.exchangeType() + "'");
        }
    }

    /** Drops every ready message of the queue on the app's broker (declared or not, like {@code celery purge}); how many it dropped. */
    public int purge(String app, String name) {
        App owner = apps.stored(app);
        Checks.name("queue", name);
        String broker = brokers.brokerOf(owner, null);
        int purged = brokers.purge(broker, name);
        log.info("purged {} messages from queue {} of app {}", purged, name, app);
        return purged;
    }

    /** Deletes the declaration and unbinds the queue from every instance of the app, which stop consuming it at once. */
    public void delete(String app, String name) {
        List<String> consumers = store.deleteQueue(app, name, member::nextClock, branchId).orElseThrow(() -> {
            get(app, name);
            return noSuchQueue(app, name);
        });
        member.replicate(app);
        reconciler.settle(consumers);
        log.info("queue {} of app {} deleted", name, app);
    }
}
