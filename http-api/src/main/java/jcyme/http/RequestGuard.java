package jcyme.http;

import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ReadListener;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletInputStream;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletRequestWrapper;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.net.URI;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import jcyme.branch.Limits;
import jcyme.tasks.Json;
import org.eclipse.jetty.http.BadMessageException;

/**
 * What keeps web pages and DNS rebinding away from a branch, before any route runs:
 * <ul>
 * <li>the {@code Host} a request names must be allowed — loopback ({@code localhost}, {@code 127.0.0.1},
 *     {@code [::1]}), the bound address (every address of this host for a wildcard bind), the
 *     advertised URL's host, or one given with {@code --allowed-hosts} — on any port;</li>
 * <li>a request that changes something (any method but GET, HEAD and OPTIONS) and carries an
 *     {@code Origin} must come from the branch's own origin or the {@code --cors-origin} one; without
 *     an {@code Origin}, a browser's {@code Sec-Fetch-Site} other than same-origin or none is refused too;</li>
 * <li>a request body is read up to {@link Limits#MAX_BODY_BYTES}, also when it is chunked.</li>
 * </ul>
 * A refused request is a 403 (413 for a body too large) with the API's JSON error, and reaches no
 * route, so it changes nothing. Clients that are not browsers (curl, cyme, BranchClient, Cyme's
 * Python client, branches forwarding to each other) send no {@code Origin} and are unaffected.
 */
public final class RequestGuard implements Filter {
    private static final Set<String> SAFE_METHODS = Set.of("GET", "HEAD", "OPTIONS");
    private static final Set<String> BROWSER_SAME = Set.of("same-origin", "none");
    private static final Pattern IPV4 = Pattern.compile("(\\d{1,3})\\.(\\d{1,3})\\.(\\d{1,3})\\.(\\d{1,3})");
    private static final Pattern BAD_ESCAPE = Pattern.compile("%(?![0-9A-Fa-f]{2})");
    private static final Pattern IPV6 = Pattern.compile("[0-9a-f:.]*:[0-9a-f:.]*(%[0-9a-z_.-]+)?");

    private final Set<String> hosts;
    private final Set<String> origins;
    private final long maxBody;

    private RequestGuard(Set<String> hosts, Set<String> origins, long maxBody) {
        this.hosts = Set.copyOf(hosts);
        this.origins = Set.copyOf(origins);
        this.maxBody = maxBody;
    }

    /**
     * The guard of a branch.
     *
     * @param bindHost     the host the API listens on ({@code 0.0.0.0} or {@code ::} for every address)
     * @param advertisedUrl the URL the branch gives clients and other branches, or null
     * @param allowedHosts  more host names or addresses clients may use (ports are ignored)
     * @param corsOrigin    the one other origin allowed to change things, or null
     */
    public static RequestGuard of(String bindHost, String advertisedUrl, Collection<String> allowedHosts, String corsOrigin) {
        Set<String> hosts = new LinkedHashSet<>();
        String bind = normalizeHost(bindHost);
        if (bind.equals("0.0.0.0") || bind.equals("::") || bind.equals("0:0:0:0:0:0:0:0")) {
            hosts.addAll(localAddresses());
        } else if (!bind.isEmpty()) {
            hosts.add(bind);
        }
        Set<String> origins = new LinkedHashSet<>();
        if (advertisedUrl != null) {
            String origin = origin(advertisedUrl);
            if (origin != null) {
                origins.add(origin);
                hosts.add(normalizeHost(URI.create(advertisedUrl).getHost()));
            }
        }
        for (String host : allowedHosts) {
            if (!host.isBlank()) {
                hosts.add(normalizeHost(hostPart(host.trim())));
            }
        }
        if (corsOrigin != null && !corsOrigin.isBlank()) {
            String origin = origin(corsOrigin.trim());
            if (origin == null) {
                throw new IllegalArgumentException("--cors-origin must be scheme://host[:port], got '" + corsOrigin + "'");
            }
            origins.add(origin);
        }
        return new RequestGuard(hosts, origins, Limits.MAX_BODY_BYTES);
    }

    /** The hosts allowed besides loopback, normalized (for messages and tests). */
    Set<String> hosts() {
        return hosts;
    }

