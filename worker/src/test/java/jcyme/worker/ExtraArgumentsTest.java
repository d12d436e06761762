package jcyme.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** An app's extra worker options go through the worker's own parser; those the branch sets are refused. */
class ExtraArgumentsTest {

    @Test
    void workerOptionsPass() {
        assertEquals(Optional.empty(), WorkerMain.checkExtraArguments(List.of("--prefetch-multiplier", "1", "--purge", "-l", "DEBUG")));
        assertEquals(Optional.empty(), WorkerMain.checkExtraArguments(List.of()));
    }

    @Test
    void unknownOptionsAndBadValuesAreNamed() {
        assertTrue(WorkerMain.checkExtraArguments(List.of("--no-such-option")).orElseThrow().contains("--no-such-option"));
        assertTrue(WorkerMain.checkExtraArguments(List.of("--prefetch-multiplier", "x")).orElseThrow().contains("--prefetch-multiplier"));
        assertTrue(WorkerMain.checkExtraArguments(List.of("--prefetch-multiplier", "-1")).orElseThrow().contains("prefetch"));
    }

    @Test
    void optionsTheBranchSetsAreRefused() {
        for (List<String> owned : List.of(List.of("-Q", "q"), List.of("-b", "amqp://x"), List.of("-n", "w"), List.of("--autoscale", "2,1"),
                List.of("--pidfile", "p"), List.of("-f", "log"), List.of("--statedb", "s"), List.of("--control-socket", "s"),
                List.of("--shutdown-timeout", "1"), List.of("--help"))) {
            assertTrue(WorkerMain.checkExtraArguments(owned).orElseThrow().contains("set by the branch"), owned.toString());
        }
    }
}
