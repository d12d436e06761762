package jcyme.http;

import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import jcyme.tasks.Json;
import org.eclipse.jetty.http.BadMessageException;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.handler.ErrorHandler;

/** Errors Jetty answers before a route runs (malformed or ambiguous requests) in the API's JSON shape too. */
final class JsonErrorHandler extends ErrorHandler {

    @Override
    public ByteBuffer badMessageError(int status, String reason, HttpFields.Mutable fields) {
        fields.put(HttpHeader.CONTENT_TYPE, "application/json");
        return ByteBuffer.wrap(body(status, reason));
    }

    @Override
    public void handle(String target, Request baseRequest, HttpServletRequest request, HttpServletResponse response)
            throws IOException {
        baseRequest.setHandled(true);
        Object message = request.getAttribute("jakarta.servlet.error.message");
        int status = response.getStatus();
        BadMessageException bad = request.getAttribute("jakarta.servlet.error.exception") instanceof Throwable t ? badMessage(t) : null;
        if (bad != null) {
            // a request Jetty could not read (a malformed body) is the client's error, not the server's
            status = bad.getCode();
            message = bad.getReason();
            response.setStatus(status);
        }
        response.setContentType("application/json");
        response.getOutputStream().write(body(status, message == null ? null : message.toString()));
    }

    /** The malformed-request error behind {@code error}, if that is what it is. */
    static BadMessageException badMessage(Throwable error) {
        for (Throwable t = error; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof BadMessageException bad) {
                return bad;
            }
        }
        return null;
    }

    private static byte[] body(int status, String reason) {
        String text = status == 400 && (reason == null || reason.isBlank() || reason.equals("Bad Request"))
                ? "malformed request (paths may not contain encoded '/' or '..' segments)"
                : message(status, reason);
        return Json.string(Map.of("error", text)).getBytes(StandardCharsets.UTF_8);
    }

    /** One sentence for a status: the reason given, else the status's own name ("request header fields too large"). */
    static String message(int status, String reason) {
        String name = HttpStatus.getMessage(status);
        String sentence = reason != null && !reason.isBlank() && !reason.equals(name) ? reason
                : name == null ? "HTTP " + status : name.toLowerCase(java.util.Locale.ROOT);
        return status < 500 && status != 404 && status != 405 && !sentence.startsWith("malformed")
                ? "malformed request: " + sentence : sentence;
    }
}
