package jcyme.worker;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileStore;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The tasks' work directories, {@code <root>/<task-id>/}: one per task id, created when the task
 * first asks for it and kept after it. Before a task starts, if the free space of the root's filesystem is
 * under {@code scrubBelowPercent}, the least recently modified directories of tasks not running
 * are removed, oldest first, until it is not (or none are left). Free space is looked at no more
 * often than {@code checkInterval}. A directory that cannot be deleted is passed over (and said so
 * once): scrubbing is housekeeping, it never fails the task about to start.
 */
final class WorkDirs {
    private static final Logger log = LoggerFactory.getLogger(WorkDirs.class);
    /** What a task id may be as a directory name; anything else is replaced by {@code _}. */
    private static final Pattern UNSAFE = Pattern.compile("[^A-Za-z0-9._-]");

    /** Celery's and HySDS's default: scrub once less than 10% of the disk is free. */
    static final double DEFAULT_SCRUB_BELOW_PERCENT = 10;
    static final Duration DEFAULT_CHECK_INTERVAL = Duration.ofSeconds(1);

    /**
     * How a worker keeps its work directories.
     *
     * @param root              where they go ({@code --work-dir})
     * @param scrubBelowPercent scrub once the filesystem's free share falls under this ({@code --scrub-below})
     * @param checkInterval     look at free space no more often than this ({@code --scrub-check-interval})
     */
    record Settings(Path root, double scrubBelowPercent, Duration checkInterval) {
        Settings {
            if (!(scrubBelowPercent >= 0 && scrubBelowPercent <= 100)) {
                throw new IllegalArgumentException("--scrub-below must be a percentage from 0 to 100, got " + scrubBelowPercent);
            }
            if (checkInterval == null || checkInterval.isNegative()) {
                throw new IllegalArgumentException("--scrub-check-interval must be 0 or more seconds, got " + checkInterval);
            }
        }
    }

    /** The free share of a filesystem, in percent. */
    interface FreeSpace {
        double percent() throws IOException;
    }

    /** One scrub: what it removed and the free space before and after. */
    record Scrub(int directories, long bytes, double freeBefore, double freeAfter, List<Path> removed) {}

    private final Path root;
    private final double scrubBelowPercent;
    private final long checkIntervalNanos;
    private final FreeSpace freeSpace;
    /** Task ids running now, with how many deliveries of each. */
    private final Map<String, Integer> inUse = new HashMap<>();
    /** Directories a scrub could not delete, told once each. */
    private final java.util.Set<Path> undeletable = new java.util.HashSet<>();
    private long nextCheck = System.nanoTime();

    WorkDirs(Path root, double scrubBelowPercent, Duration checkInterval, FreeSpace freeSpace) {
        new Settings(root, scrubBelowPercent, checkInterval);
        this.root = root.toAbsolutePath().normalize();
        this.scrubBelowPercent = scrubBelowPercent;
        this.checkIntervalNanos = checkInterval.toNanos();
        this.freeSpace = freeSpace;
    }

    /** Work directories under {@code root}, measured on the filesystem that holds it. */
    static WorkDirs on(Settings settings) {
        Path root = settings.root();
        return new WorkDirs(root, settings.scrubBelowPercent(), settings.checkInterval(), () -> fileStoreFreePercent(root));
    }

    private static double fileStoreFreePercent(Path root) throws IOException {
        Files.createDirectories(root);
        FileStore store = Files.getFileStore(root);
        long total = store.getTotalSpace();
        return total <= 0 ? 100 : 100.0 * store.getUsableSpace() / total;
    }

    Path root() {
        return root;
    }

    /**
     * The directory of task {@code taskId}, marked in use (after a scrub if the disk is short of
     * space). The task creates it when it first asks for it ({@code TaskCall.workDir()}): a mkdir
     * per task was the largest cost of a fast task's run.
     */
    synchronized Path acquire(String taskId) {
        String name = dirName(taskId);
        try {
            inUse.merge(name, 1, Integer::sum);
            scrubIfDue();
            return root.resolve(name);
        } catch (RuntimeException e) {
            release(taskId);
            throw e;
        }
    }

