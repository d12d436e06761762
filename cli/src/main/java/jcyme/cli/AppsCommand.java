package jcyme.cli;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code cyme apps ...} */
@Command(name = "apps", aliases = "app", mixinStandardHelpOptions = true, description = "List, add, show and delete apps.")
final class AppsCommand implements Runnable {
    @Spec CommandSpec spec;
    @Mixin ClientOptions options;

    @Override
    public void run() {
        list();
    }

    @Command(name = "list", description = "App names, cluster-wide.")
    void list() {
        options.print(spec.commandLine().getOut(), options.client().apps());
    }

    @Command(name = "add", description = "Create an app, or update the fields given.")
    void add(@Parameters(paramLabel = "APP") String name,
             @Option(names = "--broker", paramLabel = "URL") String broker,
             @Option(names = "--classpath", paramLabel = "JAR", split = ",") List<String> classpath,
             @Option(names = "--jvm-option", paramLabel = "OPT") List<String> jvmOptions,
             @Option(names = {"-Q", "--queues"}, paramLabel = "Q", split = ",") List<String> queues,
             @Option(names = "--min", paramLabel = "N") Integer min,
             @Option(names = "--max", paramLabel = "N") Integer max,
             @Option(names = "--setup-cmd", paramLabel = "CMD") String setupCmd,
             @Option(names = "--per-branch", paramLabel = "N", description = "Run N instances on every branch.") Integer perBranch,
             @Option(names = "--arguments", paramLabel = "OPTS", description = "Extra worker options, e.g. '--prefetch-multiplier 1'.") String arguments,
             @Option(names = "--extra-config", paramLabel = "JSON", description = "The initial live configuration, a JSON object.") String extraConfig) {
        Map<String, Object> fields = new LinkedHashMap<>();
        if (broker != null) fields.put("broker", broker);
        if (classpath != null) fields.put("classpath", classpath);
        if (jvmOptions != null) fields.put("jvm_options", jvmOptions);
        if (queues != null) fields.put("default_queues", queues);
        if (min != null) fields.put("min_concurrency", min);
        if (max != null) fields.put("max_concurrency", max);
        if (setupCmd != null) fields.put("setup_cmd", setupCmd);
        if (perBranch != null) fields.put("per_branch", perBranch);
        if (arguments != null) fields.put("arguments", arguments);
        if (extraConfig != null) fields.put("extra_config", jsonObject("--extra-config", extraConfig));
        options.print(spec.commandLine().getOut(), options.client().putApp(name, fields));
    }

    @Command(name = "config", description = "Show the app's live configuration and the id each instance holds; with ID and JSON, push a new one.")
    void config(@Parameters(paramLabel = "APP") String name,
                @Parameters(paramLabel = "ID", arity = "0..1") String configId,
                @Parameters(paramLabel = "JSON", arity = "0..1") String config) {
        if (configId == null) {
            options.print(spec.commandLine().getOut(), options.client().config(name));
            return;
        }
        options.print(spec.commandLine().getOut(),
                options.client().putConfig(name, configId, config == null ? Map.of() : jsonObject("JSON", config)));
    }

    private Map<String, Object> jsonObject(String what, String text) {
        try {
            return jcyme.tasks.Json.MAPPER.readValue(text, new com.fasterxml.jackson.core.type.TypeReference<Map<String, Object>>() {});
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalArgumentException(what + " must be a JSON object, got: " + text);
        }
    }

    @Command(name = "show", description = "An app's definition.")
    void show(@Parameters(paramLabel = "APP") String name) {
        options.print(spec.commandLine().getOut(), options.client().app(name));
    }

    @Command(name = "delete", description = "Delete an app and stop and remove all its instances.")
    void delete(@Parameters(paramLabel = "APP") String name) {
        options.client().deleteApp(name);
        options.print(spec.commandLine().getOut(), Map.of("ok", "deleted " + name));
    }
}
