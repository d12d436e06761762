package jcyme.branch;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * A search of the task history in Flower's style: terms separated by spaces, all of which must
 * match. {@code name:}, {@code worker:} and {@code result:} match a part of that field;
 * {@code state:} one of a comma-separated list of states; {@code args:a,b} every part in the
 * arguments; {@code kwargs:k=v} a keyword argument of that value (or {@code kwargs:text} a part);
 * a plain word a part of the id, name, args, kwargs or result. A value with spaces is quoted:
 * {@code name:"my task"}, {@code "two words"}. Matching ignores ASCII case.
 */
public record TaskQuery(List<String> states, List<String> names, List<String> workers, List<String> args,
        List<String> kwargs, List<String> results, List<String> words) {

    /** The states a task can be in, as Celery names them. */
    public static final Set<String> STATES = Set.of("PENDING", "RECEIVED", "STARTED", "SUCCESS", "FAILURE", "RETRY",
            "REVOKED", "REJECTED");
    static final List<String> QUALIFIERS = List.of("name", "state", "worker", "args", "kwargs", "result");

    public static final TaskQuery ALL = new TaskQuery(List.of(), List.of(), List.of(), List.of(), List.of(), List.of(), List.of());

    public TaskQuery {
        states = List.copyOf(states);
        names = List.copyOf(names);
        workers = List.copyOf(workers);
        args = List.copyOf(args);
        kwargs = List.copyOf(kwargs);
        results = List.copyOf(results);
        words = List.copyOf(words);
    }

    /** Parses a search; a malformed one is a 400 naming what is wrong. Null or blank matches everything. */
    public static TaskQuery parse(String q) {
        List<String> states = new ArrayList<>();
        List<String> names = new ArrayList<>();
        List<String> workers = new ArrayList<>();
        List<String> args = new ArrayList<>();
        List<String> kwargs = new ArrayList<>();
        List<String> results = new ArrayList<>();
        List<String> words = new ArrayList<>();
        String text = q == null ? "" : q;
        int i = 0;
        while (i < text.length()) {
            if (Character.isWhitespace(text.charAt(i))) {
                i++;
                continue;
            }
            int start = i;
            String qualifier = null;
            int colon = i;
            while (colon < text.length() && Character.isLetter(text.charAt(colon))) colon++;
            if (colon > i && colon < text.length() && text.charAt(colon) == ':') {
                qualifier = text.substring(i, colon).toLowerCase(Locale.ROOT);
                i = colon + 1;
            }
            String value;
            if (i < text.length() && text.charAt(i) == '"') {
                int close = text.indexOf('"', i + 1);
                if (close < 0) {
                    throw BranchException.invalid("q: the quote at position " + (i + 1) + " is not closed");
                }
                value = text.substring(i + 1, close);
                i = close + 1;
            } else {
                int end = i;
                while (end < text.length() && !Character.isWhitespace(text.charAt(end))) end++;
                value = text.substring(i, end);
                i = end;
            }
            if (qualifier == null) {
                if (value.contains(":") && !text.startsWith("\"", start)) {
                    throw BranchException.invalid("q: '" + value + "' has no known qualifier before its ':' (use "
                            + String.join(", ", QUALIFIERS) + ", or quote a word with a colon)");
                }
                if (!value.isEmpty()) words.add(value);
                continue;
            }
            if (value.isEmpty()) {
                throw BranchException.invalid("q: '" + qualifier + ":' needs a value");
            }
            switch (qualifier) {
                case "name" -> names.add(value);
                case "worker" -> workers.add(value);
                case "result" -> results.add(value);
                case "kwargs" -> kwargs.add(value);
                case "args" -> {
                    for (String part : value.split(",")) {
                        if (!part.isBlank()) args.add(part.strip());
                    }
                }
                case "state" -> {
                    for (String part : value.split(",")) {
                        String state = part.strip().toUpperCase(Locale.ROOT);
                        if (!STATES.contains(state)) {
                            throw BranchException.invalid("q: unknown state '" + part.strip() + "' (states: "
                                    + String.join(", ", STATES.stream().sorted().toList()) + ")");
                        }
                        states.add(state);
                    }
                }
                default -> throw BranchException.invalid("q: unknown qualifier '" + qualifier + ":' (use "
                        + String.join(", ", QUALIFIERS) + ", or quote a word with a colon)");
            }
        }
        return new TaskQuery(states, names, workers, args, kwargs, results, words);
    }

    /** Adds this query's conditions to an SQL WHERE clause over the {@code tasks} table, each after " AND ". */
    void appendTo(StringBuilder where, List<Object> params) {
        if (!states.isEmpty()) {
            where.append(" AND state IN (").append(String.join(", ", states.stream().map(s -> "?").toList())).append(')');
            params.addAll(states);
        }
        names.forEach(n -> like(where, params, n, "name"));
        workers.forEach(w -> like(where, params, w, "worker", "instance"));
        results.forEach(r -> like(where, params, r, "result"));
        args.forEach(a -> like(where, params, a, "args"));
        for (String k : kwargs) {
            int equals = k.indexOf('=');
            if (equals <= 0) {
                like(where, params, k, "kwargs");
                continue;
            }
            String key = k.substring(0, equals);
            String value = k.substring(equals + 1);
            where.append(" AND (kwargs LIKE ? ESCAPE '\\' OR kwargs LIKE ? ESCAPE '\\')");
            params.add(contains("'" + key + "': " + value));
            params.add(contains("'" + key + "': '" + value + "'"));
        }
        words.forEach(w -> like(where, params, w, "id", "name", "args", "kwargs", "result"));
    }

    /** A part of any of the columns. */
    private static void like(StringBuilder where, List<Object> params, String part, String... columns) {
        where.append(" AND (");
        for (int c = 0; c < columns.length; c++) {
            if (c > 0) where.append(" OR ");
            where.append(columns[c]).append(" LIKE ? ESCAPE '\\'");
            params.add(contains(part));
        }
        where.append(')');
    }

    /** A LIKE pattern matching {@code part} anywhere, its own % and _ taken literally. */
    static String contains(String part) {
        return "%" + part.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%";
    }
}
