package jcyme.tasks;

import java.util.Map;
import java.util.ServiceLoader;
import java.util.TreeMap;

/** The tasks available on a class path, by name. */
public final class Tasks {
    private Tasks() {}

    /** Every {@link Task} {@link ServiceLoader} finds through {@code loader}; a duplicate name is an error. */
    public static Map<String, Task> load(ClassLoader loader) {
        Map<String, Task> byName = new TreeMap<>();
        for (Task task : ServiceLoader.load(Task.class, loader)) {
            Task previous = byName.putIfAbsent(task.name(), task);
            if (previous != null && previous.getClass() != task.getClass()) {
                throw new IllegalStateException("task " + task.name() + " is defined twice: by "
                        + previous.getClass().getName() + " and " + task.getClass().getName());
            }
        }
        return java.util.Collections.unmodifiableMap(byName);
    }
}
