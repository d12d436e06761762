package jcyme.worker;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Instant;

/**
 * {@code worker.pid} and its guard {@code worker.lock}. The lock is held for the whole life of the
 * process, so a second copy cannot start, and whoever waits on the lock learns of the death at
 * once. The lock file names its holder (pid, then the process start time), so a supervisor can
 * tell our process from one that reused the pid. The pid file holds the pid alone, as Celery's,
 * systemd's {@code PIDFile=} and {@code kill $(cat worker.pid)} expect; it is written once the
 * worker is ready and removed on a clean exit.
 */
final class Pidfile {
    private final Path pidfile;
    private final FileChannel lockChannel;
    private final FileLock lock;

    /** Thrown when another live process holds the lock. */
    static final class AlreadyRunningException extends Exception {
        AlreadyRunningException(String message) {
            super(message);
        }
    }

    private Pidfile(Path pidfile, FileChannel lockChannel, FileLock lock) {
        this.pidfile = pidfile;
        this.lockChannel = lockChannel;
        this.lock = lock;
    }

    static Path lockFileFor(Path pidfile) {
        String name = pidfile.getFileName().toString();
        String base = name.endsWith(".pid") ? name.substring(0, name.length() - 4) : name;
        return pidfile.resolveSibling(base + ".lock");
    }

    static Pidfile acquire(Path pidfile) throws IOException, AlreadyRunningException {
        Path absolute = pidfile.toAbsolutePath();
        Files.createDirectories(absolute.getParent());
        Path lockFile = lockFileFor(absolute);
        FileChannel channel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        FileLock lock = channel.tryLock();
        if (lock == null) {
            channel.close();
            String holder = Files.readAllLines(lockFile).stream().findFirst().orElse("?");
            throw new AlreadyRunningException("another worker (pid " + holder + ") holds " + lockFile + "; not starting");
        }
        try {
            writeIdentity(channel);
        } catch (IOException e) {
            channel.close();
            throw e;
        }
        return new Pidfile(absolute, channel, lock);
    }

    /** Writes {@code pid\nstart-instant\n} into the lock file we hold. */
    private static void writeIdentity(FileChannel channel) throws IOException {
        ProcessHandle self = ProcessHandle.current();
        String started = self.info().startInstant().map(Instant::toString).orElse("");
        channel.truncate(0);
        channel.write(ByteBuffer.wrap((self.pid() + "\n" + started + "\n").getBytes(StandardCharsets.US_ASCII)), 0);
        channel.force(false);
    }

    /** Writes {@code pid\n} atomically. */
    void write() throws IOException {
        Path tmp = pidfile.resolveSibling(pidfile.getFileName() + ".tmp");
        Files.writeString(tmp, ProcessHandle.current().pid() + "\n");
        Files.move(tmp, pidfile, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    /** Removes the pid file, clears the lock file and lets go of the lock. */
    void release() {
        try {
            Files.deleteIfExists(pidfile);
            lockChannel.truncate(0);
            lock.release();
            lockChannel.close();
        } catch (IOException e) {
            // the process is exiting; the kernel drops the lock anyway
        }
    }
}
