package jcyme.api;

import java.util.Set;
import java.util.regex.Pattern;

/** The rule for names that become paths and URLs: apps, instances, queues. */
public final class Names {
    public static final Pattern VALID = Pattern.compile("^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$");
    public static final Set<String> RESERVED_APPS = Set.of("ping", "branches", "metrics", "ui", "api", "events", "openapi.json");

    private Names() {}

    /** Null when {@code name} is a valid {@code what} name, else one sentence saying why not. */
    public static String problem(String what, String name) {
        if (name == null || name.isEmpty()) {
            return what + " name is missing";
        }
        if (!VALID.matcher(name).matches()) {
            return what + " name '" + name + "' is invalid: use 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit";
        }
        return null;
    }
}
