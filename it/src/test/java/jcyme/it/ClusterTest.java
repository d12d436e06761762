package jcyme.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.ResourceLock;

/** Three real branch JVMs on loopback, joined over TCP with a shared secret, acting as one. */
@ResourceLock(TestBroker.RABBITMQ)
class ClusterTest {
    @TempDir
    Path tmp;

    final String cluster = "it-" + UUID.randomUUID().toString().substring(0, 8);
    final String app = "app-" + UUID.randomUUID().toString().substring(0, 8);
    final List<BranchProcess> branches = new ArrayList<>();

    @AfterEach
    void cleanUp() throws Exception {
        for (BranchProcess branch : branches) {
            branch.close();
        }
        BranchProcess.killAllWith("-Djcyme.instance=" + app);
    }

    /**
     * Branches named by {@code ids}, each listening for the cluster on its own port, all knowing
     * every port; all share one secret but those named in {@code strangers}.
     */
    List<BranchProcess> cluster(List<String> strangers, String... ids) throws IOException {
        List<Integer> ports = new ArrayList<>();
        for (String ignored : ids) {
            ports.add(clusterPort());
        }
        String peers = String.join(",", ports.stream().map(p -> "127.0.0.1:" + p).toList());
        List<BranchProcess> made = new ArrayList<>();
        for (int i = 0; i < ids.length; i++) {
            BranchProcess branch = new BranchProcess(tmp.resolve(ids[i]), "--id", ids[i], "--broker", TestBroker.rabbitmq().url(),
                    "--cluster", cluster, "--cluster-bind", "127.0.0.1:" + ports.get(i), "--peers", peers,
                    "--cluster-secret", strangers.contains(ids[i]) ? "not-the-secret" : "s3cret");
            branches.add(branch);
            made.add(branch);
        }
        return made;
    }

    /** A free port whose failure-detection neighbour (port + 100) is free too. */
    static int clusterPort() throws IOException {
        while (true) {
            int port = BranchProcess.freePort();
            if (port < 65_000) {
                try (ServerSocket probe = new ServerSocket(port + 100)) {
                    return port;
                } catch (IOException taken) {
                    // try another
                }
            }
        }
    }

    static void startAll(List<BranchProcess> branches) {
        CompletableFuture.allOf(branches.stream().map(b -> CompletableFuture.runAsync(() -> {
            try {
                b.start();
            } catch (IOException e) {
                throw new AssertionError(e);
            }
        })).toArray(CompletableFuture[]::new)).join();
    }

    static void awaitMembers(BranchProcess branch, String expected, Duration timeout) {
        String[] last = {""};
        Wait.until(timeout, "branches " + expected + " on " + branch.url(), () -> {
            last[0] = branch.call("GET", "/branches").text();
            return last[0].equals(expected);
        }, () -> "last: " + last[0]);
    }

    static String instanceMarker(String app, String name) {
        return "-Djcyme.instance=" + app + "/" + name + " ";
    }

