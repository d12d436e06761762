package jcyme.http;

import com.fasterxml.jackson.databind.JsonNode;
import io.javalin.Javalin;
import io.javalin.http.Context;
import io.javalin.http.HandlerType;
import io.javalin.http.HttpResponseException;
import io.javalin.json.JavalinJackson;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import jcyme.api.QueueSpec;
import jcyme.branch.Apps;
import jcyme.branch.Branch;
import jcyme.branch.BranchException;
import jcyme.branch.Limits;
import jcyme.tasks.Json;
import jcyme.tasks.TaskResult;
import org.eclipse.jetty.http.BadMessageException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The branch's HTTP API (see API.md): every route in {@link #routes}, handlers one line over the
 * {@link Branch} facade. Errors are {@code {"error": "..."}} with the status the facade chose.
 */
public final class HttpApi implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(HttpApi.class);
    static final String ASYNC = "!";
    /** The largest request body read: {@link Limits#MAX_BODY_BYTES}, also for a chunked body (see {@link RequestGuard}). */
    static final long MAX_BODY_BYTES = Limits.MAX_BODY_BYTES;
    /** How long {@code GET .../wait} waits when no {@code timeout} is given, in seconds. */
    static final double DEFAULT_WAIT_SECONDS = 30;

    private final Branch branch;
    private final ClusterRouter router;
    private final String token;
    private final Javalin app;
    private final java.util.Set<String> asyncGets = new java.util.HashSet<>();
    /** Runs the operations asked with {@code !/}: a bounded pool with a bounded queue, beyond which they are refused. */
    private final ThreadPoolExecutor background;

    /**
     * An API that answers to loopback names and the branch's advertised host only.
     *
     * @param token bearer token every request but {@code GET /ping} must carry, or null for none
     */
    public HttpApi(Branch branch, String token, String corsOrigin) {
        this(branch, token, corsOrigin, RequestGuard.of("127.0.0.1", branch.info().url(), List.of(), corsOrigin));
    }

    /**
     * @param token bearer token every request but {@code GET /ping} must carry, or null for none
     * @param guard which hosts and origins may reach the branch (see {@link RequestGuard})
     */
    public HttpApi(Branch branch, String token, String corsOrigin, RequestGuard guard) {
        this(branch, token, corsOrigin, guard, Limits.MAX_ASYNC_RUNNING, Limits.MAX_ASYNC_WAITING);
    }

    /**
     * @param asyncRunning  the most {@code !/} operations run at once
     * @param asyncWaiting  the most waiting for those; one more is a 503
     */
    HttpApi(Branch branch, String token, String corsOrigin, RequestGuard guard, int asyncRunning, int asyncWaiting) {
        this.background = new ThreadPoolExecutor(asyncRunning, asyncRunning, 30, TimeUnit.SECONDS,
                new ArrayBlockingQueue<>(asyncWaiting), task -> {
            Thread thread = new Thread(task, "http-async");
            thread.setDaemon(true);
            return thread;
        });
        background.allowCoreThreadTimeOut(true);
        this.branch = branch;
        this.router = new ClusterRouter(branch);
        this.token = token;
        this.app = Javalin.create(config -> {
            config.showJavalinBanner = false;
            config.startupWatcherEnabled = false;
            config.router.ignoreTrailingSlashes = true;
            config.http.prefer405over404 = true;
            config.jsonMapper(new JavalinJackson(Json.MAPPER, false));
            config.http.maxRequestSize = MAX_BODY_BYTES;
            config.jetty.modifyServer(server -> {
                server.setErrorHandler(new JsonErrorHandler());
                server.setRequestLog(new AuditLog());
            });
            config.jetty.modifyServletContextHandler(handler -> {
                handler.setErrorHandler(new JsonErrorHandler());
                handler.addFilter(new org.eclipse.jetty.servlet.FilterHolder(guard), "/*",
                        java.util.EnumSet.of(jakarta.servlet.DispatcherType.REQUEST));
                handler.addFilter(HeadAsGet.class, "/*", java.util.EnumSet.of(jakarta.servlet.DispatcherType.REQUEST));
            });
            if (corsOrigin != null) {
                config.bundledPlugins.enableCors(cors -> cors.addRule(rule -> rule.allowHost(corsOrigin)));
            }
        });
        app.before(HttpApi::readBody);
        app.beforeMatched(this::authenticate);
        app.beforeMatched(router::route);
        app.exception(BranchException.class, (e, ctx) -> error(ctx, e.status(), e.getMessage()));
        app.exception(HttpResponseException.class, (e, ctx) -> error(ctx, e.getStatus(), javalinError(ctx, e.getStatus(), e.getMessage())));
        app.exception(Exception.class, (e, ctx) -> {
            BadMessageException bad = JsonErrorHandler.badMessage(e);
            if (bad != null) {
                error(ctx, bad.getCode(), JsonErrorHandler.message(bad.getCode(), bad.getReason()));
                return;
            }
            log.error("{} {} failed", ctx.method(), ctx.path(), e);
            error(ctx, 500, "internal error: " + e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage()));
        });
        // whatever error Javalin answers by itself (no route, wrong verb, body too large, ...) is JSON too
        for (int status = 400; status < 600; status++) {
            int code = status;
            app.error(code, ctx -> {
                String type = ctx.res().getContentType();
                if (type == null || !type.startsWith("application/json")) {
                    error(ctx, code, javalinError(ctx, code, ctx.result()));
                }
            });
        }
        routes();
    }

    private void routes() {
        UiRoutes.register(app);
        app.get("/ping", ctx -> ok(ctx, "pong"));
        MetricsRoutes.register(app, branch);
        OpenApiRoutes.register(app);
        app.get("/branches", ctx -> ctx.json(branch.branches()));
        app.get("/branches/{id}", ctx -> ctx.json(branch.branchInfo(ctx.pathParam("id"))));
        app.delete("/branches/{id}", ctx -> {
            branch.forgetBranch(ctx.pathParam("id"));
            ok(ctx, "ok");
        });
        app.get("/", ctx -> ctx.json(branch.apps().names()));
        EventRoutes.register(app, branch);

        app.get("/{app}", ctx -> ctx.json(branch.apps().get(app(ctx))));
        app.put("/{app}", this::putApp);
        app.post("/{app}", this::putApp);
        app.delete("/{app}", ctx -> {
            branch.apps().delete(app(ctx));
            ok(ctx, "ok");
        });

        app.get("/{app}/config", ctx -> ctx.json(router.configs(ctx, app(ctx))));
        app.put("/{app}/config", this::putConfig);
        app.get("/{app}/instances", ctx -> ctx.json(router.instanceNames(ctx, app(ctx))));
        mutating(HandlerType.POST, "/{app}/instances", 201, (path, params) -> createInstance(path, null, params));
        mutating(HandlerType.POST, "/{app}/instances/{name}", 201,
                (path, params) -> createInstance(path, path.get("name"), params));
        app.get("/{app}/instances/{name}", ctx -> ctx.json(branch.instances().get(app(ctx), name(ctx))));
        mutating(HandlerType.DELETE, "/{app}/instances/{name}", 200, (path, params) -> {
            branch.instances().delete(path.get("app"), path.get("name"));
            return Map.of("ok", "ok");
        });
        mutating(HandlerType.POST, "/{app}/instances/{name}/restart", 200,
                (path, params) -> branch.instances().restart(path.get("app"), path.get("name")));
        mutating(HandlerType.POST, "/{app}/instances/{name}/enable", 200,
                (path, params) -> branch.instances().enable(path.get("app"), path.get("name")));
        mutating(HandlerType.POST, "/{app}/instances/{name}/disable", 200,
                (path, params) -> branch.instances().disable(path.get("app"), path.get("name")));
        app.get("/{app}/instances/{name}/stats", ctx -> ctx.json(branch.instances().stats(app(ctx), name(ctx))));
        app.get("/{app}/instances/{name}/autoscale", ctx -> ctx.json(branch.instances().autoscale(app(ctx), name(ctx))));
        for (HandlerType verb : List.of(HandlerType.PUT, HandlerType.POST)) {
            mutating(verb, "/{app}/instances/{name}/autoscale", 200, (path, params) -> branch.instances().setAutoscale(
                    path.get("app"), path.get("name"), Params.integer(params, "max"), Params.integer(params, "min")));
            mutating(verb, "/{app}/instances/{name}/queues/{queue}", 201, (path, params) -> {
                branch.instances().bind(path.get("app"), path.get("name"), path.get("queue"));
                return Map.of("ok", "ok");
            });
        }
        app.get("/{app}/instances/{name}/queues", ctx -> ctx.json(branch.instances().queues(app(ctx), name(ctx))));
        mutating(HandlerType.DELETE, "/{app}/instances/{name}/queues/{queue}", 200, (path, params) -> {
            branch.instances().unbind(path.get("app"), path.get("name"), path.get("queue"));
            return Map.of("ok", "ok");
        });
        app.get("/{app}/instances/{name}/log", ctx -> {
            Integer lines = Params.integer(Params.of(ctx), "lines");
            ctx.contentType("text/plain; charset=utf-8").result(branch.instances().log(app(ctx), name(ctx), lines == null ? 100 : lines));
        });

        app.get("/{app}/queues", ctx -> ctx.json(branch.queues().names(app(ctx))));
        app.get("/{app}/queues/{queue}", ctx -> ctx.json(branch.queues().get(app(ctx), ctx.pathParam("queue"))));
        app.put("/{app}/queues/{queue}", this::declareQueue);
        app.post("/{app}/queues/{queue}", this::declareQueue);
        app.delete("/{app}/queues/{queue}/messages", ctx -> ctx.json(Map.of("purged", branch.queues().purge(app(ctx), ctx.pathParam("queue")))));
        app.delete("/{app}/queues/{queue}", ctx -> {
            branch.queues().delete(app(ctx), ctx.pathParam("queue"));
            ok(ctx, "ok");
        });

        app.post("/{app}/tasks/{task}", this::sendTask);
        TaskRoutes.register(app, branch);
        app.get("/{app}/query/{id}/state", ctx -> ctx.json(Map.of("state", result(ctx, null).state().name())));
        app.get("/{app}/query/{id}/result", ctx -> ctx.json(resultBody(result(ctx, null))));
        app.get("/{app}/query/{id}/wait", ctx -> {
            Double timeout = Params.number(Params.of(ctx), "timeout");
            ctx.json(resultBody(result(ctx, waitTime(timeout))));
        });
    }

    /** What a changing route does, from its path parameters and request parameters. */
    @FunctionalInterface
    private interface Action {
        Object run(Map<String, String> path, Map<String, Object> params);
    }

    /**
     * A route that changes something, plus its async twin with {@code !/} after the collection
     * name: 202 at once, the work done in the background. GET on the twin is 405.
     */
    private void mutating(HandlerType method, String path, int status, Action action) {
        app.addHttpHandler(method, path, ctx -> ctx.status(status).json(action.run(ctx.pathParamMap(), Params.of(ctx))));
        String async = path.replace("/instances", "/instances/" + ASYNC);
        app.addHttpHandler(method, async, ctx -> {
            Map<String, String> pathParams = Map.copyOf(ctx.pathParamMap());
            Map<String, Object> params = Params.of(ctx);
            String requestPath = ctx.path(); // the request is gone by the time the work ends
            try {
                background.execute(() -> {
                    try {
                        action.run(pathParams, params);
                    } catch (RuntimeException e) {
                        log.warn("async {} {} failed: {}", method, requestPath, e.getMessage());
                    }
                });
            } catch (RejectedExecutionException e) {
                ctx.header("Retry-After", "1");
                error(ctx, 503, "too many operations in the background (" + background.getMaximumPoolSize() + " running, "
                        + background.getQueue().size() + " waiting): try again later, or without !/");
                return;
            }
            ctx.status(202).json(Map.of("ok", "operation scheduled"));
        });
        if (method != HandlerType.GET && !asyncGets.contains(async)) {
            asyncGets.add(async);
            app.get(async, ctx -> error(ctx, 405, "an operation with !/ cannot be a GET"));
        }
    }

    private void putApp(Context ctx) {
        Map<String, Object> params = Params.normalize(Params.of(ctx),
                List.of("classpath", "jvm_options", "default_queues"), List.of("env", "extra_config"));
        Apps.Saved<?> saved = branch.apps().put(app(ctx), params);
        ctx.status(saved.created() ? 201 : 200).json(saved.value());
    }

    private void putConfig(Context ctx) {
        Map<String, Object> params = Params.normalize(Params.of(ctx), List.of(), List.of("config"));
        for (String key : params.keySet()) {
            if (!key.equals("config_id") && !key.equals("config")) {
                throw BranchException.invalid("unknown config field '" + key + "' (known: config_id, config)");
            }
        }
        Object config = params.get("config");
        if (config != null && !(config instanceof Map)) {
            throw BranchException.invalid("config must be a JSON object");
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> value = (Map<String, Object>) config;
        ctx.json(branch.apps().putConfig(app(ctx), configId(params.get("config_id")), value));
    }

    /** A config id as given: a string, or a whole number (MAUS's ids), whose digits are the id; null when none was given. */
    private static String configId(Object id) {
        if (id == null || id instanceof String) {
            return (String) id;
        }
        if (id instanceof Integer || id instanceof Long || id instanceof java.math.BigInteger) {
            return id.toString();
        }
        throw BranchException.invalid("config_id must be a string or a whole number");
    }

    /** Creates the instance here: {@code branch} and {@code placement} were used by the router to get here. */
    private Object createInstance(Map<String, String> path, String name, Map<String, Object> params) {
        return branch.instances().create(path.get("app"), name, InstanceRequests.from(params));
    }

    private void declareQueue(Context ctx) {
        Map<String, Object> params = Params.normalize(Params.of(ctx), List.of(), List.of("options"));
        if (params.get("options") != null && !(params.get("options") instanceof Map<?, ?>)) {
            throw BranchException.invalid("options must be a JSON object");
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> options = (Map<String, Object>) params.get("options");
        QueueSpec spec = new QueueSpec(ctx.pathParam("queue"), Params.text(params, "exchange"),
                Params.text(params, "exchange_type"), Params.text(params, "routing_key"), options);
        Apps.Saved<QueueSpec> saved = branch.queues().declare(app(ctx), spec);
        ctx.status(201).json(saved.value());
    }

    private void sendTask(Context ctx) {
        Map<String, Object> params = Params.of(ctx);
        JsonNode args = params.get("args") == null ? null : Json.tree(params.get("args"));
        JsonNode kwargs = params.get("kwargs") == null ? null : Json.tree(params.get("kwargs"));
        String id = branch.tasks().send(app(ctx), ctx.pathParam("task"), args, kwargs, Params.text(params, "queue"),
                Params.number(params, "countdown"));
        ctx.status(202).json(Map.of("id", id));
    }

    private TaskResult result(Context ctx, Duration wait) {
        return branch.tasks().result(app(ctx), ctx.pathParam("id"), wait);
    }

    /** The wait a {@code timeout} asks for: 0 to {@link Limits#MAX_WAIT_SECONDS} seconds, 30 when not given. */
    static Duration waitTime(Double timeout) {
        double seconds = timeout == null ? DEFAULT_WAIT_SECONDS : timeout;
        if (!(seconds >= 0 && seconds <= Limits.MAX_WAIT_SECONDS)) {
            throw BranchException.invalid("timeout must be between 0 and " + Limits.MAX_WAIT_SECONDS
                    + " seconds (the wait limit), got " + (timeout == null ? "none" : Params.shown(timeout)));
        }
        return Duration.ofMillis(Math.round(seconds * 1000));
    }

    private static Map<String, Object> resultBody(TaskResult result) {
        Map<String, Object> body = new java.util.LinkedHashMap<>();
        body.put("state", result.state().name());
        body.put("result", result.result());
        if (result.traceback() != null) body.put("traceback", result.traceback());
        return body;
    }

    /**
     * Reads the request body up front (Javalin keeps it for the handler): a body Jetty cannot read
     * (bad chunking, cut short) is a 400 here, where Javalin would take it for a client abort and
     * answer an empty 500.
     */
    private static void readBody(Context ctx) {
        if (ctx.req().getContentLengthLong() <= 0 && ctx.header("Transfer-Encoding") == null) {
            return;
        }
        try {
            ctx.bodyAsBytes();
        } catch (HttpResponseException e) {
            throw e;
        } catch (Exception e) {
            BadMessageException bad = JsonErrorHandler.badMessage(e);
            if (bad != null && bad.getCode() == 413) {
                throw new BranchException(413, bad.getReason());
            }
            throw new BranchException(bad != null ? bad.getCode() : 400, "could not read the request body: "
                    + (bad != null ? bad.getReason() : e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName()));
        }
    }

    /** The sentence for an error Javalin chose itself, before or instead of a route. */
    private static String javalinError(Context ctx, int status, String reason) {
        String method = ctx.req().getMethod();
        return switch (status) {
            case 404 -> "no such route: " + method + " " + ctx.path();
            case 405 -> "method " + method + " is not allowed on " + ctx.path();
            case 413 -> "request body too large (at most " + MAX_BODY_BYTES + " bytes)";
            default -> JsonErrorHandler.message(status, reason);
        };
    }

    private void authenticate(Context ctx) {
        if (token == null || (ctx.method() == HandlerType.GET && ctx.path().equals("/ping")) || UiRoutes.isPublic(ctx)) {
            return;
        }
        String header = ctx.header("Authorization");
        if (header == null || !java.security.MessageDigest.isEqual(header.getBytes(), ("Bearer " + token).getBytes())) {
            throw new BranchException(401, "missing or wrong bearer token (Authorization: Bearer <token>)");
        }
    }

    private static String app(Context ctx) {
        return ctx.pathParam("app");
    }

    private static String name(Context ctx) {
        return ctx.pathParam("name");
    }

    private static void ok(Context ctx, Object value) {
        ctx.json(Map.of("ok", value));
    }

    private static void error(Context ctx, int status, String message) {
        ctx.status(status).json(Map.of("error", message));
    }

    /**
     * HEAD is answered as GET would be, without the body (Jetty drops it for a HEAD request):
     * the same status, headers and authentication, instead of Javalin's bodiless 200 for any path
     * a GET route matches.
     */
    public static final class HeadAsGet implements jakarta.servlet.Filter {
        @Override
        public void doFilter(jakarta.servlet.ServletRequest request, jakarta.servlet.ServletResponse response,
                jakarta.servlet.FilterChain chain) throws java.io.IOException, jakarta.servlet.ServletException {
            if (request instanceof jakarta.servlet.http.HttpServletRequest http && "HEAD".equals(http.getMethod())) {
                request = new jakarta.servlet.http.HttpServletRequestWrapper(http) {
                    @Override
                    public String getMethod() {
                        return "GET";
                    }
                };
            }
            chain.doFilter(request, response);
        }
    }

    public HttpApi start(String host, int port) {
        return start(host, port, null);
    }

    /** @param tls what to serve HTTPS with and whom to trust when forwarding ({@link Tls#load}), or null for plain HTTP */
    public HttpApi start(String host, int port, Tls tls) {
        if (tls != null) {
            router.trust(tls.clientContext());
            if (tls.serves()) {
                app.unsafeConfig().jetty.addConnector((server, http) -> tls.connector(server, http, host, port));
            }
        }
        app.start(host, port);
        return this;
    }

    public int port() {
        return app.port();
    }

    /** Every route as the router holds it: {@code METHOD /path/{param}}. */
    List<String> registeredRoutes() {
        return app.unsafeConfig().pvt.internalRouter.allHttpHandlers().stream()
                .map(io.javalin.router.ParsedEndpoint::getEndpoint)
                .filter(endpoint -> endpoint.getMethod().isHttpMethod())
                .map(endpoint -> endpoint.getMethod().name() + " " + endpoint.getPath())
                .toList();
    }

    @Override
    public void close() {
        app.stop();
        background.shutdownNow();
    }
}
