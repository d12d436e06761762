package jcyme.branch;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.IntFunction;
import jcyme.api.App;
import jcyme.tasks.Json;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Changes of an app are each one store step: clients writing different fields at once lose none of them. */
class AppWritesTest {
    private static final int CLIENTS_PER_FIELD = 2;
    private static final int PUTS_PER_CLIENT = 25;

    @TempDir
    Path tmp;

    @Test
    void concurrentPutsOfDifferentFieldsLoseNothing() throws Exception {
        Path jar = Files.createFile(tmp.resolve("tasks.jar"));
        Map<String, IntFunction<Object>> fields = new java.util.LinkedHashMap<>();
        fields.put("arguments", k -> "--prefetch-multiplier " + k);
        fields.put("extra_config", k -> Map.of("k", k));
        fields.put("classpath", k -> k % 2 == 0 ? List.of(jar.toString()) : List.of(jar.toString(), tmp.toString()));
        fields.put("jvm_options", k -> List.of("-Dk=" + k));
        fields.put("env", k -> Map.of("K", Integer.toString(k)));
        fields.put("default_queues", k -> List.of("q" + k));
        fields.put("setup_cmd", k -> "true " + k);
        fields.put("recycle_after_tasks", k -> 1000L + k);
        fields.put("recycle_above_rss_kib", k -> 100_000L + k);
        fields.put("broker", k -> "amqp://guest:guest@127.0.0.1:1/v" + k);
        try (Branch branch = LocalBranches.start(tmp)) {
            branch.apps().put("pycon", Map.of());
            // each field has two writers taking turns with their own values; a third kind of writer pushes live configs
            List<Callable<Object>> clients = new ArrayList<>();
            fields.forEach((field, value) -> {
                for (int c = 0; c < CLIENTS_PER_FIELD; c++) {
                    int client = c;
                    clients.add(() -> {
                        for (int k = 0; k < PUTS_PER_CLIENT; k++) {
                            branch.apps().put("pycon", Map.of(field, value.apply(k * CLIENTS_PER_FIELD + client)));
                        }
                        return null;
                    });
                }
            });
            clients.add(() -> {
                for (int k = 0; k < PUTS_PER_CLIENT; k++) {
                    branch.apps().putConfig("pycon", "c" + k, Map.of("k", k));
                }
                return null;
            });
            ExecutorService pool = Executors.newFixedThreadPool(clients.size());
            try {
                for (Future<Object> done : pool.invokeAll(clients)) {
                    done.get();
                }
            } finally {
                pool.shutdownNow();
            }

            App app = branch.apps().stored("pycon");
            Map<?, ?> stored = Json.MAPPER.convertValue(app, Map.class);
            int last = (PUTS_PER_CLIENT - 1) * CLIENTS_PER_FIELD;
            fields.forEach((field, value) -> {
                Object lastOfFirst = Json.MAPPER.convertValue(Map.of(field, value.apply(last)), Map.class).get(field);
                Object lastOfSecond = Json.MAPPER.convertValue(Map.of(field, value.apply(last + 1)), Map.class).get(field);
                Object now = stored.get(field);
                if (!now.equals(lastOfFirst) && !now.equals(lastOfSecond)) {
                    throw new AssertionError(field + " is " + now + ", not the last value of one of its writers ("
                            + lastOfFirst + " or " + lastOfSecond + "): an update was lost");
                }
            });
            assertEquals("c" + (PUTS_PER_CLIENT - 1), app.configId(), "the last config push");
            assertEquals(Map.of("k", PUTS_PER_CLIENT - 1), app.config());
        }
    }
}
