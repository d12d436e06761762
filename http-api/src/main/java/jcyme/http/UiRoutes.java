package jcyme.http;

import io.javalin.Javalin;
import io.javalin.http.Context;
import io.javalin.http.HandlerType;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;
import jcyme.branch.BranchException;

/**
 * The dashboard at {@code /ui}: the page, its scripts and styles from this jar's {@code jcyme/ui/},
 * and uPlot (the charts) from its webjar under {@code /ui/lib/}. The files hold no data, so they
 * load without the token; every call the page makes carries it. A Content-Security-Policy lets the
 * page load and talk to this origin only.
 */
final class UiRoutes {
    static final String CONTENT_SECURITY_POLICY = "default-src 'self'; script-src 'self'; style-src 'self'; "
            + "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
            + "frame-ancestors 'none'";
    private static final String PAGE = "jcyme/ui/";
    private static final String UPLOT = "META-INF/resources/webjars/uplot/" + webjarVersion("uplot") + "/dist/";
    private static final Pattern FILE = Pattern.compile("[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*\\.(html|js|css|svg)");
    private static final Map<String, String> TYPES = Map.of(
            "html", "text/html; charset=utf-8",
            "js", "text/javascript; charset=utf-8",
            "css", "text/css; charset=utf-8",
            "svg", "image/svg+xml");
    private static final Map<String, Optional<byte[]>> CACHE = new ConcurrentHashMap<>();

    private UiRoutes() {}

    /** Registered before the app routes, so that {@code /ui} is never taken for an app's name. */
    static void register(Javalin app) {
        app.get("/ui", ctx -> serve(ctx, PAGE, "index.html"));
        app.get("/ui/lib/{file}", ctx -> serve(ctx, UPLOT, ctx.pathParam("file")));
        app.get("/ui/{file}", ctx -> serve(ctx, PAGE, ctx.pathParam("file")));
    }

    /** A GET of the dashboard's files, which needs no token. */
    static boolean isPublic(Context ctx) {
        return ctx.method() == HandlerType.GET && (ctx.path().equals("/ui") || ctx.path().startsWith("/ui/"));
    }

    private static void serve(Context ctx, String dir, String file) {
        byte[] body = FILE.matcher(file).matches()
                ? CACHE.computeIfAbsent(dir + file, UiRoutes::read).orElse(null)
                : null;
        if (body == null) {
            throw new BranchException(404, "no such file in the dashboard: " + ctx.path());
        }
        ctx.header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
                .header("X-Content-Type-Options", "nosniff")
                .header("Referrer-Policy", "no-referrer")
                .header("Cache-Control", "no-cache")
                .contentType(TYPES.get(file.substring(file.lastIndexOf('.') + 1)))
                .result(body);
    }

    private static Optional<byte[]> read(String resource) {
        try (InputStream in = UiRoutes.class.getClassLoader().getResourceAsStream(resource)) {
            return in == null ? Optional.empty() : Optional.of(in.readAllBytes());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + resource, e);
        }
    }

    /** The version of the npm webjar {@code name} on the class path (its files live under that version). */
    private static String webjarVersion(String name) {
        String resource = "META-INF/maven/org.webjars.npm/" + name + "/pom.properties";
        try (InputStream in = UiRoutes.class.getClassLoader().getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("the " + name + " webjar is not on the class path");
            }
            Properties properties = new Properties();
            properties.load(in);
            return properties.getProperty("version");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + resource, e);
        }
    }
}
