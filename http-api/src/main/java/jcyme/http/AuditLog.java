package jcyme.http;

import java.util.Set;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.RequestLog;
import org.eclipse.jetty.server.Response;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One line on the {@value #LOGGER} logger for every request that may change something (any method
 * but GET, HEAD and OPTIONS), answered or refused, also when Jetty refused it before any route:
 * <pre>POST /pycon/instances/w1 201 from 127.0.0.1:53122 token=no</pre>
 * — method, path (never the query, which may hold a broker URL's password), status, the peer
 * address, whether a bearer token was sent (never the token), and the {@code Origin} and the
 * forwarding branch when there are.
 */
final class AuditLog implements RequestLog {
    static final String LOGGER = "audit";
    private static final Logger log = LoggerFactory.getLogger(LOGGER);
    private static final Set<String> READS = Set.of("GET", "HEAD", "OPTIONS");

    @Override
    public void log(Request request, Response response) {
        String method = request.getMethod();
        if (method != null && READS.contains(method) || !log.isInfoEnabled()) {
            return;
        }
        int status = response.getCommittedMetaData() != null ? response.getCommittedMetaData().getStatus() : response.getStatus();
        String path = request.getHttpURI() == null ? null : request.getHttpURI().getPath();
        StringBuilder line = new StringBuilder()
                .append(method == null ? "-" : RequestGuard.shown(method)).append(' ')
                .append(path == null ? "-" : RequestGuard.shown(path)).append(' ')
                .append(status)
                .append(" from ").append(request.getRemoteAddr()).append(':').append(request.getRemotePort())
                .append(" token=").append(request.getHeader("Authorization") != null ? "yes" : "no");
        String origin = request.getHeader("Origin");
        if (origin != null) {
            line.append(" origin=").append(RequestGuard.shown(origin));
        }
        String forwardedBy = request.getHeader(ClusterRouter.FORWARDED);
        if (forwardedBy != null) {
            line.append(" forwarded-by=").append(RequestGuard.shown(forwardedBy));
        }
        log.info("{}", line);
    }
}