    @Override
    public void doFilter(ServletRequest request, ServletResponse response, FilterChain chain) throws IOException, ServletException {
        if (!(request instanceof HttpServletRequest http) || !(response instanceof HttpServletResponse out)) {
            chain.doFilter(request, response);
            return;
        }
        String refusal = refusal(http);
        if (refusal != null) {
            refuse(http, out, 403, refusal);
            return;
        }
        if (badEscape(http.getRequestURI()) || badEscape(http.getQueryString())) {
            // Javalin would decode it with URLDecoder, whose exception is no client error of its own
            refuse(http, out, 400, "malformed request: the URL has a '%' that is not followed by two hex digits");
            return;
        }
        chain.doFilter(new LimitedBody(http, maxBody), response);
    }

    /** Why the request is refused, or null. */
    String refusal(HttpServletRequest request) {
        String hostHeader = request.getHeader("Host");
        if (hostHeader != null && !allowedHost(normalizeHost(hostPart(hostHeader.trim())))) {
            return hostRefusal(hostHeader);
        }
        String serverName = request.getServerName();
        if (serverName != null && !serverName.isEmpty() && !allowedHost(normalizeHost(serverName))) {
            return hostRefusal(serverName);
        }
        if (SAFE_METHODS.contains(request.getMethod())) {
            return null;
        }
        List<String> given = Collections.list(request.getHeaders("Origin"));
        if (given.size() > 1) {
            return "a request that changes something may carry one Origin header, not " + given.size();
        }
        if (given.size() == 1) {
            String origin = origin(given.get(0).trim());
            if (origin != null && (origins.contains(origin) || origin.equals(ownOrigin(request, hostHeader)))) {
                return null;
            }
            return "cross-origin request refused: a page from origin '" + shown(given.get(0)) + "' may not change this branch"
                    + " (allowed: the branch's own origin" + (origins.isEmpty() ? "" : ", " + String.join(", ", origins))
                    + "; another origin with --cors-origin)";
        }
        String site = request.getHeader("Sec-Fetch-Site");
        if (site != null && !BROWSER_SAME.contains(site.trim().toLowerCase(Locale.ROOT))) {
            return "cross-site request refused: a browser page from another site may not change this branch"
                    + " (Sec-Fetch-Site: " + shown(site) + ")";
        }
        return null;
    }

    private static boolean badEscape(String text) {
        return text != null && text.indexOf('%') >= 0 && BAD_ESCAPE.matcher(text).find();
    }

    private static String hostRefusal(String host) {
        String name = shown(hostPart(host.trim()));
        return "host '" + name + "' is not allowed: this branch answers to localhost, loopback addresses, its bind address and"
                + " advertised host (a guard against DNS rebinding); start it with --allowed-hosts " + name + " to allow it";
    }

    private boolean allowedHost(String host) {
        if (host.equals("localhost") || hosts.contains(host)) {
            return true;
        }
        InetAddress literal = literal(host);
        return literal != null && literal.isLoopbackAddress();
    }

    /** The origin of the URL this request was sent to: its scheme and the Host it names. */
    private static String ownOrigin(HttpServletRequest request, String hostHeader) {
        if (hostHeader == null) {
            return null;
        }
        return origin(request.getScheme() + "://" + hostHeader.trim());
    }

