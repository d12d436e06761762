package jcyme.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.rabbitmq.client.Envelope;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import jcyme.tasks.TaskMessage;
import org.junit.jupiter.api.Test;

/** A time limit or terminate interrupts the task it was meant for, never what its thread runs next. */
class RequestTest {

    private static Request request(String id) {
        TaskMessage message = new TaskMessage(id, "tasks.sleep", JsonNodeFactory.instance.arrayNode(),
                JsonNodeFactory.instance.objectNode(), TaskMessage.defaultEmbed(), 0, null, null, null, null, id, null,
                null, "test", false, null, id);
        return new Request(message, new Envelope(1, false, "", "q"), null);
    }

    @Test
    void aRunningTaskIsInterrupted() throws Exception {
        Request request = request("a");
        CountDownLatch running = new CountDownLatch(1);
        CountDownLatch interrupted = new CountDownLatch(1);
        Thread pool = new Thread(() -> {
            request.started(Thread.currentThread());
            running.countDown();
            try {
                Thread.sleep(30_000);
            } catch (InterruptedException e) {
                interrupted.countDown();
            } finally {
                request.ended();
            }
        });
        pool.start();
        assertTrue(running.await(10, TimeUnit.SECONDS));
        request.interrupt();
        assertTrue(interrupted.await(10, TimeUnit.SECONDS), "the task saw the interrupt");
        pool.join();
    }

    @Test
    void anInterruptThatComesAfterTheRunLeavesTheThreadAlone() throws Exception {
        Request first = request("a");
        Request next = request("b");
        first.started(Thread.currentThread());
        first.ended();
        next.started(Thread.currentThread());
        first.interrupt(); // a hard limit or terminate of the first task, late
        assertFalse(Thread.interrupted(), "the next task on the same thread was interrupted");
        next.ended();
    }

    @Test
    void aRunGivenUpOnEndsAbandonedOrStuckAndOnlyARunningOneCanBe() {
        Request returned = request("a");
        returned.started(Thread.currentThread());
        assertEquals(Request.RunEnd.RETURNED, returned.ended());
        assertFalse(returned.abandon(), "nothing to give up on: its thread has returned");

        Request abandoned = request("b");
        abandoned.started(Thread.currentThread());
        assertTrue(abandoned.abandon());
        assertTrue(Thread.interrupted(), "giving up interrupts the thread");
        assertFalse(abandoned.abandon(), "once");
        assertEquals(Request.RunEnd.ABANDONED, abandoned.ended());
        assertFalse(abandoned.markStuck(), "returned within the grace: not stuck");

        Request stuck = request("c");
        stuck.started(Thread.currentThread());
        stuck.abandon();
        Thread.interrupted();
        assertTrue(stuck.markStuck());
        assertEquals(Request.RunEnd.STUCK, stuck.ended());
    }

    @Test
    void taskInfoShowsTheAckAndTheMessagePriority() {
        Request request = new Request(request("a").message, new Envelope(1, false, "", "q"), null, 9);
        assertFalse(request.info(false, "n@h", 1).path("acknowledged").asBoolean());
        request.acknowledged();
        assertTrue(request.info(false, "n@h", 1).path("acknowledged").asBoolean());
        assertEquals(9, request.info(false, "n@h", 1).at("/delivery_info/priority").asInt());
        assertTrue(request("b").info(false, "n@h", 1).at("/delivery_info/priority").isNull(), "none given: null, as Celery");
    }
}