    @Test
    void threeBranchesActAsOne() throws Exception {
        List<BranchProcess> abc = cluster(List.of(), "a", "b", "c");
        BranchProcess a = abc.get(0), b = abc.get(1), c = abc.get(2);
        startAll(abc);
        for (BranchProcess branch : abc) {
            awaitMembers(branch, "[\"a\",\"b\",\"c\"]", Duration.ofSeconds(20));
        }
        assertEquals("c", b.json("GET", "/branches/c").path("id").asText());
        assertEquals(c.url(), a.json("GET", "/branches/c").path("url").asText());

        // an app created on A is served by B and C
        assertEquals(201, a.call("PUT", "/" + app + "?default_queues=q1").status());
        for (BranchProcess branch : List.of(b, c)) {
            Wait.until(Duration.ofSeconds(5), "app on " + branch.url(), () -> branch.call("GET", "/" + app).status() == 200);
            assertTrue(branch.json("GET", "/").toString().contains(app));
        }

        // an instance created via B on C is listed by A and controlled through A
        BranchProcess.Reply created = b.call("POST", "/" + app + "/instances/w1?branch=c&min=1&max=2");
        assertEquals(201, created.status(), created.text());
        assertEquals("c", created.json().path("branch").asText());
        assertTrue(Files.isDirectory(tmp.resolve("c").resolve("w1")));
        long pid = c.awaitState(app, "w1", "RUNNING").path("pid").asLong();
        assertEquals(pid, a.awaitState(app, "w1", "RUNNING").path("pid").asLong());
        for (BranchProcess branch : abc) {
            assertEquals("[\"w1\"]", branch.call("GET", "/" + app + "/instances").text());
        }
        BranchProcess.Reply table = BranchProcess.cyme("-u", a.url(), "instances", "list", app);
        assertTrue(table.text().matches("(?s).*\\nw1\\s+c\\s+RUNNING\\s+" + pid + "\\s.*"), table.text());
        BranchProcess.Reply listed = BranchProcess.cyme("-u", a.url(), "branches");
        assertTrue(listed.text().matches("(?s)ID\\s+URL.*\\na\\s.*\\nb\\s.*\\nc\\s+" + c.url() + "\\s.*1 RUNNING.*"), listed.text());
        BranchProcess.Reply nowhere = BranchProcess.cyme("-u", a.url(), "instances", "add", app, "w9", "--branch", "nope");
        assertEquals(1, nowhere.status(), nowhere.text());
        assertTrue(nowhere.text().contains("no live branch 'nope'"), nowhere.text());
        BranchProcess.Reply taken = a.call("POST", "/" + app + "/instances/w1");
        assertEquals(409, taken.status(), taken.text());
        assertTrue(taken.json().path("error").asText().contains("'c'"), taken.text());

        JsonNode scaled = a.json("PUT", "/" + app + "/instances/w1/autoscale?min=2&max=3");
        assertEquals(2, scaled.path("current").asInt());
        assertEquals(3, a.json("GET", "/" + app + "/instances/w1/stats").at("/autoscaler/max").asInt());
        assertEquals(3, c.json("GET", "/" + app + "/instances/w1/autoscale").path("max").asInt());
        assertEquals(201, a.call("PUT", "/" + app + "/queues/q2").status());
        assertEquals(201, a.call("PUT", "/" + app + "/instances/w1/queues/q2").status());
        assertTrue(a.json("GET", "/" + app + "/instances/w1/queues").has("q2"));
        String id = a.call("POST", "/" + app + "/tasks/tasks.add", "{\"args\": [2, 3], \"queue\": \"q2\"}").json().path("id").asText();
        assertEquals(5, a.json("GET", "/" + app + "/query/" + id + "/wait?timeout=30").path("result").asInt());
        assertTrue(a.call("GET", "/" + app + "/instances/w1/log").text().contains("ready"));
        assertEquals(200, b.call("DELETE", "/" + app + "/queues/q2").status(), "deleted on B, consumed on C");
        Wait.until(Duration.ofSeconds(10), "w1 to stop consuming q2",
                () -> !a.json("GET", "/" + app + "/instances/w1/queues").has("q2"));

        // a second app with an instance on C, to be deleted while C is down
        String doomed = app + "-doomed";
        assertEquals(201, b.call("PUT", "/" + doomed).status());
        Wait.until(Duration.ofSeconds(5), "app on C", () -> c.call("GET", "/" + doomed).status() == 200);
        // A need not know it yet: the request goes where the instance will live
        assertEquals(201, a.call("POST", "/" + doomed + "/instances/d1?branch=c").status());
        c.awaitState(doomed, "d1", "RUNNING");
        assertEquals(List.of(pid), BranchProcess.processesWith(instanceMarker(app, "w1")));

        // SIGKILL of C: dropped from every list, its instances answer 503 naming it
        c.kill9();
        awaitMembers(a, "[\"a\",\"b\"]", Duration.ofSeconds(5));
        awaitMembers(b, "[\"a\",\"b\"]", Duration.ofSeconds(5));
        BranchProcess.Reply down = a.call("GET", "/" + app + "/instances/w1");
        assertEquals(503, down.status(), down.text());
        assertTrue(down.json().path("error").asText().contains("'c'"), down.text());
        assertEquals(503, a.call("PUT", "/" + app + "/instances/w1/autoscale?max=4").status());
        assertEquals("[\"w1\"]", a.call("GET", "/" + app + "/instances").text());
        assertEquals(1, BranchProcess.processesWith(instanceMarker(app, "w1")).size(), "instances outlive their branch");

        // forgetting C drops its instances from every listing; its return brings them back
        assertEquals(409, b.call("DELETE", "/branches/a").status());
        assertEquals(200, b.call("DELETE", "/branches/c").status());
        Wait.until(Duration.ofSeconds(5), "A to forget C's instances", () -> a.call("GET", "/" + app + "/instances").text().equals("[]"));
        assertEquals(404, a.call("GET", "/" + app + "/instances/w1").status());

        // while C is down: an app is created, another deleted
        String later = app + "-later";
        assertEquals(201, a.call("PUT", "/" + later).status());
        assertEquals(200, b.call("DELETE", "/" + doomed).status());

        // C restarted: rejoins, re-adopts its instances, learns what happened while it was down
        c.start();
        for (BranchProcess branch : abc) {
            awaitMembers(branch, "[\"a\",\"b\",\"c\"]", Duration.ofSeconds(20));
        }
        Wait.until(Duration.ofSeconds(5), "C to learn the new app", () -> c.call("GET", "/" + later).status() == 200);
        Wait.until(Duration.ofSeconds(5), "A to list C's instance again",
                () -> a.call("GET", "/" + app + "/instances").text().equals("[\"w1\"]"));
        Wait.until(Duration.ofSeconds(10), "C to delete the app deleted while it was down",
                () -> c.call("GET", "/" + doomed).status() == 404
                        && BranchProcess.processesWith(instanceMarker(doomed, "d1")).isEmpty()
                        && !Files.exists(tmp.resolve("c").resolve("d1")));
        assertEquals(pid, a.awaitState(app, "w1", "RUNNING").path("pid").asLong(), "re-adopted, not restarted");
        assertEquals(List.of(pid), BranchProcess.processesWith(instanceMarker(app, "w1")));
        assertEquals(3, c.json("GET", "/" + app + "/instances/w1/autoscale").path("max").asInt());

        // deleted through A: gone from C, from every listing, and no process left
        assertEquals(200, a.call("DELETE", "/" + app + "/instances/w1").status());
        assertTrue(BranchProcess.processesWith(instanceMarker(app, "w1")).isEmpty());
        assertFalse(Files.exists(tmp.resolve("c").resolve("w1")));
        for (BranchProcess branch : abc) {
            Wait.until(Duration.ofSeconds(5), "w1 gone from " + branch.url(),
                    () -> branch.call("GET", "/" + app + "/instances").text().equals("[]"));
        }
    }

    @Test
    void aWrongSecretCannotJoin() throws Exception {
        List<BranchProcess> three = cluster(List.of("stranger"), "good", "stranger", "friend");
        BranchProcess good = three.get(0), stranger = three.get(1), friend = three.get(2);
        startAll(three);
        assertEquals(201, good.call("PUT", "/" + app).status());
        awaitMembers(friend, "[\"friend\",\"good\"]", Duration.ofSeconds(20));
        Wait.until(Duration.ofSeconds(5), "the app on the friend", () -> friend.call("GET", "/" + app).status() == 200);
        // the friend, started with the stranger, got in; the stranger keeps trying (merge rounds are 2-5 s)
        long until = System.nanoTime() + Duration.ofSeconds(8).toNanos();
        while (System.nanoTime() < until) {
            assertEquals("[\"friend\",\"good\"]", good.call("GET", "/branches").text());
            assertEquals("[\"stranger\"]", stranger.call("GET", "/branches").text());
            assertEquals(404, stranger.call("GET", "/" + app).status(), "the stranger read the gossip");
            Thread.sleep(250);
        }
    }
}