    /** {@code scheme://host:port}, normalized (lower case, default port written out), or null if {@code text} is not an origin. */
    static String origin(String text) {
        try {
            URI uri = new URI(text);
            String scheme = uri.getScheme() == null ? null : uri.getScheme().toLowerCase(Locale.ROOT);
            if (scheme == null || uri.getHost() == null || uri.getRawUserInfo() != null || uri.getRawQuery() != null
                    || uri.getRawFragment() != null || (uri.getRawPath() != null && !uri.getRawPath().isEmpty() && !uri.getRawPath().equals("/"))) {
                return null;
            }
            int port = uri.getPort() >= 0 ? uri.getPort() : scheme.equals("https") ? 443 : scheme.equals("http") ? 80 : -1;
            String host = normalizeHost(uri.getHost());
            return scheme + "://" + (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
        } catch (java.net.URISyntaxException e) {
            return null;
        }
    }

    /** The host of {@code host[:port]} or {@code [v6][:port]}. */
    static String hostPart(String text) {
        if (text.startsWith("[")) {
            int end = text.indexOf(']');
            return end < 0 ? text : text.substring(0, end + 1);
        }
        int colon = text.indexOf(':');
        return colon >= 0 && colon == text.lastIndexOf(':') ? text.substring(0, colon) : text;
    }

    /** Lower case, without brackets; an IP address in its canonical form. */
    static String normalizeHost(String host) {
        String h = host == null ? "" : host.trim().toLowerCase(Locale.ROOT);
        if (h.startsWith("[") && h.endsWith("]")) {
            h = h.substring(1, h.length() - 1);
        }
        InetAddress literal = literal(h);
        if (literal != null) {
            String address = literal.getHostAddress();
            int scope = address.indexOf('%');
            return scope >= 0 ? address.substring(0, scope) : address;
        }
        return h;
    }

    /** The address {@code host} spells as an IP literal, or null; never a name lookup. */
    private static InetAddress literal(String host) {
        try {
            Matcher v4 = IPV4.matcher(host);
            if (v4.matches()) {
                byte[] bytes = new byte[4];
                for (int i = 0; i < 4; i++) {
                    int part = Integer.parseInt(v4.group(i + 1));
                    if (part > 255) return null;
                    bytes[i] = (byte) part;
                }
                return InetAddress.getByAddress(bytes);
            }
            if (IPV6.matcher(host).matches()) {
                // in brackets, InetAddress parses a literal or fails: it never looks the text up as a name
                return InetAddress.getByName("[" + host + "]");
            }
        } catch (UnknownHostException | RuntimeException e) {
            return null;
        }
        return null;
    }

    private static Set<String> localAddresses() {
        Set<String> addresses = new LinkedHashSet<>();
        try {
            for (NetworkInterface nic : Collections.list(NetworkInterface.getNetworkInterfaces())) {
                for (InetAddress address : Collections.list(nic.getInetAddresses())) {
                    addresses.add(normalizeHost(address.getHostAddress()));
                }
            }
        } catch (SocketException e) {
            // none then: loopback, the advertised host and --allowed-hosts still apply
        }
        return addresses;
    }

    /** Printable ASCII, at most 200 characters: safe in a message and a log line. */
    static String shown(String text) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < text.length() && out.length() < 200; i++) {
            char c = text.charAt(i);
            out.append(c >= 0x20 && c < 0x7f ? c : '?');
        }
        return out.toString();
    }

    private static void refuse(HttpServletRequest request, HttpServletResponse response, int status, String message) throws IOException {
        response.setStatus(status);
        response.setContentType("application/json");
        byte[] body = Json.string(Map.of("error", message)).getBytes(StandardCharsets.UTF_8);
        response.setContentLength(body.length);
        if (!"HEAD".equals(request.getMethod())) {
            response.getOutputStream().write(body);
        }
    }

    /** The request with its body readable up to {@code max} bytes; reading more is a 413. */
    private static final class LimitedBody extends HttpServletRequestWrapper {
        private final long max;
        private ServletInputStream stream;

        LimitedBody(HttpServletRequest request, long max) {
            super(request);
            this.max = max;
        }

        @Override
        public ServletInputStream getInputStream() throws IOException {
            if (stream == null) {
                ServletInputStream in = super.getInputStream();
                stream = new ServletInputStream() {
                    private long read;

                    private int count(int n) {
                        if (n > 0) {
                            read += n;
                            if (read > max) {
                                throw new BadMessageException(413, "request body too large (at most " + max + " bytes)");
                            }
                        }
                        return n;
                    }

                    @Override
                    public int read() throws IOException {
                        int b = in.read();
                        if (b >= 0) count(1);
                        return b;
                    }

                    @Override
                    public int read(byte[] buffer, int offset, int length) throws IOException {
                        return count(in.read(buffer, offset, length));
                    }

                    @Override
                    public boolean isFinished() {
                        return in.isFinished();
                    }

                    @Override
                    public boolean isReady() {
                        return in.isReady();
                    }

                    @Override
                    public void setReadListener(ReadListener listener) {
                        in.setReadListener(listener);
                    }
                };
            }
            return stream;
        }
    }
}
