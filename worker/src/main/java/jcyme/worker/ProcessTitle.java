package jcyme.worker;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Rewrites one word of this process's command line in place, as {@code setproctitle} does: the
 * bytes of {@code argv} are this process's own memory, and {@code /proc/<pid>/cmdline} (what
 * {@code ps} and the supervisor read) shows them as they are now. A spare worker started with a
 * placeholder word becomes, for every observer, the instance it was claimed for. The new text must
 * fit in the placeholder; what is left of it is filled with NUL, so it reads as empty words.
 */
final class ProcessTitle {
    private ProcessTitle() {}

    /** Replaces the command-line word that starts with {@code prefix} by {@code words} (joined by NUL). */
    static void replace(String prefix, String... words) throws IOException {
        byte[] cmdline = Files.readAllBytes(Path.of("/proc/self/cmdline"));
        String text = new String(cmdline, StandardCharsets.ISO_8859_1);
        int at = ("\0" + text).indexOf("\0" + prefix);
        if (at < 0) {
            throw new IOException("no word starting with " + prefix + " on the command line");
        }
        int end = text.indexOf('\0', at);
        byte[] replacement = new byte[(end < 0 ? text.length() : end) - at];
        byte[] wanted = String.join("\0", words).getBytes(StandardCharsets.ISO_8859_1);
        if (wanted.length > replacement.length) {
            throw new IOException("'" + String.join(" ", words) + "' is longer than the " + replacement.length
                    + " bytes of its placeholder");
        }
        System.arraycopy(wanted, 0, replacement, 0, wanted.length);
        try (RandomAccessFile memory = new RandomAccessFile("/proc/self/mem", "rw")) {
            memory.seek(argStart() + at);
            memory.write(replacement);
        }
    }

    /** The command-line word that starts with {@code prefix}. */
    static String word(String prefix) throws IOException {
        String text = new String(Files.readAllBytes(Path.of("/proc/self/cmdline")), StandardCharsets.ISO_8859_1);
        int at = ("\0" + text).indexOf("\0" + prefix);
        if (at < 0) {
            throw new IOException("no word starting with " + prefix + " on the command line");
        }
        int end = text.indexOf('\0', at);
        return text.substring(at, end < 0 ? text.length() : end);
    }

    /** Where {@code argv} begins in this process's memory (field 48 of {@code /proc/self/stat}). */
    private static long argStart() throws IOException {
        String stat = Files.readString(Path.of("/proc/self/stat"));
        String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return Long.parseLong(fields[48 - 3]);
    }
}
