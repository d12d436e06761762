package jcyme.tasks;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/** The one JSON mapper of the wire format: tolerant of what Python's json emits (NaN, big ints). */
public final class Json {

    public static final ObjectMapper MAPPER = JsonMapper.builder()
            .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
            .enable(DeserializationFeature.USE_BIG_INTEGER_FOR_INTS)
            .build();

    private Json() {}

    public static byte[] bytes(Object value) {
        try {
            return MAPPER.writeValueAsBytes(value);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("value is not JSON-serialisable: " + e.getOriginalMessage(), e);
        }
    }

    public static String string(Object value) {
        return new String(bytes(value), StandardCharsets.UTF_8);
    }

    public static JsonNode tree(Object value) {
        return MAPPER.valueToTree(value);
    }

    public static JsonNode parse(byte[] body) {
        try {
            return MAPPER.readTree(body);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * A Python-style repr of a JSON value, as Celery puts in {@code argsrepr} and events:
     * {@code [2, 3]}, {@code {'a': 1}}, {@code 'text'}, {@code None}, {@code True}.
     */
    public static String repr(JsonNode node) {
        StringBuilder out = new StringBuilder();
        repr(node, out);
        return out.toString();
    }

    private static void repr(JsonNode node, StringBuilder out) {
        if (node == null || node.isNull() || node.isMissingNode()) {
            out.append("None");
        } else if (node.isBoolean()) {
            out.append(node.booleanValue() ? "True" : "False");
        } else if (node.isTextual()) {
            out.append('\'').append(node.textValue().replace("\\", "\\\\").replace("'", "\\'")).append('\'');
        } else if (node.isArray()) {
            out.append('[');
            for (int i = 0; i < node.size(); i++) {
                if (i > 0) out.append(", ");
                repr(node.get(i), out);
            }
            out.append(']');
        } else if (node.isObject()) {
            out.append('{');
            var fields = node.fields();
            boolean first = true;
            while (fields.hasNext()) {
                var field = fields.next();
                if (!first) out.append(", ");
                first = false;
                out.append('\'').append(field.getKey()).append("': ");
                repr(field.getValue(), out);
            }
            out.append('}');
        } else {
            out.append(node.asText());
        }
    }
}
