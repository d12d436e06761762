package jcyme.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import io.javalin.http.Context;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jcyme.branch.BranchException;
import jcyme.tasks.Json;

/** A request's parameters: the query string, then a form body, then a JSON object body (which wins). */
final class Params {
    private Params() {}

    static Map<String, Object> of(Context ctx) {
        Map<String, Object> params = new LinkedHashMap<>();
        ctx.queryParamMap().forEach((key, values) -> params.put(key, values.get(values.size() - 1)));
        String type = ctx.contentType() == null ? "" : ctx.contentType();
        if (type.startsWith("application/x-www-form-urlencoded")) {
            ctx.formParamMap().forEach((key, values) -> params.put(key, values.get(values.size() - 1)));
        } else if (type.startsWith("application/json") && !ctx.body().isBlank()) {
            JsonNode body;
            try {
                body = Json.MAPPER.readTree(ctx.body());
            } catch (JsonProcessingException e) {
                throw BranchException.invalid("body is not valid JSON: " + e.getOriginalMessage());
            }
            if (!body.isObject()) {
                throw BranchException.invalid("JSON body must be an object");
            }
            params.putAll(Json.MAPPER.convertValue(body, Map.class));
        }
        return params;
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
        if (value instanceof Number n) return n.doubleValue();
        try {
            return Double.parseDouble(value.toString());
        } catch (NumberFormatException e) {
            throw BranchException.invalid(key + " must be a number, got '" + value + "'");
        }
    }

    static String text(Map<String, Object> params, String key) {
        Object value = params.get(key);
        return value == null ? null : value.toString();
    }
}
