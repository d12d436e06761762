package jcyme.branch;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * The branch's event log: {@link #record} keeps an event and streams it to subscribers;
 * {@link #stream} only streams (task events, which the task history keeps).
 */
public final class EventLog {
    private final String branch;
    private final List<BranchEvent> kept = new ArrayList<>();
    private final List<Consumer<BranchEvent>> subscribers = new CopyOnWriteArrayList<>();
    private long seq;

    EventLog(String branch) {
        this.branch = branch;
    }

    /** Keeps and streams one event. */
    public BranchEvent record(String kind, Map<String, Object> fields) {
        BranchEvent event;
        synchronized (this) {
            event = new BranchEvent(++seq, Instant.now(), kind, branch, fields);
            kept.add(event);
        }
        publish(event);
        return event;
    }

    /** Streams an event without keeping it. */
    public void stream(String kind, Map<String, Object> fields) {
        publish(new BranchEvent(0, Instant.now(), kind, branch, fields));
    }

    /** Kept events after {@code since}, oldest first, at most {@code limit}. */
    public synchronized List<BranchEvent> since(long since, int limit) {
        return kept.stream().filter(e -> e.seq() > since).limit(limit).toList();
    }

    /** Every event from now on goes to {@code subscriber} until the returned handle is closed. */
    public AutoCloseable subscribe(Consumer<BranchEvent> subscriber) {
        subscribers.add(subscriber);
        return () -> subscribers.remove(subscriber);
    }

    private void publish(BranchEvent event) {
        for (Consumer<BranchEvent> subscriber : subscribers) {
            subscriber.accept(event);
        }
    }
}
