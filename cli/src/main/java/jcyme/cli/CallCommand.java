package jcyme.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeoutException;
import jcyme.tasks.AsyncResult;
import jcyme.tasks.BrokerUrl;
import jcyme.tasks.Json;
import jcyme.tasks.TaskFailedException;
import jcyme.tasks.TaskProducer;
import jcyme.tasks.TaskRequest;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code cyme call TASK [ARGS...]}: publish one task; with {@code --wait}, print its result. */
@Command(name = "call", mixinStandardHelpOptions = true,
        description = "Send one task. Each ARG is read as JSON when it parses (2, 2.5, \"x\", [1,2]), else as a string.")
final class CallCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "TASK", description = "Task name, e.g. tasks.add.")
    String task;

    @Parameters(index = "1..*", paramLabel = "ARG", description = "Positional arguments.")
    List<String> args = List.of();

    @Option(names = "--kwargs", paramLabel = "JSON", description = "Keyword arguments as a JSON object.")
    String kwargs;

    @Option(names = {"-b", "--broker"}, paramLabel = "URL",
            description = "Broker URL (default: $JCYME_BROKER or " + BrokerUrl.DEFAULT + ").")
    String broker = System.getenv().getOrDefault("JCYME_BROKER", BrokerUrl.DEFAULT);

    @Option(names = {"-Q", "--queue"}, paramLabel = "QUEUE", description = "Queue to send to (default: ${DEFAULT-VALUE}).")
    String queue = "celery";

    @Option(names = "--countdown", paramLabel = "SECONDS", description = "Run no sooner than this many seconds from now.")
    Double countdown;

    @Option(names = "--expires", paramLabel = "SECONDS", description = "Discard the task if not started within this many seconds.")
    Double expires;

    @Option(names = "--wait", description = "Wait for the result and print it (exit 1 if the task failed).")
    boolean waitForResult;

    @Option(names = "--timeout", paramLabel = "SECONDS", description = "How long --wait waits (default: ${DEFAULT-VALUE}).")
    double timeout = 30;

    @Override
    public Integer call() throws Exception {
        TaskRequest.Builder request = TaskRequest.of(task).args(arguments()).kwargs(keywordArguments()).queue(queue);
        if (countdown != null) {
            request.countdown(seconds(countdown));
        }
        if (expires != null) {
            request.expiresIn(seconds(expires));
        }
        try (TaskProducer producer = TaskProducer.connect(broker)) {
            AsyncResult result = producer.send(request.ignoreResult(!waitForResult).build());
            if (!waitForResult) {
                spec.commandLine().getOut().println(result.id());
                return 0;
            }
            try {
                JsonNode value = result.get(seconds(timeout));
                spec.commandLine().getOut().println(Json.string(value));
                return 0;
            } catch (TaskFailedException e) {
                spec.commandLine().getErr().println("cyme: task " + task + "[" + e.taskId() + "] " + e.state()
                        + ": " + e.error());
                return 1;
            } catch (TimeoutException e) {
                spec.commandLine().getErr().println("cyme: " + e.getMessage()
                        + " (is a worker consuming queue '" + queue + "'?)");
                return 1;
            }
        } catch (IOException e) {
            spec.commandLine().getErr().println("cyme: cannot send to broker " + BrokerUrl.parse(broker).display()
                    + ": " + rootMessage(e));
            return 1;
        }
    }

    private ArrayNode arguments() {
        ArrayNode array = Json.MAPPER.createArrayNode();
        for (String arg : args) {
            array.add(parseValue(arg));
        }
        return array;
    }

    private ObjectNode keywordArguments() {
        if (kwargs == null) {
            return Json.MAPPER.createObjectNode();
        }
        JsonNode node;
        try {
            node = Json.MAPPER.readTree(kwargs);
        } catch (IOException e) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--kwargs is not valid JSON: " + kwargs);
        }
        if (!(node instanceof ObjectNode object)) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--kwargs must be a JSON object, got " + kwargs);
        }
        return object;
    }

    static JsonNode parseValue(String arg) {
        try {
            JsonNode node = Json.MAPPER.readTree(arg);
            return node == null || node.isMissingNode() ? Json.MAPPER.getNodeFactory().textNode(arg) : node;
        } catch (IOException notJson) {
            return Json.MAPPER.getNodeFactory().textNode(arg);
        }
    }

    private static Duration seconds(double value) {
        return Duration.ofMillis(Math.round(value * 1000));
    }

    private static String rootMessage(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null) {
            root = root.getCause();
        }
        return root.getMessage() == null ? root.toString() : root.getMessage();
    }
}
