package jcyme.http;

import io.javalin.http.Context;
import io.javalin.http.HandlerType;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentSkipListSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import javax.net.ssl.SSLContext;
import jcyme.branch.Branch;
import jcyme.branch.BranchException;
import jcyme.branch.Peer;
import jcyme.tasks.Json;

/**
 * Makes every branch answer for the whole cluster: a request about an instance that lives on
 * another branch is forwarded there and its answer passed back unchanged; a new instance goes to
 * the branch its placement names; instance listings gather from every live branch.
 * A forwarded request carries {@value #FORWARDED} and is always answered where it arrives.
 * An owner that cannot be reached is a 503 naming it, and soon: a connection waits at most the
 * cluster's connect timeout, and a request already sent is given up once the owner leaves the view
 * (its failure timeout), instead of waiting out {@link #FORWARD_TIMEOUT}.
 */
final class ClusterRouter {
    static final String FORWARDED = "X-Jcyme-Forwarded-By";
    /** The longest a live owner may take to answer a forwarded request (some stop instances, with their warm shutdown). */
    static final Duration FORWARD_TIMEOUT = Duration.ofSeconds(90);
    static final Duration LISTING_WAIT = Duration.ofSeconds(2);
    /** How often a forwarded request in flight checks that its owner is still in the view. */
    private static final Duration VIEW_CHECK = Duration.ofMillis(100);

    private final Branch branch;
    private final Duration connectTimeout;
    private volatile HttpClient http;

    ClusterRouter(Branch branch) {
        this.branch = branch;
        this.connectTimeout = branch.clusterTimings().connectTimeout();
        this.http = client(null);
    }

    /** Trust what {@code context} trusts when talking to other branches over https:// (before the API starts). */
    void trust(SSLContext context) {
        http = client(context);
    }

    private HttpClient client(SSLContext context) {
        HttpClient.Builder builder = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(connectTimeout);
        if (context != null) {
            builder.sslContext(context);
        }
        return builder.build();
    }

    /** Runs before every matched route: forwards the request when another branch must answer it. */
    void route(Context ctx) {
        if (ctx.header(FORWARDED) != null) {
            return;
        }
        List<String> path = new ArrayList<>(Arrays.asList(ctx.path().replaceAll("^/+|/+$", "").split("/+")));
        if (path.size() < 2 || !path.get(1).equals("instances")) {
            return;
        }
        if (path.size() > 2 && path.get(2).equals(HttpApi.ASYNC)) {
            path.remove(2);
        }
        String app = path.get(0);
        boolean creates = ctx.method() == HandlerType.POST && path.size() <= 3;
        if (creates) {
            Map<String, Object> params = Params.of(ctx);
            Peer target = branch.placeInstance(path.size() == 3 ? path.get(2) : null,
                    Params.text(params, "branch"), Params.text(params, "placement"));
            if (!target.id().equals(branch.id())) {
                forward(ctx, target);
            }
        } else if (path.size() >= 3) {
            branch.ownerOf(app, path.get(2)).ifPresent(owner -> forward(ctx, owner));
        }
    }

    /** The app's instance names on every live branch, plus those of unreachable branches as last gossiped. */
    List<String> instanceNames(Context ctx, String app) {
        List<String> local = branch.instances().names(app);
        if (ctx.header(FORWARDED) != null) {
            return local;
        }
        Set<String> names = new ConcurrentSkipListSet<>(local);
        Set<String> answered = askPeers(ctx, answer -> answer.forEach(name -> names.add(name.asText())));
        names.addAll(branch.instanceNamesElsewhere(app, answered));
        return List.copyOf(names);
    }

