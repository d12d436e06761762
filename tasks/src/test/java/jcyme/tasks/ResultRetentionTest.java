package jcyme.tasks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.Duration;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The results a producer keeps are bounded: by a TTL after delivery or arrival, and by a count. */
class ResultRetentionTest {
    final AtomicLong now = new AtomicLong(1_000_000_000L);
    final TaskProducer.Results results = new TaskProducer.Results(Duration.ofSeconds(60), 100, now::get);

    void advance(Duration by) {
        now.addAndGet(by.toNanos());
    }

    static TaskResult success(String id) {
        return TaskResult.success(id, 5);
    }

    @Test
    void theDefaultsAreNamedAndBounded() {
        assertEquals(Duration.ofMinutes(10), TaskProducer.DEFAULT_RESULT_TTL);
        assertEquals(10_000, TaskProducer.DEFAULT_MAX_RESULTS);
    }

    @Test
    void idsAskedAboutButNeverSentDoNotPileUp() {
        for (int i = 0; i < 50; i++) {
            assertEquals(TaskState.PENDING, results.lookup("unknown-" + i).state());
        }
        assertEquals(50, results.size());
        advance(Duration.ofSeconds(30));
        results.lookup("unknown-0"); // asked about again: kept longer
        advance(Duration.ofSeconds(31));
        assertEquals(1, results.size());
        advance(Duration.ofSeconds(30));
        assertEquals(0, results.size());
    }

    @Test
    void aDeliveredResultIsKeptForTheTtlThenForgotten() throws Exception {
        AsyncResult sent = results.sent("t1");
        advance(Duration.ofHours(5)); // pending and sent: kept however long the task takes
        assertEquals(1, results.size());
        results.arrived(success("t1"));
        advance(Duration.ofSeconds(50));
        assertEquals(5, sent.await(Duration.ofSeconds(1)).result().asInt()); // delivered now
        advance(Duration.ofSeconds(59));
        assertSame(sent, results.lookup("t1"));
        assertEquals(TaskState.SUCCESS, results.lookup("t1").state());
        advance(Duration.ofSeconds(2));
        assertEquals(0, results.size());
        AsyncResult again = results.lookup("t1");
        assertNotSame(sent, again);
        assertEquals(TaskState.PENDING, again.state());
    }

    @Test
    void readingTheStateOrTheFutureCountsAsDelivery() {
        results.sent("a");
        results.sent("b");
        results.arrived(success("a"));
        results.arrived(success("b"));
        advance(Duration.ofSeconds(40));
        assertEquals(TaskState.SUCCESS, results.lookup("a").state());
        assertEquals(5, results.lookup("b").future().getNow(null).result().asInt());
        advance(Duration.ofSeconds(40)); // 80 s after arrival, 40 s after delivery
        assertEquals(2, results.size());
        advance(Duration.ofSeconds(21));
        assertEquals(0, results.size());
    }

    @Test
    void resultsNoOneAsksForExpireAfterArrival() {
        for (int i = 0; i < 20; i++) {
            results.arrived(success("stray-" + i)); // e.g. a result for a task another producer sent
        }
        results.sent("mine");
        results.arrived(success("mine"));
        assertEquals(21, results.size());
        advance(Duration.ofSeconds(61));
        assertEquals(0, results.size());
    }

    @Test
    void progressUpdatesDoNotEndAPendingTask() {
        AsyncResult sent = results.sent("slow");
        results.arrived(new TaskResult("slow", TaskState.STARTED, null, null));
        advance(Duration.ofHours(1));
        assertEquals(1, results.size());
        assertEquals(TaskState.STARTED, sent.state());
        assertThrows(TimeoutException.class, () -> sent.await(Duration.ofMillis(10)));
    }

    @Test
    void pastTheMaximumTheOldestGoFirst() {
        for (int i = 0; i < 250; i++) {
            results.sent("t" + i);
        }
        assertEquals(100, results.size());
        assertEquals(TaskState.PENDING, results.lookup("t249").state());
        results.arrived(success("t249"));
        assertEquals(TaskState.SUCCESS, results.lookup("t249").state());
        assertEquals(100, results.size());
        // t150 was evicted by t250 (the lookup of an unknown id); t151 is still there
        results.lookup("t250");
        results.arrived(success("t151"));
        assertEquals(TaskState.SUCCESS, results.lookup("t151").state());
        assertEquals(100, results.size());
    }

    @Test
    void limitsCanBeChanged() {
        results.limits(Duration.ofSeconds(1), 3);
        for (int i = 0; i < 5; i++) {
            results.arrived(success("r" + i));
        }
        assertEquals(3, results.size());
        advance(Duration.ofSeconds(2));
        assertEquals(0, results.size());
        assertThrows(IllegalArgumentException.class, () -> results.limits(Duration.ofSeconds(1), 0));
    }
}
