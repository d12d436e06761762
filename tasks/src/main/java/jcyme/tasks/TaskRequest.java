package jcyme.tasks;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.Map;
import java.util.UUID;

/**
 * What to send: a task name, its arguments and delivery options. Build with
 * {@code TaskRequest.of("tasks.add").args(2, 3).queue("q1").build()}.
 */
public record TaskRequest(
        String id,
        String task,
        ArrayNode args,
        ObjectNode kwargs,
        CeleryQueue queue,
        Instant eta,
        Instant expires,
        Duration hardLimit,
        Duration softLimit,
        boolean ignoreResult) {

    public static Builder of(String task) {
        return new Builder(task);
    }

    public static final class Builder {
        private final String task;
        private String id = UUID.randomUUID().toString();
        private ArrayNode args = Json.MAPPER.createArrayNode();
        private ObjectNode kwargs = Json.MAPPER.createObjectNode();
        private CeleryQueue queue = CeleryQueue.named("celery");
        private Instant eta;
        private Instant expires;
        private Duration hardLimit;
        private Duration softLimit;
        private boolean ignoreResult;

        private Builder(String task) {
            if (task == null || task.isBlank()) {
                throw new IllegalArgumentException("task name must not be empty");
            }
            this.task = task;
        }

        public Builder id(String id) { this.id = id; return this; }

        public Builder args(Object... values) {
            this.args = (ArrayNode) Json.tree(Arrays.asList(values));
            return this;
        }

        public Builder args(ArrayNode values) { this.args = values.deepCopy(); return this; }

        public Builder kwargs(Map<String, ?> values) {
            this.kwargs = (ObjectNode) Json.tree(values);
            return this;
        }

        public Builder kwargs(ObjectNode values) { this.kwargs = values.deepCopy(); return this; }

        /** Send to this queue (its exchange and routing key default to the queue name). */
        public Builder queue(String name) { this.queue = CeleryQueue.named(name); return this; }

        public Builder queue(CeleryQueue queue) { this.queue = queue; return this; }

        public Builder eta(Instant eta) { this.eta = eta; return this; }

        public Builder countdown(Duration countdown) { this.eta = Instant.now().plus(countdown); return this; }

        public Builder expires(Instant expires) { this.expires = expires; return this; }

        public Builder expiresIn(Duration ttl) { this.expires = Instant.now().plus(ttl); return this; }

        public Builder timeLimits(Duration hard, Duration soft) {
            this.hardLimit = hard;
            this.softLimit = soft;
            return this;
        }

        public Builder ignoreResult(boolean ignoreResult) { this.ignoreResult = ignoreResult; return this; }

        public TaskRequest build() {
            return new TaskRequest(id, task, args, kwargs, queue, eta, expires, hardLimit, softLimit, ignoreResult);
        }
    }

    TaskMessage toMessage(String replyTo, String origin) {
        return new TaskMessage(id, task, args, kwargs, TaskMessage.defaultEmbed(), 0, eta, expires, hardLimit,
                softLimit, id, null, null, origin, ignoreResult, ignoreResult ? null : replyTo, id);
    }
}
