package jcyme.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.ResourceAccessMode;
import org.junit.jupiter.api.parallel.ResourceLock;

/** {@code per_branch}: an app's instances on every live branch of a real cluster, with RabbitMQ; the fleet commands. */
@ResourceLock(value = TestBroker.RABBITMQ, mode = ResourceAccessMode.READ)
class PerBranchTest {
    @TempDir
    Path tmp;

    final String cluster = "it-" + UUID.randomUUID().toString().substring(0, 8);
    final String app = "pb" + UUID.randomUUID().toString().substring(0, 6);
    final List<BranchProcess> branches = new ArrayList<>();

    @AfterEach
    void cleanUp() throws Exception {
        for (BranchProcess branch : branches) {
            branch.close();
        }
        BranchProcess.killAllWith("-Djcyme.instance=" + app);
    }

    @Test
    void everyBranchRunsTheAppsInstancesAndFollowsItsChanges() throws Exception {
        List<Integer> ports = List.of(ClusterTest.clusterPort(), ClusterTest.clusterPort(), ClusterTest.clusterPort());
        String peers = String.join(",", ports.stream().map(p -> "127.0.0.1:" + p).toList());
        String[] ids = {"a", "b", "c"};
        for (int i = 0; i < ids.length; i++) {
            branches.add(new BranchProcess(tmp.resolve(ids[i]), "--id", ids[i], "--broker", TestBroker.rabbitmq().url(),
                    "--cluster", cluster, "--cluster-bind", "127.0.0.1:" + ports.get(i), "--peers", peers, "--cluster-secret", "s3cret"));
        }
        BranchProcess a = branches.get(0), b = branches.get(1), c = branches.get(2);
        ClusterTest.startAll(List.of(a, b));
        ClusterTest.awaitMembers(a, "[\"a\",\"b\"]", Duration.ofSeconds(20));

        // bad counts are refused and change nothing
        assertEquals(201, a.call("PUT", "/" + app + "?default_queues=q1").status());
        for (String bad : List.of("-1", "65", "two")) {
            BranchProcess.Reply refused = a.call("PUT", "/" + app + "?per_branch=" + bad);
            assertEquals(400, refused.status(), refused.text());
            assertTrue(refused.json().path("error").asText().contains("per_branch"), refused.text());
        }
        assertEquals(0, a.json("GET", "/" + app).path("per_branch").asInt());

        // per_branch=1 on two branches: one instance on each, named after the branch
        assertEquals(1, a.json("PUT", "/" + app + "?per_branch=1").path("per_branch").asInt());
        awaitInstances(a, List.of(name("a", 1), name("b", 1)));
        assertEquals("a", a.awaitState(app, name("a", 1), "RUNNING").path("branch").asText());
        assertEquals("b", a.awaitState(app, name("b", 1), "RUNNING").path("branch").asText());

        // a branch that joins later gets its own
        c.start();
        ClusterTest.awaitMembers(a, "[\"a\",\"b\",\"c\"]", Duration.ofSeconds(20));
        awaitInstances(a, List.of(name("a", 1), name("b", 1), name("c", 1)));
        assertEquals("c", c.awaitState(app, name("c", 1), "RUNNING").path("branch").asText());

        // changing the app's queues on one branch reaches the running instances on every branch
        b.json("PUT", "/" + app + "?default_queues=q2");
        for (String id : ids) {
            String instance = name(id, 1);
            String[] last = {""};
            Wait.until(Duration.ofSeconds(30), instance + " consuming q2 only", () -> {
                BranchProcess.Reply queues = a.call("GET", "/" + app + "/instances/" + instance + "/queues");
                last[0] = queues.text();
                return queues.status() == 200 && queues.json().has("q2") && !queues.json().has("q1");
            }, () -> "last: " + last[0]);
        }

        // changing how workers start (a JVM option) replaces the running ones on every branch
        String marker = "-Dpb.marker=" + app;
        a.json("PUT", "/" + app + "?jvm_options=" + marker.replace("=", "%3D"));
        Wait.until(Duration.ofSeconds(60), "three workers started with " + marker, () -> {
            for (String id : ids) {
                List<Long> workers = BranchProcess.processesWith(marker);
                workers.retainAll(BranchProcess.processesWith("-Djcyme.instance=" + app + "/"));   // not the spares made with it
                if (workers.size() != 3
                        || !a.call("GET", "/" + app + "/instances/" + name(id, 1)).text().contains("\"RUNNING\"")) {
                    return false;
                }
            }
            return true;
        });

        // per_branch=2: a second instance on each branch
        c.json("PUT", "/" + app + "?per_branch=2");
        awaitInstances(a, List.of(name("a", 1), name("a", 2), name("b", 1), name("b", 2), name("c", 1), name("c", 2)));
        Map<String, Long> pids = new HashMap<>();
        for (String id : ids) {
            for (int k = 1; k <= 2; k++) {
                JsonNode instance = a.awaitState(app, name(id, k), "RUNNING");
                assertEquals(List.of("q2"), List.of(instance.path("queues").get(0).asText()));
                pids.put(name(id, k), instance.path("pid").asLong());
            }
        }

        // restart-all: every instance replaced by a new worker, one at a time on each branch
        BranchProcess.Reply restarted = BranchProcess.cyme("-u", b.url(), "restart-all", app);
        assertEquals(0, restarted.status(), restarted.text());
        assertEquals(6, restarted.text().lines().filter(l -> l.startsWith("restarted " + app)).count(), restarted.text());
        for (var entry : pids.entrySet()) {
            JsonNode now = a.json("GET", "/" + app + "/instances/" + entry.getKey());
            assertEquals("RUNNING", now.path("state").asText(), now.toString());
            assertNotEquals(entry.getValue().longValue(), now.path("pid").asLong(), entry.getKey());
            assertTrue(BranchProcess.processesWith(ClusterTest.instanceMarker(app, entry.getKey())).size() == 1, entry.getKey());
        }

        // shutdown-all: none left running anywhere; start-all: all back
        BranchProcess.Reply shut = BranchProcess.cyme("-u", c.url(), "shutdown-all", app);
        assertEquals(0, shut.status(), shut.text());
        assertTrue(shut.text().contains("shut down 6 instance(s) of " + app), shut.text());
        Wait.until(Duration.ofSeconds(30), "no worker of " + app, () -> BranchProcess.processesWith("-Djcyme.instance=" + app + "/").isEmpty());
        for (String name : pids.keySet()) {
            JsonNode instance = a.json("GET", "/" + app + "/instances/" + name);
            assertEquals("STOPPED", instance.path("state").asText(), instance.toString());
            assertEquals(false, instance.path("is_enabled").asBoolean());
        }
        BranchProcess.Reply started = BranchProcess.cyme("-u", a.url(), "start-all", app);
        assertEquals(0, started.status(), started.text());
        for (String name : pids.keySet()) {
            a.awaitState(app, name, "RUNNING");
        }

        // per_branch back to 1: the second instances go
        a.json("PUT", "/" + app + "?per_branch=1");
        awaitInstances(a, List.of(name("a", 1), name("b", 1), name("c", 1)));
        Wait.until(Duration.ofSeconds(30), "second workers gone",
                () -> BranchProcess.processesWith(ClusterTest.instanceMarker(app, name("a", 2))).isEmpty()
                        && BranchProcess.processesWith(ClusterTest.instanceMarker(app, name("c", 2))).isEmpty());

        // branch stop -D: branch c exits and takes its instance along; the others run on
        BranchProcess.Reply stop = c.stopWithInstances();
        assertEquals(0, stop.status(), stop.text());
        assertTrue(stop.text().contains("stopped"), stop.text());
        assertTrue(BranchProcess.processesWith("-Djcyme.instance=" + app + "/" + name("c", 1)).isEmpty(), c.log());
        assertTrue(c.log().contains("stopping with its instances"), c.log());
        assertEquals(1, BranchProcess.processesWith(ClusterTest.instanceMarker(app, name("a", 1))).size());
        assertEquals(1, BranchProcess.processesWith(ClusterTest.instanceMarker(app, name("b", 1))).size());

        // nothing to stop now
        BranchProcess.Reply again = c.stopWithInstances();
        assertEquals(1, again.status(), again.text());
        assertTrue(again.text().startsWith("branch: no branch runs on"), again.text());

        // the app changes while c is down; c restarts, runs its instance again and catches up with the change
        a.json("PUT", "/" + app + "?per_branch=2");
        c.start();
        assertEquals("c", c.awaitState(app, name("c", 1), "RUNNING").path("branch").asText());
        assertEquals("c", c.awaitState(app, name("c", 2), "RUNNING").path("branch").asText());
        awaitInstances(b, List.of(name("a", 1), name("a", 2), name("b", 1), name("b", 2), name("c", 1), name("c", 2)));
    }

    private String name(String branch, int k) {
        return app + "-" + branch + "-" + k;
    }

    private void awaitInstances(BranchProcess branch, List<String> expected) {
        String[] last = {""};
        List<String> sorted = expected.stream().sorted().toList();
        Wait.until(Duration.ofSeconds(30), "instances " + sorted, () -> {
            BranchProcess.Reply reply = branch.call("GET", "/" + app + "/instances");
            last[0] = reply.text();
            if (reply.status() != 200) {
                return false;
            }
            List<String> names = new ArrayList<>();
            reply.json().forEach(n -> names.add(n.asText()));
            return names.stream().sorted().toList().equals(sorted);
        }, () -> "last: " + last[0] + "\n" + branch.log());
    }
}
