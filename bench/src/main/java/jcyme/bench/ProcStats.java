package jcyme.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What Linux and the JVM tell about a running process: resident memory and CPU time from
 * {@code /proc/<pid>}, and after a full GC (through {@code jcmd}) the live heap and the resident
 * memory outside it.
 */
final class ProcStats {
    /** How long one {@code jcmd} may take before the heap reading is given up. */
    static final long JCMD_TIMEOUT_SECONDS = 30;
    private static final Pattern GENERATION_USED = Pattern.compile("generation\\s+total \\d+K, used (\\d+)K");
    private static final Pattern ADDRESS = Pattern.compile("0x([0-9a-f]{8,16})");
    private static final Pattern MAPPING = Pattern.compile("([0-9a-f]+)-([0-9a-f]+) ");
    private static final long CLOCK_TICKS = clockTicks();

    private ProcStats() {}

    /** A reading of one process: RSS in bytes and CPU time (user + system) in nanoseconds; null when it is gone. */
    record Reading(long rssBytes, long cpuNanos) {}

    static Reading read(long pid) {
        if (pid <= 0) {
            return null;
        }
        try {
            long rss = -1;
            for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
                if (line.startsWith("VmRSS:")) {
                    rss = Long.parseLong(line.replaceAll("\\D+", "")) * 1024;
                }
            }
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            // fields after the command name in parentheses: state is field 3, utime 14, stime 15
            String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            if (fields[0].equals("Z") || rss < 0) {
                return null;
            }
            long ticks = Long.parseLong(fields[11]) + Long.parseLong(fields[12]);
            return new Reading(rss, ticks * TimeUnit.SECONDS.toNanos(1) / CLOCK_TICKS);
        } catch (IOException | RuntimeException gone) {
            return null;
        }
    }

    /**
     * A JVM's memory after a full GC: its live heap, and its resident memory outside the heap's
     * address range (metaspace, code, thread stacks, malloc'd and direct buffers) — the part of RSS
     * that is not just heap pages committed at start and touched later.
     */
    record Memory(long liveHeapBytes, long nonHeapRssBytes) {}

    /**
     * {@code GC.run} (a full collection), then {@code GC.heap_info}, in one {@code jcmd}: the sum of
     * the generations' "used", and the RSS of every mapping outside the heap range they span;
     * null when the process did not answer.
     */
    static Memory memoryAfterGc(long pid) {
        Path commands = null;
        try {
            commands = Files.createTempFile("jcyme-jcmd", ".txt");
            Files.writeString(commands, "GC.run\nGC.heap_info\n");
            Process jcmd = new ProcessBuilder("jcmd", Long.toString(pid), "-f", commands.toString())
                    .redirectErrorStream(true).start();
            String output = new String(jcmd.getInputStream().readAllBytes());
            if (!jcmd.waitFor(JCMD_TIMEOUT_SECONDS, TimeUnit.SECONDS) || jcmd.exitValue() != 0) {
                jcmd.destroyForcibly();
                return null;
            }
            long[] range = heapRange(output);
            long used = heapUsed(output);
            return used < 0 || range == null ? null : new Memory(used, rssOutside(pid, range[0], range[1]));
        } catch (IOException e) {
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        } finally {
            if (commands != null) {
                commands.toFile().delete();
            }
        }
    }

    /** The sum of "used" over the generations {@code GC.heap_info} lists (Serial and Parallel GC's form). */
    static long heapUsed(String heapInfo) {
        Matcher used = GENERATION_USED.matcher(heapInfo);
        long kib = -1;
        while (used.find()) {
            kib = Math.max(kib, 0) + Long.parseLong(used.group(1));
        }
        return kib < 0 ? -1 : kib * 1024;
    }

    /** The address range the generations' reservations span, [low, high). */
    static long[] heapRange(String heapInfo) {
        long low = Long.MAX_VALUE;
        long high = Long.MIN_VALUE;
        for (String line : heapInfo.split("\n")) {
            if (line.contains("generation")) {
                Matcher address = ADDRESS.matcher(line);
                while (address.find()) {
                    long value = Long.parseUnsignedLong(address.group(1), 16);
                    low = Math.min(low, value);
                    high = Math.max(high, value);
                }
            }
        }
        return low < high ? new long[] {low, high} : null;
    }

    /** RSS of the mappings of {@code pid} that are not inside [low, high), from /proc/pid/smaps. */
    static long rssOutside(long pid, long low, long high) throws IOException {
        long total = 0;
        boolean inside = false;
        for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "smaps"))) {
            Matcher mapping = MAPPING.matcher(line);
            if (mapping.lookingAt()) {
                long start = Long.parseUnsignedLong(mapping.group(1), 16);
                long end = Long.parseUnsignedLong(mapping.group(2), 16);
                inside = start >= low && end <= high;
            } else if (line.startsWith("Rss:") && !inside) {
                total += Long.parseLong(line.replaceAll("\\D+", "")) * 1024;
            }
        }
        return total;
    }

    private static long clockTicks() {
        try {
            Process getconf = new ProcessBuilder("getconf", "CLK_TCK").start();
            String out = new String(getconf.getInputStream().readAllBytes()).trim();
            getconf.waitFor(5, TimeUnit.SECONDS);
            return Long.parseLong(out);
        } catch (IOException | RuntimeException e) {
            return 100;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 100;
        }
    }
}
