package jcyme.api;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.List;
import java.util.Map;

/**
 * An app: what its instances run (class path, JVM options, environment) and their defaults.
 *
 * @param setupCmd            a shell command run in the instance directory before each start of a worker (null: none)
 * @param recycleAfterTasks   replace an instance's worker once it has processed this many tasks (null: never)
 * @param recycleAboveRssKib  replace an instance's worker once its resident memory passes this many KiB (null: never)
 * @param perBranch           how many instances of the app every live branch runs on its own, named {@code <app>-<branch>-<k>} (0: none)
 * @param configId            the id of the live configuration last pushed with {@code PUT /<app>/config} (null: none yet,
 *                            the instances hold {@code extra_config} as {@value #INITIAL_CONFIG_ID})
 * @param config              that configuration
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record App(
        String name,
        String broker,
        String arguments,
        @JsonProperty("extra_config") Map<String, Object> extraConfig,
        List<String> classpath,
        @JsonProperty("jvm_options") List<String> jvmOptions,
        Map<String, String> env,
        @JsonProperty("default_queues") List<String> defaultQueues,
        @JsonProperty("min_concurrency") int minConcurrency,
        @JsonProperty("max_concurrency") int maxConcurrency,
        @JsonProperty("setup_cmd") String setupCmd,
        @JsonProperty("recycle_after_tasks") Long recycleAfterTasks,
        @JsonProperty("recycle_above_rss_kib") Long recycleAboveRssKib,
        @JsonProperty("per_branch") int perBranch,
        @JsonProperty("config_id") String configId,
        Map<String, Object> config) {

    /** The id of an app's live configuration before one is pushed: its {@code extra_config}. */
    public static final String INITIAL_CONFIG_ID = "initial";

    public App {
        config = config == null ? Map.of() : java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(config));
        extraConfig = extraConfig == null ? Map.of() : Map.copyOf(extraConfig);
        classpath = classpath == null ? List.of() : List.copyOf(classpath);
        jvmOptions = jvmOptions == null ? List.of() : List.copyOf(jvmOptions);
        env = env == null ? Map.of() : Map.copyOf(env);
        defaultQueues = defaultQueues == null ? List.of() : List.copyOf(defaultQueues);
    }

    /** An app without a setup command. */
    public App(String name, String broker, String arguments, Map<String, Object> extraConfig, List<String> classpath,
               List<String> jvmOptions, Map<String, String> env, List<String> defaultQueues, int minConcurrency, int maxConcurrency) {
        this(name, broker, arguments, extraConfig, classpath, jvmOptions, env, defaultQueues, minConcurrency, maxConcurrency, null);
    }

    /** An app that is never recycled, has no instances on every branch and no pushed live configuration. */
    public App(String name, String broker, String arguments, Map<String, Object> extraConfig, List<String> classpath,
               List<String> jvmOptions, Map<String, String> env, List<String> defaultQueues, int minConcurrency, int maxConcurrency,
               String setupCmd) {
        this(name, broker, arguments, extraConfig, classpath, jvmOptions, env, defaultQueues, minConcurrency, maxConcurrency, setupCmd,
                null, null, 0, null, null);
    }

    /** The id of the configuration its instances should hold. */
    @com.fasterxml.jackson.annotation.JsonIgnore
    public String liveConfigId() {
        return configId == null ? INITIAL_CONFIG_ID : configId;
    }

    /** The configuration its instances should hold: the pushed one, else {@code extra_config}. */
    @com.fasterxml.jackson.annotation.JsonIgnore
    public Map<String, Object> liveConfig() {
        return configId == null ? extraConfig : config;
    }

    /** The same app holding another live configuration. */
    public App withConfig(String id, Map<String, Object> value) {
        return new App(name, broker, arguments, extraConfig, classpath, jvmOptions, env, defaultQueues, minConcurrency,
                maxConcurrency, setupCmd, recycleAfterTasks, recycleAboveRssKib, perBranch, id, value);
    }
}