    /** The task has ended: its directory may be scrubbed from now on. */
    synchronized void release(String taskId) {
        inUse.computeIfPresent(dirName(taskId), (name, count) -> count > 1 ? count - 1 : null);
    }

    private void scrubIfDue() {
        long now = System.nanoTime();
        if (now - nextCheck < 0) {
            return;
        }
        nextCheck = now + checkIntervalNanos;
        Scrub scrub;
        try {
            scrub = scrub();
        } catch (IOException e) {
            log.warn("cannot scrub the work directories in {}: {}", root, e.toString());
            return;
        }
        if (scrub.directories() > 0) {
            log.info("scrubbed {} work directories ({} bytes) in {}: free {}% before, {}% after (threshold {}%)",
                    scrub.directories(), scrub.bytes(), root, percent(scrub.freeBefore()), percent(scrub.freeAfter()),
                    percent(scrubBelowPercent));
        }
    }

    /** Removes the oldest directories not in use while free space is under the threshold. */
    synchronized Scrub scrub() throws IOException {
        double before = freeSpace.percent();
        double free = before;
        int count = 0;
        long bytes = 0;
        List<Path> removed = new ArrayList<>();
        if (free >= scrubBelowPercent) {
            return new Scrub(0, 0, before, free, removed);
        }
        for (Path dir : oldestFirst()) {
            if (free >= scrubBelowPercent) {
                break;
            }
            try {
                bytes += delete(dir);
            } catch (IOException e) {
                if (undeletable.add(dir)) {
                    log.warn("cannot delete work directory {}, passing over it: {}", dir, e.toString());
                }
                continue;
            }
            undeletable.remove(dir);
            count++;
            removed.add(dir);
            free = freeSpace.percent();
        }
        return new Scrub(count, bytes, before, free, removed);
    }

    /** The directories of tasks not running, least recently modified first (then by name). */
    List<Path> oldestFirst() throws IOException {
        if (!Files.isDirectory(root)) {
            return List.of();
        }
        record Aged(Path dir, FileTime modified) {}
        List<Aged> dirs = new ArrayList<>();
        try (Stream<Path> entries = Files.list(root)) {
            for (Path entry : (Iterable<Path>) entries::iterator) {
                if (inUse.containsKey(entry.getFileName().toString())) {
                    continue;
                }
                try {
                    BasicFileAttributes attributes = Files.readAttributes(entry, BasicFileAttributes.class);
                    if (attributes.isDirectory()) {
                        dirs.add(new Aged(entry, attributes.lastModifiedTime()));
                    }
                } catch (NoSuchFileException gone) {
                    // removed by someone else meanwhile
                }
            }
        }
        dirs.sort(Comparator.comparing(Aged::modified).thenComparing(aged -> aged.dir().getFileName().toString()));
        return dirs.stream().map(Aged::dir).toList();
    }

    /** Deletes a directory tree; returns the bytes of the files it held. */
    private static long delete(Path dir) throws IOException {
        long[] bytes = {0};
        try {
            Files.walkFileTree(dir, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attributes) throws IOException {
                    bytes[0] += attributes.size();
                    Files.deleteIfExists(file);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult postVisitDirectory(Path visited, IOException e) throws IOException {
                    if (e != null) {
                        throw e;
                    }
                    Files.deleteIfExists(visited);
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (NoSuchFileException gone) {
            // removed by someone else meanwhile
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
        return bytes[0];
    }

    /** A task id as a directory name: itself when it is a plain name (a Celery id, a UUID always is). */
    static String dirName(String taskId) {
        String name = isPlain(taskId) ? taskId : UNSAFE.matcher(taskId).replaceAll("_");
        return name.isEmpty() || name.equals(".") || name.equals("..") ? "_" + name : name;
    }

    /** True when every character is one {@link #UNSAFE} leaves alone (the common case, without a regex per task). */
    private static boolean isPlain(String id) {
        for (int i = 0; i < id.length(); i++) {
            char c = id.charAt(i);
            boolean plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
            if (!plain) {
                return false;
            }
        }
        return true;
    }

    private static String percent(double value) {
        return String.format("%.1f", value);
    }
}
