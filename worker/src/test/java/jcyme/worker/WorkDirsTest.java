package jcyme.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WorkDirsTest {
    private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");

    @TempDir
    Path root;

    /** A disk of {@code capacity[0]} bytes holding just what is under {@code root}. */
    private WorkDirs.FreeSpace disk(long... capacity) {
        return () -> 100.0 * (capacity[0] - bytesUnder(root)) / capacity[0];
    }

    private static long bytesUnder(Path dir) throws IOException {
        try (Stream<Path> files = Files.walk(dir)) {
            return files.filter(Files::isRegularFile).mapToLong(file -> file.toFile().length()).sum();
        }
    }

    /** A finished task's directory holding {@code bytes} bytes, last modified {@code minutesAgo} before now. */
    private Path oldDir(String id, int bytes, int minutes) throws IOException {
        Path dir = Files.createDirectories(root.resolve(id));
        Files.write(dir.resolve("out"), new byte[bytes]);
        Files.setLastModifiedTime(dir, FileTime.from(T0.plusSeconds(60L * minutes)));
        return dir;
    }

    @Test
    void scrubRemovesTheOldestDirectoriesUntilEnoughIsFreeAndSparesRunningTasks() throws Exception {
        Path newest = oldDir("c", 300, 3);
        Path oldest = oldDir("a", 300, 1);
        Path middle = oldDir("b", 300, 2);
        Path running = oldDir("r", 300, 0);
        long[] capacity = {1_000_000};
        WorkDirs dirs = new WorkDirs(root, 50, Duration.ZERO, disk(capacity));
        dirs.acquire("r");
        capacity[0] = 2000; // 1200 bytes used: 40% free

        assertEquals(List.of(oldest, middle, newest), dirs.oldestFirst(), "running r, though oldest, is not a candidate");
        WorkDirs.Scrub scrub = dirs.scrub();

        assertEquals(List.of(oldest), scrub.removed(), "one directory frees enough: 55% free");
        assertEquals(300, scrub.bytes());
        assertEquals(40.0, scrub.freeBefore(), 1e-9);
        assertEquals(55.0, scrub.freeAfter(), 1e-9);
        assertFalse(Files.exists(oldest));
        assertTrue(Files.exists(middle) && Files.exists(newest) && Files.exists(running));
        assertEquals(0, dirs.scrub().directories(), "above the threshold nothing more goes");
    }

    @Test
    void aFullDiskLosesEveryFinishedDirectoryButTheRunningOnesAndTheNewTasksOwn() throws Exception {
        oldDir("a", 10, 1);
        oldDir("b", 10, 2);
        Path running = oldDir("r", 10, 0);
        WorkDirs dirs = new WorkDirs(root, 100, Duration.ZERO, disk(1_000_000));
        dirs.acquire("r");

        Path fresh = Files.createDirectories(dirs.acquire("new"));   // as the task's first call.workDir() does

        assertEquals(root.resolve("new"), fresh);
        try (Stream<Path> left = Files.list(root)) {
            assertEquals(List.of(fresh, running), left.sorted().toList());
        }
        dirs.release("r");
        dirs.release("new");
        assertEquals(List.of(fresh, running), dirs.oldestFirst().stream().sorted().toList(), "released, they may go next");
    }

    @Test
    void freeSpaceIsLookedAtOnlyOncePerInterval() throws Exception {
        int[] looks = {0};
        WorkDirs dirs = new WorkDirs(root, 10, Duration.ofHours(1), () -> {
            looks[0]++;
            return 50;
        });
        for (int i = 0; i < 100; i++) {
            dirs.release(Files.createDirectories(dirs.acquire("t" + i)).getFileName().toString());
        }
        assertEquals(1, looks[0]);
        assertEquals(100, Files.list(root).count(), "every task got its own directory");
    }

    @Test
    void aRetryReusesItsDirectoryAndOddIdsStayInsideTheRoot() throws Exception {
        WorkDirs dirs = new WorkDirs(root, 10, Duration.ZERO, () -> 50);
        Path first = Files.createDirectories(dirs.acquire("same-id"));
        Files.writeString(first.resolve("kept"), "x");
        dirs.release("same-id");
        assertEquals(first, dirs.acquire("same-id"));
        assertTrue(Files.exists(first.resolve("kept")));

        assertEquals(root.resolve("_.."), dirs.acquire(".."));
        assertEquals(root.resolve("a_b_.._c"), dirs.acquire("a/b/../c"));
    }

    @Test
    void aDirectoryThatCannotBeDeletedIsPassedOverAndFailsNoTask() throws Exception {
        Path stuck = oldDir("a", 300, 1);
        Path next = oldDir("b", 300, 2);
        long[] capacity = {1000}; // 600 bytes used: 40% free
        WorkDirs dirs = new WorkDirs(root, 50, Duration.ZERO, disk(capacity));
        try (Undeletable pinned = Undeletable.pin(stuck.resolve("out"))) {
            for (int i = 0; i < 3; i++) {
                dirs.release(dirs.acquire("t" + i).getFileName().toString()); // one scrub per task: none fails it
            }
            assertTrue(Files.exists(stuck.resolve("out")));
            assertFalse(Files.exists(next), "the next oldest went in its place");
            assertEquals(List.of(stuck), dirs.oldestFirst(), "still there, still a candidate once it can go");
        }
    }

    /** A file made undeletable: its directory read-only, or, for root, the file immutable ({@code chattr +i}). */
    private record Undeletable(Path file) implements AutoCloseable {
        static Undeletable pin(Path file) throws Exception {
            boolean root = "root".equals(System.getProperty("user.name"));
            if (root) {
                org.junit.jupiter.api.Assumptions.assumeTrue(run("chattr", "+i", file.toString()),
                        "SKIPPED: chattr +i is not available here, so root cannot be kept from deleting a file");
            } else {
                Files.setPosixFilePermissions(file.getParent(), java.nio.file.attribute.PosixFilePermissions.fromString("r-x------"));
            }
            return new Undeletable(file);
        }

        @Override
        public void close() throws Exception {
            run("chattr", "-i", file.toString());
            Files.setPosixFilePermissions(file.getParent(), java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
        }

        private static boolean run(String... command) throws Exception {
            try {
                return new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                        .start().waitFor() == 0;
            } catch (java.io.IOException notInstalled) {
                return false;
            }
        }
    }

    @Test
    void settingsOutOfRangeAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new WorkDirs.Settings(root, 101, Duration.ZERO));
        assertThrows(IllegalArgumentException.class, () -> new WorkDirs.Settings(root, -1, Duration.ZERO));
        assertThrows(IllegalArgumentException.class, () -> new WorkDirs.Settings(root, Double.NaN, Duration.ZERO));
        assertThrows(IllegalArgumentException.class, () -> new WorkDirs.Settings(root, 10, Duration.ofSeconds(-1)));
    }
}
