package jcyme.http;

import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import jcyme.tasks.Json;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
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
        response.setContentType("application/json");
        Object message = request.getAttribute("jakarta.servlet.error.message");
        response.getOutputStream().write(body(response.getStatus(), message == null ? null : message.toString()));
    }

    private static byte[] body(int status, String reason) {
        String text = "malformed request" + (reason == null || reason.isBlank() ? "" : ": " + reason)
                + (status == 400 ? " (paths may not contain encoded '/' or '..' segments)" : "");
        return Json.string(Map.of("error", text)).getBytes(StandardCharsets.UTF_8);
    }
}
