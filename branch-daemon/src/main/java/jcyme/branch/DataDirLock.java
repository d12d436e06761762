package jcyme.branch;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * {@code <data-dir>/branch.lock}: held by the branch for its whole life, so two branches never run
 * on one data directory. It names its holder (the pid), for the one line a refused second branch prints.
 */
final class DataDirLock implements AutoCloseable {
    private final FileChannel channel;
    private final FileLock lock;

    private DataDirLock(FileChannel channel, FileLock lock) {
        this.channel = channel;
        this.lock = lock;
    }

    /** Takes the lock, or fails with one sentence naming the branch that holds it. */
    static DataDirLock take(Path dataDir) throws IOException {
        Path file = dataDir.resolve("branch.lock");
        FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
        FileLock lock = channel.tryLock();
        if (lock == null) {
            channel.close();
            String holder = Files.readString(file, StandardCharsets.US_ASCII).trim();
            throw new IOException("data directory " + dataDir + " is in use by another branch (pid "
                    + (holder.isEmpty() ? "unknown" : holder) + "): stop that branch or give this one another -D");
        }
        channel.truncate(0);
        channel.write(ByteBuffer.wrap((ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII)), 0);
        channel.force(false);
        return new DataDirLock(channel, lock);
    }

    @Override
    public void close() {
        try {
            lock.release();
            channel.close();
        } catch (IOException e) {
            // exiting: the kernel lets go of the lock anyway
        }
    }
}
