package jcyme.supervisor;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

/** What a worker's stats answer tells the supervisor. */
class UsageTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void stuckThreadsAndARecycleRequestAreRead() throws Exception {
        Supervisor.Usage usage = Supervisor.Usage.of(42, JSON.readTree(
                "{\"total\": {\"tasks.add\": 3, \"tasks.noop\": 4}, \"stuck_threads\": 2, \"recycle_requested\": \"pool_restart\"}"), 1000);
        assertEquals(new Supervisor.Usage(42, 7, 1000, 2, "pool_restart"), usage);
    }

    @Test
    void aWorkerThatSaysNothingOfThemHasNoneAndAsksNothing() throws Exception {
        assertEquals(new Supervisor.Usage(42, 0, 1000, 0, null), Supervisor.Usage.of(42, JSON.readTree("{}"), 1000));
        assertEquals(new Supervisor.Usage(42, 5, 1000, 0, null), Supervisor.Usage.of(42, JSON.readTree(
                "{\"total\": {\"tasks.add\": 5}, \"stuck_threads\": 0, \"recycle_requested\": null}"), 1000));
    }
}
