package jcyme.worker;

import com.sun.jna.LastErrorException;
import com.sun.jna.Library;
import com.sun.jna.Native;
import java.io.IOException;
import java.lang.reflect.Field;
import java.nio.file.FileSystems;
import java.nio.file.Path;

/**
 * Moves this process into another directory and log, as if it had been started there: the
 * working directory (the kernel's, where relative paths, crash reports and {@code hs_err_pid*.log}
 * go, and Java's {@code user.dir}, against which {@code File} and {@code Path} make paths absolute),
 * and file descriptors 1 and 2 (where the JVM itself writes a {@code kill -3} thread dump, and
 * {@code System.out}/{@code System.err} and any native library write). A spare worker does this
 * when claimed, so that nothing tells it from a worker started cold in the instance's directory.
 *
 * <p>Java cannot change either by itself: the working directory and descriptors are set with libc
 * through JNA, and the two places the JDK keeps {@code user.dir} from its start are set by
 * reflection, for which the spare's command line opens {@code java.io} and {@code sun.nio.fs}.
 */
final class ProcessHome {
    private static final int O_WRONLY = 01;
    private static final int O_CREAT = 0100;
    private static final int O_APPEND = 02000;
    private static final int CREATE_MODE = 0666;

    private ProcessHome() {}

    /** The libc calls a move needs. */
    private interface LibC extends Library {
        int chdir(String path) throws LastErrorException;

        int open(String path, int flags, int mode) throws LastErrorException;

        int dup2(int from, int to) throws LastErrorException;

        int close(int fd) throws LastErrorException;
    }

    private static LibC libc;

    /** Loads libc through JNA (extracting JNA's native part on first use), so that a later {@link #move} runs on loaded code. */
    static synchronized void load() {
        if (libc == null) {
            libc = Native.load("c", LibC.class);
        }
    }

    /**
     * Makes {@code dir} the working directory and appends file descriptors 1 and 2 to {@code log}
     * (created as a shell's {@code >>} would). What Java had buffered for them is flushed to where they went before.
     */
    static void move(Path dir, Path log) throws IOException {
        load();
        System.out.flush();
        System.err.flush();
        try {
            int fd = libc.open(log.toString(), O_WRONLY | O_CREAT | O_APPEND, CREATE_MODE);
            try {
                libc.dup2(fd, 1);
                libc.dup2(fd, 2);
            } finally {
                libc.close(fd);
            }
            libc.chdir(dir.toString());
        } catch (LastErrorException e) {
            throw new IOException("cannot move into " + dir + " and " + log + ": errno " + e.getErrorCode(), e);
        }
        followWorkingDirectory(dir.toAbsolutePath().normalize());
    }

    /** Points Java's {@code user.dir}, and the two copies {@code java.io} and {@code java.nio} took of it at start, at {@code dir}. */
    private static void followWorkingDirectory(Path dir) throws IOException {
        String path = dir.toString();
        try {
            Field ioFileSystem = java.io.File.class.getDeclaredField("fs");
            ioFileSystem.setAccessible(true);
            Object io = ioFileSystem.get(null);
            Field userDir = io.getClass().getDeclaredField("userDir");
            userDir.setAccessible(true);
            userDir.set(io, path);
            Object nio = FileSystems.getDefault();
            Field defaultDirectory = Class.forName("sun.nio.fs.UnixFileSystem").getDeclaredField("defaultDirectory");
            defaultDirectory.setAccessible(true);
            defaultDirectory.set(nio, path.getBytes(System.getProperty("sun.jnu.encoding", "UTF-8")));
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new IOException("the working directory moved to " + dir + ", but Java's user.dir could not follow: " + e, e);
        }
        System.setProperty("user.dir", path);
    }
}
