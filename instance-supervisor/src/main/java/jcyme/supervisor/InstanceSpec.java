package jcyme.supervisor;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * What to run for one instance: the worker's options and the app's JVM settings.
 *
 * @param classpath   the app's task jars ({@code --classpath}); empty means the demo tasks
 * @param generation  which start of the instance this is: a restart asked for is a new generation
 * @param setupCmd    a shell command run in {@code dir} before each start of the worker (null or blank: none)
 * @param slot        which of the directory's two sets of process files the worker uses: 0 is {@code worker.pid},
 *                    {@code worker.lock}, {@code worker.sock}; 1 is {@code worker-1.*}. A recycle starts the replacement
 *                    in the other slot, so both run side by side for a moment (the statedb is the instance's, shared)
 * @param configId    the id of the app's live configuration the worker should hold (null: none, the worker's empty default)
 * @param config      that configuration, a JSON object
 */
public record InstanceSpec(
        String app,
        String name,
        Path dir,
        String broker,
        List<String> queues,
        int minConcurrency,
        int maxConcurrency,
        List<String> classpath,
        List<String> jvmOptions,
        Map<String, String> env,
        List<String> arguments,
        long generation,
        String setupCmd,
        int slot,
        String configId,
        Map<String, Object> config) {

    public InstanceSpec {
        config = config == null ? Map.of() : java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(config));
        queues = List.copyOf(queues);
        classpath = List.copyOf(classpath);
        jvmOptions = List.copyOf(jvmOptions);
        env = Map.copyOf(env);
        arguments = List.copyOf(arguments);
    }

    /** The two slots' file stems. */
    private static final String[] STEMS = {"worker", "worker-1"};

    /** The worker in slot 0, without a live configuration. */
    public InstanceSpec(String app, String name, Path dir, String broker, List<String> queues, int minConcurrency,
                        int maxConcurrency, List<String> classpath, List<String> jvmOptions, Map<String, String> env,
                        List<String> arguments, long generation, String setupCmd) {
        this(app, name, dir, broker, queues, minConcurrency, maxConcurrency, classpath, jvmOptions, env, arguments, generation,
                setupCmd, 0, null, null);
    }

    /** The worker in a slot, without a live configuration. */
    public InstanceSpec(String app, String name, Path dir, String broker, List<String> queues, int minConcurrency,
                        int maxConcurrency, List<String> classpath, List<String> jvmOptions, Map<String, String> env,
                        List<String> arguments, long generation, String setupCmd, int slot) {
        this(app, name, dir, broker, queues, minConcurrency, maxConcurrency, classpath, jvmOptions, env, arguments, generation,
                setupCmd, slot, null, null);
    }

    /** The worker in slot 0 with a live configuration. */
    public InstanceSpec(String app, String name, Path dir, String broker, List<String> queues, int minConcurrency,
                        int maxConcurrency, List<String> classpath, List<String> jvmOptions, Map<String, String> env,
                        List<String> arguments, long generation, String setupCmd, String configId, Map<String, Object> config) {
        this(app, name, dir, broker, queues, minConcurrency, maxConcurrency, classpath, jvmOptions, env, arguments, generation,
                setupCmd, 0, configId, config);
    }

    /** An instance without a setup command. */
    public InstanceSpec(String app, String name, Path dir, String broker, List<String> queues, int minConcurrency,
                        int maxConcurrency, List<String> classpath, List<String> jvmOptions, Map<String, String> env,
                        List<String> arguments, long generation) {
        this(app, name, dir, broker, queues, minConcurrency, maxConcurrency, classpath, jvmOptions, env, arguments, generation, null);
    }

    /** True if a setup command runs before the worker starts. */
    public boolean hasSetup() {
        return setupCmd != null && !setupCmd.isBlank();
    }

    /** The token on the worker's command line that says whose process it is. */
    public String marker() {
        return markerOf(app, name);
    }

    public static String markerOf(String app, String name) {
        return "-Djcyme.instance=" + app + "/" + name;
    }

    /** The token on the worker's command line that says which generation it runs. */
    public String generationMarker() {
        return GENERATION_PROPERTY + generation;
    }

    static final String GENERATION_PROPERTY = "-Djcyme.generation=";

    /** The same instance at another generation. */
    public InstanceSpec withGeneration(long value) {
        return new InstanceSpec(app, name, dir, broker, queues, minConcurrency, maxConcurrency, classpath, jvmOptions, env,
                arguments, value, setupCmd, slot, configId, config);
    }

    /** The same instance in another slot. */
    public InstanceSpec inSlot(int value) {
        return new InstanceSpec(app, name, dir, broker, queues, minConcurrency, maxConcurrency, classpath, jvmOptions, env,
                arguments, generation, setupCmd, value, configId, config);
    }

    /** The same instance in the slot it does not use. */
    public InstanceSpec otherSlot() {
        return inSlot(1 - slot);
    }

    public Path pidfile() {
        return dir.resolve(STEMS[slot] + ".pid");
    }

    public Path lockfile() {
        return dir.resolve(STEMS[slot] + ".lock");
    }

    public Path logfile() {
        return dir.resolve("worker.log");
    }

    /**
     * The instance's {@code worker.statedb}, one for both slots: a replacement loads the revokes its
     * predecessor took, and both write revokes to it while they overlap.
     */
    public Path statedb() {
        return dir.resolve("worker.statedb");
    }

    /** Where the worker finds its live configuration at start. */
    public Path configFile() {
        return dir.resolve("config.json");
    }

    public Path socket() {
        return dir.resolve(STEMS[slot] + ".sock");
    }
}
