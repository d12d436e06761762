package jcyme.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What Linux and the JVM tell about a running process: resident memory and CPU time from
 * {@code /proc/<pid>}, and the live heap (used after a full GC) through {@code jcmd}.
 */
final class ProcStats {
    /** How long one {@code jcmd} may take before the heap reading is given up. */
    static final long JCMD_TIMEOUT_SECONDS = 30;
    private static final Pattern GENERATION_USED = Pattern.compile("generation\\s+total \\d+K, used (\\d+)K");
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
     * The heap a JVM holds live: {@code GC.run} (a full collection), then {@code GC.heap_info}, in
     * one {@code jcmd}; the sum of its generations' "used". -1 when the process did not answer.
     */
    static long liveHeapBytes(long pid) {
        Path commands = null;
        try {
            commands = Files.createTempFile("jcyme-jcmd", ".txt");
            Files.writeString(commands, "GC.run\nGC.heap_info\n");
            Process jcmd = new ProcessBuilder("jcmd", Long.toString(pid), "-f", commands.toString())
                    .redirectErrorStream(true).start();
            String output = new String(jcmd.getInputStream().readAllBytes());
            if (!jcmd.waitFor(JCMD_TIMEOUT_SECONDS, TimeUnit.SECONDS) || jcmd.exitValue() != 0) {
                jcmd.destroyForcibly();
                return -1;
            }
            return heapUsed(output);
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        } finally {
            if (commands != null) {
                commands.toFile().delete();
            }
        }
    }

    /** The sum of "used" over the generations {@code GC.heap_info} lists (Serial and Parallel GC's form). */
    static long heapUsed(String heapInfo) {
        Matcher used = GENERATION_USED.matcher(heapInfo);
        List<Long> kib = new ArrayList<>();
        while (used.find()) {
            kib.add(Long.parseLong(used.group(1)));
        }
        return kib.isEmpty() ? -1 : kib.stream().mapToLong(Long::longValue).sum() * 1024;
    }

    /** This JVM's live heap after a full collection. */
    static long ownLiveHeapBytes() {
        System.gc();
        Runtime runtime = Runtime.getRuntime();
        return runtime.totalMemory() - runtime.freeMemory();
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
