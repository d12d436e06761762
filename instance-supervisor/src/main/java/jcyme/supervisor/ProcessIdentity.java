package jcyme.supervisor;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * Finds a worker that is already running from its directory: {@code worker.pid} (pid and start
 * time), a live non-zombie process whose start time matches and whose command line carries the
 * instance marker, and {@code worker.lock} held. A reused pid is never mistaken for ours.
 */
final class ProcessIdentity {
    private ProcessIdentity() {}

    static Optional<ProcessHandle> find(InstanceSpec spec) {
        List<String> lines;
        try {
            lines = Files.readAllLines(spec.pidfile());
        } catch (IOException e) {
            return Optional.empty();
        }
        if (lines.isEmpty()) {
            return Optional.empty();
        }
        long pid;
        try {
            pid = Long.parseLong(lines.get(0).trim());
        } catch (NumberFormatException e) {
            return Optional.empty();
        }
        Optional<ProcessHandle> handle = ProcessHandle.of(pid).filter(ProcessHandle::isAlive);
        if (handle.isEmpty() || isZombie(pid) || !lockHeld(spec.lockfile())) {
            return Optional.empty();
        }
        ProcessHandle.Info info = handle.get().info();
        if (lines.size() > 1 && !lines.get(1).isBlank()) {
            Optional<Instant> started = info.startInstant();
            if (started.isEmpty() || !started.get().toString().equals(lines.get(1).trim())) {
                return Optional.empty();
            }
        }
        String commandLine = cmdline(pid);
        if (!(commandLine + " ").contains(spec.marker() + " ")) {
            return Optional.empty();
        }
        return handle;
    }

    /** True while some process holds the lock on {@code lockfile}. */
    static boolean lockHeld(Path lockfile) {
        if (!Files.exists(lockfile)) {
            return false;
        }
        try (FileChannel channel = FileChannel.open(lockfile, StandardOpenOption.WRITE)) {
            FileLock lock = channel.tryLock();
            if (lock == null) {
                return true;
            }
            lock.release();
            return false;
        } catch (OverlappingFileLockException e) {
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    static boolean isZombie(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            int close = stat.lastIndexOf(')');
            return close > 0 && stat.length() > close + 2 && stat.charAt(close + 2) == 'Z';
        } catch (IOException e) {
            return false;
        }
    }

    /** The full command line from /proc (not cut at 4 KB like {@code ProcessHandle.Info}). */
    static String cmdline(long pid) {
        try {
            return new String(Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline"))).replace('\0', ' ');
        } catch (IOException e) {
            return ProcessHandle.of(pid).flatMap(h -> h.info().commandLine()).orElse("");
        }
    }
}