    /** The app's live configuration and the config id every instance on every live branch holds. */
    Map<String, Object> configs(Context ctx, String app) {
        Map<String, Object> view = branch.instances().configs(app);
        if (ctx.header(FORWARDED) != null) {
            return view;
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> held = new java.util.concurrent.ConcurrentSkipListMap<>((Map<String, Object>) view.get("instances"));
        askPeers(ctx, answer -> answer.path("instances").fields().forEachRemaining(e ->
                held.put(e.getKey(), e.getValue().isNull() ? null : e.getValue().asText())));
        Map<String, Object> whole = new java.util.LinkedHashMap<>(view);
        whole.put("instances", new java.util.TreeMap<>(held));
        return whole;
    }

    /**
     * Sends the same GET to every other live branch at once (waiting at most the listing wait) and
     * hands each 200 answer to {@code each}; returns the ids of the branches that answered (404 too).
     */
    private Set<String> askPeers(Context ctx, java.util.function.Consumer<com.fasterxml.jackson.databind.JsonNode> each) {
        Set<String> answered = ConcurrentHashMap.newKeySet();
        answered.add(branch.id());
        List<CompletableFuture<Void>> asks = new ArrayList<>();
        for (Peer peer : branch.peers()) {
            HttpRequest request = request(ctx, peer, LISTING_WAIT).GET().build();
            asks.add(http.sendAsync(request, HttpResponse.BodyHandlers.ofByteArray()).thenAccept(response -> {
                if (response.statusCode() == 200) {
                    each.accept(Json.parse(response.body()));
                }
                if (response.statusCode() == 200 || response.statusCode() == 404) {
                    answered.add(peer.id());
                }
            }).exceptionally(e -> null));
        }
        CompletableFuture.allOf(asks.toArray(CompletableFuture[]::new)).join();
        return answered;
    }

    private void forward(Context ctx, Peer owner) {
        byte[] body = ctx.bodyAsBytes();
        HttpRequest request = request(ctx, owner, FORWARD_TIMEOUT)
                .method(ctx.method().name(), body.length == 0 ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofByteArray(body))
                .build();
        HttpResponse<byte[]> response = awaitWhileLive(http.sendAsync(request, HttpResponse.BodyHandlers.ofByteArray()), owner);
        ctx.status(response.statusCode());
        response.headers().firstValue("Content-Type").ifPresent(ctx::contentType);
        ctx.result(response.body());
        ctx.skipRemainingHandlers();
    }

    /** The owner's answer; a 503 naming the owner when it cannot be reached or leaves the view first. */
    private HttpResponse<byte[]> awaitWhileLive(CompletableFuture<HttpResponse<byte[]>> answer, Peer owner) {
        String who = "branch '" + owner.id() + "' (" + owner.url() + ")";
        try {
            while (true) {
                try {
                    return answer.get(VIEW_CHECK.toMillis(), TimeUnit.MILLISECONDS);
                } catch (TimeoutException stillWaiting) {
                    if (branch.peers().stream().noneMatch(p -> p.id().equals(owner.id()))) {
                        answer.cancel(true);
                        throw new BranchException(503, who + " left this branch's view of the cluster before it answered:"
                                + " down, or cut off from it");
                    }
                }
            }
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof HttpConnectTimeoutException) {
                throw new BranchException(503, who + " is unreachable: no connection within " + connectTimeout.toMillis() + " ms");
            }
            if (cause instanceof HttpTimeoutException) {
                throw new BranchException(504, who + " did not answer within " + FORWARD_TIMEOUT.toSeconds() + " s");
            }
            throw new BranchException(503, who + " is unreachable: "
                    + (cause == null || cause.getMessage() == null ? String.valueOf(cause) : cause.getMessage()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BranchException(503, "interrupted while asking " + who);
        }
    }

    /** The same method, path, query and credentials, addressed to another branch. */
    private HttpRequest.Builder request(Context ctx, Peer peer, Duration timeout) {
        String query = ctx.queryString();
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(peer.url() + ctx.path() + (query == null ? "" : "?" + query)))
                .timeout(timeout)
                .header(FORWARDED, branch.id());
        for (String header : List.of("Authorization", "Content-Type", "Accept")) {
            String value = ctx.header(header);
            if (value != null) {
                request.header(header, value);
            }
        }
        return request;
    }
}
