package jcyme.supervisor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.junit.jupiter.api.Test;

/** Exit codes as Java reports them, and the signal each names. */
class ExitTest {
    @Test
    void aCodeAbove128NamesItsSignal() throws Exception {
        Process killed = new ProcessBuilder("sleep", "30").start();
        killed.destroyForcibly().waitFor();
        Supervisor.Exit exit = Supervisor.Exit.of("app", killed.pid(), killed.exitValue());
        assertEquals(137, exit.code());
        assertEquals("SIGKILL", exit.signal());
        assertEquals("SIGTERM", Supervisor.Exit.of("app", 1, 143).signal());
        assertEquals("SIGSEGV", Supervisor.Exit.of("app", 1, 139).signal());
    }

    @Test
    void otherCodesNameNone() {
        assertNull(Supervisor.Exit.of("app", 1, 0).signal());
        assertNull(Supervisor.Exit.of("app", 1, 1).signal());
        assertNull(Supervisor.Exit.of("app", 1, 128).signal());
        assertNull(Supervisor.Exit.of("app", 1, 255).signal(), "exit(-1) is no signal");
        assertEquals("unknown", Supervisor.Exit.unknown("app", 1).signal());
        assertNull(Supervisor.Exit.unknown("app", 1).code());
    }
}
