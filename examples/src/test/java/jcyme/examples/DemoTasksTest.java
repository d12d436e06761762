package jcyme.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.LockSupport;
import jcyme.tasks.Json;
import jcyme.tasks.Retry;
import jcyme.tasks.Task;
import jcyme.tasks.TaskCall;
import jcyme.tasks.Tasks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DemoTasksTest {
    private final Map<String, Task> tasks = Tasks.load(getClass().getClassLoader());

    private Object run(String name, Object... args) throws Exception {
        List<JsonNode> list = new java.util.ArrayList<>();
        for (Object arg : args) {
            list.add(Json.tree(arg));
        }
        return tasks.get(name).run(new TaskCall("id", name, list, Map.of(), 0));
    }

    @Test
    void serviceLoaderFindsEveryDemoTask() {
        assertEquals(List.of("tasks.add", "tasks.config", "tasks.echo", "tasks.fail", "tasks.fib", "tasks.flaky", "tasks.lifecycle", "tasks.noop",
                        "tasks.sleep", "tasks.stall", "tasks.workdir"),
                List.copyOf(tasks.keySet()));
    }

    @Test
    void demoTasksCompute() throws Exception {
        assertEquals(BigInteger.valueOf(5), run("tasks.add", 2, 3));
        assertEquals(new BigInteger("100000000000000000001"), run("tasks.add", new BigInteger("100000000000000000000"), 1));
        assertEquals(6765L, run("tasks.fib", 20));
        assertThrows(IllegalArgumentException.class, () -> run("tasks.fib", 91));
        assertThrows(IllegalArgumentException.class, () -> run("tasks.add", "a", 1));
        RuntimeException failure = assertThrows(RuntimeException.class, () -> run("tasks.fail", "boom"));
        assertEquals("boom", failure.getMessage());
    }

    @Test
    void stallBlocksThroughInterruptsForTheSecondsAsked() throws Exception {
        Thread caller = Thread.currentThread();
        Thread interrupter = new Thread(() -> {
            for (int i = 0; i < 5; i++) {
                caller.interrupt();
                LockSupport.parkNanos(Duration.ofMillis(40).toNanos());
            }
        });
        long started = System.nanoTime();
        interrupter.start();
        Object returned = run("tasks.stall", 0.3);
        long tookMs = Duration.ofNanos(System.nanoTime() - started).toMillis();
        interrupter.join();
        Thread.interrupted();
        assertEquals(new BigDecimal("0.3"), returned);
        assertTrue(tookMs >= 300, "blocked through the interrupts for 0.3 s, took " + tookMs + " ms");
        assertThrows(IllegalArgumentException.class, () -> run("tasks.stall", 0));
    }

    @Test
    void flakyAsksForRetriesUntilItHasFailedEnough() throws Exception {
        Task flaky = tasks.get("tasks.flaky");
        Retry retry = assertThrows(Retry.class, () -> flaky.run(new TaskCall("id", "tasks.flaky", List.of(Json.tree(2)), Map.of(), 1)));
        assertEquals("attempt 2 failed", retry.getCause().getMessage());
        assertEquals(Retry.DEFAULT_MAX_RETRIES, retry.maxRetries());
        assertEquals(2, flaky.run(new TaskCall("id", "tasks.flaky", List.of(Json.tree(2)), Map.of(), 2)));
    }

    @Test
    void workdirReturnsItsDirectoryAndWritesOnlyPlainFileNames(@TempDir Path dir) throws Exception {
        Task workdir = tasks.get("tasks.workdir");
        TaskCall call = new TaskCall("id", "tasks.workdir", List.of(Json.tree("out.txt"), Json.tree("hello")), Map.of(), 0, dir);
        assertEquals(dir.toAbsolutePath().toString(), workdir.run(call));
        assertEquals("hello", Files.readString(dir.resolve("out.txt")));
        assertThrows(IllegalArgumentException.class,
                () -> workdir.run(new TaskCall("id", "tasks.workdir", List.of(Json.tree("../x")), Map.of(), 0, dir)));
        assertThrows(IllegalStateException.class, () -> run("tasks.workdir"));
    }
}
