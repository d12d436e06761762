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
 * Finds a worker that is already running from its directory: a live non-zombie process whose
 * start time matches and whose command line carries the instance marker, with {@code worker.lock}
 * held. The worker writes its pid and start time into the lock file it holds ({@code worker.pid}
 * carries the pid alone); a pid file from a worker that wrote no identity there is read as before.
 * A reused pid is never mistaken for ours.
 */
final class ProcessIdentity {
    private ProcessIdentity() {}

    /** What a worker's files say about it; a null start time means it did not say. */
    private record Claim(long pid, String startInstant) {}

    static Optional<ProcessHandle> find(InstanceSpec spec) {
        Optional<Claim> claim = claim(spec.lockfile()).or(() -> claim(spec.pidfile()));
        if (claim.isEmpty()) {
            return Optional.empty();
        }
        long pid = claim.get().pid();
        Optional<ProcessHandle> handle = ProcessHandle.of(pid).filter(ProcessHandle::isAlive);
        if (handle.isEmpty() || isZombie(pid) || !lockHeld(spec.lockfile())) {
            return Optional.empty();
        }
        String claimedStart = claim.get().startInstant();
        if (claimedStart != null) {
            Optional<Instant> started = handle.get().info().startInstant();
            if (started.isEmpty() || !started.get().toString().equals(claimedStart)) {
                return Optional.empty();
            }
        }
        if (!(cmdline(pid) + " ").contains(spec.marker() + " ")) {
            return Optional.empty();
        }
        return handle;
    }

    /** True if the worker that holds {@code lockfile} says it is {@code pid} (not another copy of the instance). */
    static boolean claimedBy(Path lockfile, long pid) {
        return claim(lockfile).map(Claim::pid).filter(holder -> holder == pid).isPresent();
    }

    /** {@code pid\n[start-instant\n]} from {@code file}; empty when absent, blank or garbled. */
    private static Optional<Claim> claim(Path file) {
        try {
            List<String> lines = Files.readAllLines(file);
            if (lines.isEmpty() || lines.get(0).isBlank()) {
                return Optional.empty();
            }
            long pid = Long.parseLong(lines.get(0).trim());
            String started = lines.size() > 1 && !lines.get(1).isBlank() ? lines.get(1).trim() : null;
            return Optional.of(new Claim(pid, started));
        } catch (IOException | NumberFormatException e) {
            return Optional.empty();
        }
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
