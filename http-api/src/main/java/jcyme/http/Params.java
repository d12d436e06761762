package jcyme.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import io.javalin.http.Context;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jcyme.branch.BranchException;
import jcyme.tasks.Json;

/**
 * A request's parameters: the query string, then a form body, then a JSON object body (which wins).
 * In the query string and a form an empty value ({@code broker=}) means "not given", as Cyme read
 * it: Cyme's own client sends every unset argument that way. A JSON body says null or [] instead.
 */
final class Params {
    private Params() {}

    static Map<String, Object> of(Context ctx) {
        Map<String, Object> params = new LinkedHashMap<>();
        try {
            putGiven(params, ctx.queryParamMap());
            String type = ctx.contentType() == null ? "" : ctx.contentType().toLowerCase(java.util.Locale.ROOT);
            if (type.startsWith("application/x-www-form-urlencoded")) {
                putGiven(params, ctx.formParamMap());
            } else if (type.startsWith("application/json") && !ctx.body().isBlank()) {
                putJson(params, ctx.body());
            }
        } catch (java.nio.charset.UnsupportedCharsetException | java.nio.charset.IllegalCharsetNameException e) {
            throw BranchException.invalid("unsupported charset in Content-Type: " + ctx.contentType());
        } catch (IllegalArgumentException e) {
            // URLDecoder's refusal of a '%' without two hex digits in the query or a form
            throw BranchException.invalid("malformed query or form: " + e.getMessage());
        }
        return params;
    }

    /** The last value of each key, unless it is empty. */
    private static void putGiven(Map<String, Object> params, Map<String, List<String>> values) {
        values.forEach((key, list) -> {
            String value = list.isEmpty() ? "" : list.get(list.size() - 1);
            if (!value.isEmpty()) {
                params.put(key, value);
            }
        });
    }

    private static void putJson(Map<String, Object> params, String text) {
        JsonNode body;
        try {
            body = Json.MAPPER.readTree(text);
        } catch (JsonProcessingException e) {
            throw BranchException.invalid("body is not valid JSON: " + e.getOriginalMessage());
        }
        if (!body.isObject()) {
            throw BranchException.invalid("JSON body must be an object");
        }
        params.putAll(Json.MAPPER.convertValue(body, Map.class));
    }

    /** Turns comma-separated strings into lists and JSON-looking strings into values, for the given keys. */
    static Map<String, Object> normalize(Map<String, Object> params, List<String> lists, List<String> objects) {
        Map<String, Object> out = new LinkedHashMap<>(params);
        for (String key : lists) {
            if (out.get(key) instanceof String s) {
                out.put(key, s.isBlank() ? List.of() : List.of(s.split("\\s*,\\s*")));
            }
        }
        for (String key : objects) {
            if (out.get(key) instanceof String s) {
                try {
                    out.put(key, Json.MAPPER.readValue(s, Map.class));
                } catch (JsonProcessingException e) {
                    throw BranchException.invalid(key + " must be a JSON object");
                }
            }
        }
        return out;
    }

    static Integer integer(Map<String, Object> params, String key) {
        Object value = params.get(key);
        if (value == null || value.toString().isBlank()) return null;
        if (value instanceof Number n && n.doubleValue() == Math.rint(n.doubleValue())) return n.intValue();
        if (value.toString().matches("-?\\d{1,9}")) return Integer.parseInt(value.toString());
        throw BranchException.invalid(key + " must be an integer, got '" + value + "'");
    }

    static Double number(Map<String, Object> params, String key) {
        Object value = params.get(key);
        if (value == null || value.toString().isBlank()) return null;
        double number;
        if (value instanceof Number n) {
            number = n.doubleValue();
        } else {
            try {
                number = Double.parseDouble(value.toString());
            } catch (NumberFormatException e) {
                throw BranchException.invalid(key + " must be a number, got '" + value + "'");
            }
        }
        if (!Double.isFinite(number)) {
            throw BranchException.invalid(key + " must be a finite number, got '" + value + "'");
        }
        return number;
    }

    /** A number as a person writes it: 301, not 301.0. */
    static String shown(double number) {
        return number == Math.rint(number) && Math.abs(number) < 1e15 ? Long.toString((long) number) : Double.toString(number);
    }

    static String text(Map<String, Object> params, String key) {
        Object value = params.get(key);
        return value == null ? null : value.toString();
    }
}
