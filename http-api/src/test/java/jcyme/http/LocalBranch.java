package jcyme.http;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import jcyme.branch.Branch;
import jcyme.branch.BranchConfig;
import jcyme.supervisor.SupervisorSettings;

/**
 * A real branch and its HTTP API in this JVM, alone (no cluster), with no worker library: enough
 * for routes that start no instance. Its broker is a port nothing listens on.
 */
final class LocalBranch implements AutoCloseable {
    static final String DOWN_BROKER = "amqp://guest:guest@127.0.0.1:1//";
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    final Branch branch;
    final HttpApi api;

    LocalBranch(Path dir, String token) throws IOException {
        this(dir, token, DOWN_BROKER);
    }

    /** A branch whose own broker ({@code --broker}) is {@code broker}. */
    LocalBranch(Path dir, String token, String broker) throws IOException {
        branch = Branch.start(new BranchConfig("local", dir.resolve("data"), broker, 0, "http://127.0.0.1:0",
                Path.of(System.getProperty("java.home"), "bin", "java"), dir.resolve("no-lib"), SupervisorSettings.defaults(), null));
        api = new HttpApi(branch, token, null).start("127.0.0.1", 0);
    }

    HttpResponse<String> get(String path, String token) throws IOException, InterruptedException {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + api.port() + path)).timeout(Duration.ofSeconds(20));
        if (token != null) {
            request.header("Authorization", "Bearer " + token);
        }
        return HTTP.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    @Override
    public void close() {
        api.close();
        branch.close();
    }
}
