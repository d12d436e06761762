package jcyme.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import jcyme.client.BranchClient;
import jcyme.tasks.Json;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

/** What every client command shares: where the branch is, its token, and how to print. */
class ClientOptions {
    @Option(names = {"-u", "--url"}, paramLabel = "URL", scope = ScopeType.INHERIT,
            description = "Branch URL (default: $JCYME_URL or http://127.0.0.1:8000).")
    String url = System.getenv().getOrDefault("JCYME_URL", "http://127.0.0.1:8000");

    @Option(names = "--token", paramLabel = "TOKEN", scope = ScopeType.INHERIT, description = "Bearer token (default: $JCYME_TOKEN).")
    String token = System.getenv("JCYME_TOKEN");

    @Option(names = "--cacert", paramLabel = "FILE", scope = ScopeType.INHERIT,
            description = "Trust the certificates in this PEM file for an https:// URL, instead of the JVM's (default: $JCYME_CACERT).")
    Path cacert = System.getenv("JCYME_CACERT") == null || System.getenv("JCYME_CACERT").isEmpty() ? null
            : Path.of(System.getenv("JCYME_CACERT"));

    @Option(names = "--json", scope = ScopeType.INHERIT, description = "Print the raw JSON reply.")
    boolean json;

    BranchClient client() {
        return BranchClient.of(url, token, Duration.ofSeconds(90), cacert);
    }

    /** Prints a reply: raw JSON with --json; else a list one per line, an object as aligned key: value lines. */
    void print(PrintWriter out, Object reply) {
        JsonNode node = Json.MAPPER.valueToTree(reply);
        if (json) {
            out.println(Json.MAPPER.copy().enable(SerializationFeature.INDENT_OUTPUT).valueToTree(node).toPrettyString());
        } else if (node.isArray()) {
            node.forEach(item -> out.println(item.isValueNode() ? item.asText() : item.toString()));
        } else if (node.isObject()) {
            List<String[]> rows = new ArrayList<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> field = it.next();
                rows.add(new String[] {field.getKey(), field.getValue().isValueNode() ? field.getValue().asText() : field.getValue().toString()});
            }
            table(out, rows);
        } else {
            out.println(node.asText());
        }
        out.flush();
    }

    /** Rows as an aligned table: every column but the last padded to its widest cell. */
    static void table(PrintWriter out, List<String[]> rows) {
        int columns = rows.stream().mapToInt(r -> r.length).max().orElse(0);
        int[] widths = new int[columns];
        for (String[] row : rows) {
            for (int i = 0; i < row.length; i++) {
                widths[i] = Math.max(widths[i], row[i].length());
            }
        }
        for (String[] row : rows) {
            StringBuilder line = new StringBuilder();
            for (int i = 0; i < row.length; i++) {
                line.append(i == row.length - 1 ? row[i] : String.format("%-" + (widths[i] + 2) + "s", row[i]));
            }
            out.println(line.toString().stripTrailing());
        }
    }
}
