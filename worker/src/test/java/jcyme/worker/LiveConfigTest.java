package jcyme.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import jcyme.tasks.ConfigAware;
import jcyme.tasks.Json;
import jcyme.tasks.Task;
import jcyme.tasks.TaskCall;
import org.junit.jupiter.api.Test;

class LiveConfigTest {

    /** A task that cannot take a configuration without a {@code model}. */
    private static final class NeedsModel implements Task, ConfigAware {
        final List<String> calls = new CopyOnWriteArrayList<>();

        @Override
        public String name() {
            return "test.model";
        }

        @Override
        public Object run(TaskCall call) {
            return null;
        }

        @Override
        public void birth(String configId, JsonNode config) {
            calls.add("birth(" + configId + ")");
            if (!config.has("model")) {
                throw new IllegalArgumentException("no model in " + configId);
            }
        }

        @Override
        public void death() {
            calls.add("death");
        }
    }

    @Test
    void aConfigurationItsTasksCannotTakeIsNotReportedApplied() {
        NeedsModel task = new NeedsModel();
        LiveConfig live = new LiveConfig(Map.of(task.name(), task), LiveConfig.parse(Json.parse("{\"config_id\":\"c1\",\"config\":{\"model\":\"a\"}}".getBytes())));
        live.start();
        live.submit(LiveConfig.parse(Json.parse("{\"config_id\":\"c2\",\"config\":{}}".getBytes())));
        live.stop(); // waits for the change to be done

        assertEquals("c1", live.current().id(), "c2 failed to be born: c1 stays the configuration in use");
        assertEquals(List.of("birth(c1)", "death", "birth(c2)", "death", "birth(c1)", "death"), task.calls,
                "the tasks are given c1 back");
    }
}
