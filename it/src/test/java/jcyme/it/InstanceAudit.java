package jcyme.it;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Stream;
import jcyme.supervisor.Supervisor;

/**
 * Checks what a branch says against what the machine has: worker processes found by scanning
 * /proc for the instance marker, and instance directories found by listing the data directory.
 * The API is only asked for the records (names, enabled, state, pid); everything else is observed.
 */
final class InstanceAudit {
    /** Entries of a branch's data directory that are the branch's own (Branch.OWN_ENTRIES). */
    static final Set<String> OWN_ENTRIES = Set.of("broker", ".spares", "branch.db", "branch.db-wal", "branch.db-shm", "branch.lock");
    /** States that say the branch is still moving an instance somewhere. */
    static final Set<String> TRANSIENT = Set.of("STARTING", "STOPPING", "BACKOFF", "EXITED");

    private InstanceAudit() {}

    /** One instance record as the API reports it. */
    record Rec(String name, boolean enabled, String state, Long pid) {
        @Override
        public String toString() {
            return name + "{" + (enabled ? "enabled" : "disabled") + " " + state + " pid " + pid + "}";
        }
    }

    /** Live, non-zombie worker processes of {@code app}, by instance name (from /proc/<pid>/cmdline). */
    static Map<String, List<Long>> workerProcesses(String app) {
        String prefix = "-Djcyme.instance=" + app + "/";
        Map<String, List<Long>> found = new TreeMap<>();
        ProcessHandle.allProcesses().forEach(p -> {
            try {
                byte[] raw = Files.readAllBytes(Path.of("/proc", Long.toString(p.pid()), "cmdline"));
                String stat = Files.readString(Path.of("/proc", Long.toString(p.pid()), "stat"));
                if (stat.charAt(stat.lastIndexOf(')') + 2) == 'Z') {
                    return;
                }
                for (String arg : new String(raw).split("\0")) {
                    if (arg.startsWith(prefix)) {
                        found.computeIfAbsent(arg.substring(prefix.length()), k -> new ArrayList<>()).add(p.pid());
                        break;
                    }
                }
            } catch (IOException | RuntimeException e) {
                // gone meanwhile
            }
        });
        return found;
    }

    /** Directory entries under the data dir that are not the branch's own. */
    static Set<String> instanceDirectories(Path dataDir) {
        Set<String> dirs = new TreeSet<>();
        try (Stream<Path> entries = Files.list(dataDir)) {
            entries.filter(Files::isDirectory).map(p -> p.getFileName().toString())
                    .filter(n -> !OWN_ENTRIES.contains(n)).forEach(dirs::add);
        } catch (IOException e) {
            throw new AssertionError("cannot list " + dataDir + ": " + e);
        }
        return dirs;
    }

    /** The app's instance records, or null when the branch did not answer consistently (a record vanished meanwhile). */
    static Map<String, Rec> records(BranchProcess branch, String app) {
        BranchProcess.Reply list = branch.call("GET", "/" + app + "/instances");
        if (list.status() != 200) {
            throw new AssertionError("GET /" + app + "/instances -> " + list.status() + " " + list.text());
        }
        Map<String, Rec> records = new TreeMap<>();
        for (JsonNode name : list.json()) {
            BranchProcess.Reply one = branch.call("GET", "/" + app + "/instances/" + name.asText());
            if (one.status() == 404) {
                return null;
            }
            if (one.status() != 200) {
                throw new AssertionError("GET instance " + name.asText() + " -> " + one.status() + " " + one.text());
            }
            JsonNode json = one.json();
            records.put(name.asText(), new Rec(name.asText(), json.path("is_enabled").asBoolean(),
                    json.path("state").asText(), json.path("pid").isNumber() ? json.path("pid").asLong() : null));
        }
        return records;
    }

    /** Waits until no record of the app is in a transient state; returns the records. */
    static Map<String, Rec> awaitQuiet(BranchProcess branch, String app, Duration timeout) {
        List<Map<String, Rec>> last = new ArrayList<>(List.of(Map.of()));
        Wait.until(timeout, "every instance of " + app + " to settle (no " + TRANSIENT + ")", () -> {
            Map<String, Rec> records = records(branch, app);
            if (records == null) {
                return false;
            }
            last.set(0, records);
            return records.values().stream().noneMatch(r -> TRANSIENT.contains(r.state()));
        }, () -> "last: " + last.get(0).values());
        return last.get(0);
    }

