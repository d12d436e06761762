package jcyme.supervisor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A class-data archive (AppCDS) of the worker's classes: workers that map it start faster and
 * share those pages. It is made once per set of jars and Java version (kept beside them, shared by
 * every branch of the installation), by a training run of a worker that stops as soon as it is
 * ready; until it exists workers simply start without it.
 */
public final class ClassArchive {
    private static final Logger log = LoggerFactory.getLogger(ClassArchive.class);

    private final Path file;

    private ClassArchive(Path file) {
        this.file = file;
    }

    /** The archive for {@code libDir}'s jars under {@code dir} (named by a fingerprint of the jars). */
    public static ClassArchive in(Path dir, Path libDir) throws IOException {
        long fingerprint = Runtime.version().toString().hashCode();
        try (Stream<Path> jars = Files.list(libDir)) {
            for (Path jar : jars.sorted().toList()) {
                fingerprint = fingerprint * 31 + jar.getFileName().toString().hashCode();
                fingerprint = fingerprint * 31 + Files.size(jar);
                fingerprint = fingerprint * 31 + Files.getLastModifiedTime(jar).toMillis();
            }
        }
        return new ClassArchive(dir.resolve("worker-" + Long.toHexString(fingerprint) + ".jsa"));
    }

    /** The JVM option that maps the archive, once it exists. */
    public Optional<String> option() {
        return Files.isRegularFile(file) ? Optional.of("-XX:SharedArchiveFile=" + file) : Optional.empty();
    }

    /**
     * Makes the archive unless it exists: runs {@code training} (a worker command line, without
     * its java executable) with {@code -XX:ArchiveClassesAtExit}. Blocking; call it off the main path.
     */
    public void create(Path java, List<String> training, java.util.Map<String, String> env) {
        if (Files.isRegularFile(file)) {
            return;
        }
        try {
            Files.createDirectories(file.getParent());
            Path tmp = file.resolveSibling(file.getFileName() + "." + ProcessHandle.current().pid() + ".tmp");
            Files.deleteIfExists(tmp);
            List<String> command = new ArrayList<>(List.of(java.toString(), "-XX:ArchiveClassesAtExit=" + tmp));
            command.addAll(training);
            Path out = file.resolveSibling(file.getFileName() + ".log");
            ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(out.toFile());
            builder.environment().putAll(env);
            Process process = builder.start();
            if (!process.waitFor(120, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                log.warn("class-data archive: training run timed out; workers start without it");
                return;
            }
            if (process.exitValue() == 0 && Files.isRegularFile(tmp)) {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                Files.deleteIfExists(out);
                log.info("class-data archive {} ready ({} KiB); new workers start from it", file, Files.size(file) / 1024);
            } else {
                log.warn("class-data archive: training run exited {}; see {}", process.exitValue(), out);
            }
        } catch (IOException e) {
            log.warn("class-data archive not made: {}", e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
