package jcyme.http;

import io.javalin.Javalin;
import io.javalin.http.Context;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Semaphore;
import jcyme.branch.Branch;
import jcyme.branch.BranchEvent;
import jcyme.branch.BranchException;
import jcyme.branch.EventLog;
import jcyme.tasks.Json;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code GET /events?since=&limit=} (a page of the branch's kept events) and
 * {@code GET /events/stream?since=} (Server-Sent Events: kept events after {@code since}, then
 * every event live, a {@code : ping} comment every 15 s). A stream holds one request thread for
 * its life, so at most {@value #MAX_STREAMS} are open at once; it ends when the client goes (seen
 * when a write fails: within two pings) or falls {@value EventLog#SUBSCRIBER_BACKLOG} events
 * behind (then its last line says so, and the client may reconnect with {@code since}).
 */
final class EventRoutes {
    private static final Logger log = LoggerFactory.getLogger(EventRoutes.class);
    static final int DEFAULT_LIMIT = 100;
    static final int MAX_STREAMS = 32;
    static final Duration PING = Duration.ofSeconds(15);
    private static final int CATCH_UP_PAGE = 1000;

    private final EventLog events;
    private final Semaphore streams = new Semaphore(MAX_STREAMS);

    private EventRoutes(EventLog events) {
        this.events = events;
    }

    static void register(Javalin app, Branch branch) {
        EventRoutes routes = new EventRoutes(branch.events());
        app.get("/events", routes::page);
        app.get("/events/stream", routes::stream);
    }

    /** Kept events after {@code since}, oldest first; without {@code since}, the newest {@code limit}. */
    private void page(Context ctx) {
        Map<String, Object> params = Params.of(ctx);
        Long since = seq(params.get("since"), "since");
        Integer limit = Params.integer(params, "limit");
        int count = limit == null ? DEFAULT_LIMIT : limit;
        long after = since != null ? since : Math.max(0, events.latest() - Math.max(count, 0));
        List<BranchEvent> page = events.since(after, count);
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("events", page.stream().map(BranchEvent::flattened).toList());
        body.put("next", page.isEmpty() ? Math.min(after, events.latest()) : page.get(page.size() - 1).seq());
        ctx.json(body);
    }

    private void stream(Context ctx) {
        String resume = ctx.header("Last-Event-ID");
        Long since = seq(Params.of(ctx).get("since"), "since");
        if (since == null && resume != null && !resume.isBlank()) {
            since = seq(resume.trim(), "Last-Event-ID");
        }
        if (isHead(ctx)) {
            ctx.contentType("text/event-stream;charset=utf-8"); // a HEAD gets the headers alone: no body, so no stream
            return;
        }
        if (!streams.tryAcquire()) {
            throw new BranchException(503, "too many event streams open (the limit is " + MAX_STREAMS + "); try again later");
        }
        String who = "event stream to " + ctx.req().getRemoteAddr() + ":" + ctx.req().getRemotePort();
        long sent = 0;
        String end = "the branch is stopping";
        try (EventLog.Subscription live = events.subscribe(who)) {
            long last = since != null ? since : events.latest();
            log.info("{} opened after seq {}", who, last);
            ctx.res().setStatus(200);
            ctx.res().setContentType("text/event-stream;charset=utf-8");
            ctx.res().setHeader("Cache-Control", "no-cache");
            ctx.res().setHeader("X-Accel-Buffering", "no");
            OutputStream out = ctx.res().getOutputStream();
            write(out, ": events after " + last + "\n\n"); // sends the headers now
            for (List<BranchEvent> page = events.since(last, CATCH_UP_PAGE); !page.isEmpty(); page = events.since(last, CATCH_UP_PAGE)) {
                for (BranchEvent event : page) {
                    send(out, event);
                    sent++;
                    last = event.seq();
                }
                out.flush();
            }
            long nextPing = System.nanoTime() + PING.toNanos();
            while (true) {
                BranchEvent first = live.next(Duration.ofNanos(Math.max(1, nextPing - System.nanoTime())));
                // whatever else is queued already goes out in the same write: one flush per burst, not per event
                for (BranchEvent event = first; event != null; event = live.next(Duration.ZERO)) {
                    if (!event.kept() || event.seq() > last) {
                        send(out, event);
                        sent++;
                        last = Math.max(last, event.seq());
                    }
                }
                if (first != null) {
                    out.flush();
                }
                if (live.dropped()) {
                    end = "it fell " + EventLog.SUBSCRIBER_BACKLOG + " events behind";
                    write(out, ": dropped: this client fell " + EventLog.SUBSCRIBER_BACKLOG + " events behind; reconnect with since="
                            + last + "\n\n");
                    return;
                }
                if (System.nanoTime() - nextPing >= 0) {   // every PING, busy or quiet
                    write(out, ": ping\n\n");
                    nextPing = System.nanoTime() + PING.toNanos();
                }
            }
        } catch (IOException gone) {
            end = "the client went away";
        } catch (InterruptedException stopping) {
            Thread.currentThread().interrupt();
        } finally {
            streams.release();
            log.info("{} closed after {} event(s): {}", who, sent, end);
        }
    }

    /** A HEAD request, which {@link HttpApi.HeadAsGet} hands on as a GET: the request as it came says so. */
    private static boolean isHead(Context ctx) {
        jakarta.servlet.ServletRequest request = ctx.req();
        while (request instanceof jakarta.servlet.ServletRequestWrapper wrapper) {
            request = wrapper.getRequest();
        }
        return request instanceof jakarta.servlet.http.HttpServletRequest original && "HEAD".equals(original.getMethod());
    }

    /**
     * One event, not yet flushed: {@code id} (kept events only, so a reconnect resumes after it),
     * {@code event} and {@code data} lines.
     */
    private static void send(OutputStream out, BranchEvent event) throws IOException {
        String data = Json.MAPPER.writeValueAsString(event.flattened());
        out.write(((event.kept() ? "id: " + event.seq() + "\n" : "") + "event: " + event.kind() + "\ndata: " + data + "\n\n")
                .getBytes(StandardCharsets.UTF_8));
    }

    private static void write(OutputStream out, String text) throws IOException {
        out.write(text.getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    /** A sequence number parameter: absent (null), or a whole number of 0 or more. */
    private static Long seq(Object value, String name) {
        if (value == null || value.toString().isBlank()) {
            return null;
        }
        String text = value.toString().trim();
        if (!text.matches("\\d{1,18}")) {
            throw BranchException.invalid(name + " must be a whole number of 0 or more, got '" + text + "'");
        }
        return Long.parseLong(text);
    }
}