    /**
     * What is wrong, one sentence per problem: processes vs enabled records, the pid the API
     * reports, states, and directories without a record. Empty when the branch is consistent.
     */
    static List<String> violations(BranchProcess branch, String app, Map<String, Rec> records) {
        List<String> problems = new ArrayList<>();
        Map<String, List<Long>> processes = workerProcesses(app);
        for (Rec rec : records.values()) {
            List<Long> pids = processes.getOrDefault(rec.name(), List.of());
            if (rec.enabled()) {
                if (!rec.state().equals("RUNNING")) {
                    problems.add("enabled instance " + rec.name() + " is " + rec.state() + " (processes " + pids + ")");
                } else if (pids.size() != 1) {
                    problems.add("RUNNING instance " + rec.name() + " has " + pids.size() + " worker processes " + pids
                            + " (API pid " + rec.pid() + ")");
                } else if (!pids.get(0).equals(rec.pid())) {
                    problems.add("RUNNING instance " + rec.name() + ": API pid " + rec.pid() + " but the live worker is " + pids);
                }
            } else {
                if (!pids.isEmpty()) {
                    problems.add("disabled instance " + rec.name() + " (" + rec.state() + ") still has worker processes " + pids);
                }
                if (TRANSIENT.contains(rec.state()) || rec.state().equals("RUNNING")) {
                    problems.add("disabled instance " + rec.name() + " is " + rec.state());
                }
            }
        }
        for (Map.Entry<String, List<Long>> live : processes.entrySet()) {
            if (!records.containsKey(live.getKey())) {
                problems.add("orphan worker process(es) " + live.getValue() + " for instance " + live.getKey()
                        + " which has no record");
            }
        }
        for (String dir : instanceDirectories(branch.dataDir)) {
            if (!records.containsKey(dir)) {
                problems.add("directory " + dir + "/ without a record (contains " + list(branch.dataDir.resolve(dir)) + ")");
            }
        }
        return problems;
    }

    /**
     * Waits for quiet, then checks the invariant; a violation gets {@code grace} to clear (a
     * process that is exiting), then fails with everything found.
     */
    static Map<String, Rec> assertConsistent(BranchProcess branch, String app, Duration quiet, Duration grace, String when) {
        Map<String, Rec> records = awaitQuiet(branch, app, quiet);
        List<List<String>> last = new ArrayList<>(List.of(List.of()));
        List<Map<String, Rec>> lastRecords = new ArrayList<>(List.of(records));
        try {
            Wait.until(grace, "the branch to be consistent " + when, () -> {
                Map<String, Rec> now = records(branch, app);
                if (now == null) {
                    return false;
                }
                lastRecords.set(0, now);
                last.set(0, violations(branch, app, now));
                return last.get(0).isEmpty();
            });
        } catch (AssertionError timeout) {
            throw new AssertionError("inconsistent " + when + ":\n  - " + String.join("\n  - ", last.get(0))
                    + "\n  records: " + lastRecords.get(0).values() + "\n  processes: " + workerProcesses(app)
                    + "\n  directories: " + instanceDirectories(branch.dataDir));
        }
        return lastRecords.get(0);
    }

    /** After a test: stops its branch, kills what its app and embedded broker left running, keeps the branch logs. */
    static void cleanUp(BranchProcess branch, String app, Path tmp, String test) throws Exception {
        if (branch != null) {
            branch.close();
        }
        BranchProcess.killAllWith("-Djcyme.instance=" + app + "/");
        BranchProcess.killAllWith("-Djcyme.broker=" + tmp);
        saveBranchLogs(tmp, test);
    }

    /** Copies the branch JVM's output files ({@code *-branch-N.out} under {@code tmp}) to target/it-logs/{@code test}/. */
    static void saveBranchLogs(Path tmp, String test) {
        Path to = Path.of("target", "it-logs", test);
        Supervisor.deleteTree(to);
        try (Stream<Path> files = Files.list(tmp)) {
            Files.createDirectories(to);
            for (Path out : files.filter(f -> f.getFileName().toString().matches(".*-branch-\\d+\\.out")).toList()) {
                Files.copy(out, to.resolve(out.getFileName()), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            System.out.println("could not keep the branch logs: " + e);
        }
    }

    private static String list(Path dir) {
        try (Stream<Path> entries = Files.list(dir)) {
            List<String> names = new ArrayList<>();
            for (Iterator<Path> it = entries.iterator(); it.hasNext(); ) {
                names.add(it.next().getFileName().toString());
            }
            return names.toString();
        } catch (IOException e) {
            return "?";
        }
    }
}
