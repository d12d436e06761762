package jcyme.supervisor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ForkJoinPool;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Exits are heard however busy the rest of the JVM keeps the common fork-join pool, where
 * {@code Process.onExit} completes: the supervisor waits for them on threads of its own.
 */
class ExitsUnderBusyCommonPoolTest {
    static final int CHILDREN = 20;

    @TempDir
    Path tmp;

    @Test
    void everyChildsExitIsReportedWhileTheCommonPoolIsBlocked() {
        int parallelism = ForkJoinPool.getCommonPoolParallelism();
        assertTrue(parallelism > 1, "async steps run on the common pool only when its parallelism is above 1 (see the pom)");
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch blocked = new CountDownLatch(parallelism);
        for (int i = 0; i < parallelism; i++) {
            ForkJoinPool.commonPool().execute(() -> {
                blocked.countDown();
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
        }
        Recorder heard = new Recorder();
        try (FakeWorkers workers = new FakeWorkers(); Supervisor supervisor = new Supervisor(SupervisedTest.SETTINGS, workers, heard)) {
            Waiting.until(Duration.ofSeconds(10), "every thread of the common pool blocked", () -> blocked.getCount() == 0);
            List<InstanceSpec> specs = IntStream.range(0, CHILDREN).mapToObj(i -> new InstanceSpec("app", "w" + i,
                    tmp.resolve("w" + i), "amqp://localhost", List.of("q"), 1, 1, List.of(), List.of(), Map.of(), List.of(), 1)).toList();
            specs.forEach(spec -> workers.next(FakeWorkers.exitingWith(2)));
            specs.forEach(supervisor::start);
            Waiting.until(Duration.ofSeconds(20), "every exit reported", () -> heard.exits().size() == CHILDREN);
            heard.exits().forEach(exit -> assertEquals(2, exit.code()));
            specs.forEach(spec -> assertEquals(InstanceState.BACKOFF, supervisor.status(spec.name()).orElseThrow().state()));
        } finally {
            release.countDown();
        }
    }
}
