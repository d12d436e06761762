package jcyme.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jakarta.servlet.http.HttpServletRequest;
import java.lang.reflect.Proxy;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class RequestGuardTest {
    final RequestGuard guard = RequestGuard.of("127.0.0.1", "http://127.0.0.1:8000", List.of("branch.example", "Other.Example:9"),
            "http://ui.example:3000");

    /** A request with these headers (name, value, ...); Host gives the server name, as Jetty does. */
    static HttpServletRequest request(String method, String... headers) {
        Map<String, List<String>> map = new LinkedHashMap<>();
        for (int i = 0; i < headers.length; i += 2) {
            map.computeIfAbsent(headers[i].toLowerCase(), k -> new java.util.ArrayList<>()).add(headers[i + 1]);
        }
        return (HttpServletRequest) Proxy.newProxyInstance(RequestGuardTest.class.getClassLoader(),
                new Class<?>[] {HttpServletRequest.class}, (proxy, m, args) -> switch (m.getName()) {
                    case "getMethod" -> method;
                    case "getScheme" -> "http";
                    case "getHeader" -> map.getOrDefault(((String) args[0]).toLowerCase(), List.of()).stream().findFirst().orElse(null);
                    case "getHeaders" -> Collections.enumeration(map.getOrDefault(((String) args[0]).toLowerCase(), List.of()));
                    case "getServerName" -> null;
                    default -> null;
                });
    }

    @Test
    void loopbackTheBindAddressTheAdvertisedHostAndAllowedHostsOnAnyPort() {
        for (String host : List.of("localhost", "LOCALHOST:1", "127.0.0.1:8000", "127.0.0.2", "[::1]:8000", "[0:0:0:0:0:0:0:1]",
                "branch.example:80", "other.example")) {
            assertNull(guard.refusal(request("GET", "Host", host)), host);
        }
        for (String host : List.of("evil.example", "evil.example:8000", "localhost.evil.example", "127.0.0.1.nip.io", "[::2]",
                "1.2.3.4", "0.0.0.0", "", "127.1", "2130706433", "localhost.", "[::1")) {
            String refusal = guard.refusal(request("GET", "Host", host));
            assertNotNull(refusal, host);
            assertTrue(refusal.contains("--allowed-hosts"), refusal);
        }
    }

    @Test
    void aWildcardBindAllowsThisHostsAddresses() {
        RequestGuard any = RequestGuard.of("0.0.0.0", null, List.of(), null);
        assertTrue(any.hosts().contains("127.0.0.1"), any.hosts().toString());
        assertNotNull(any.refusal(request("GET", "Host", "evil.example")));
    }

    @Test
    void changesFromAnotherOriginAreRefused() {
        assertNull(guard.refusal(request("POST", "Host", "127.0.0.1:8000")), "no Origin: curl, cyme, BranchClient");
        assertNull(guard.refusal(request("POST", "Host", "localhost:8001", "Origin", "http://localhost:8001")), "own origin");
        assertNull(guard.refusal(request("POST", "Host", "127.0.0.1", "Origin", "http://127.0.0.1:80")), "default port");
        assertNull(guard.refusal(request("POST", "Host", "127.0.0.1:8000", "Origin", "http://UI.example:3000")), "--cors-origin");
        assertNull(guard.refusal(request("POST", "Host", "branch.example:5", "Origin", "http://127.0.0.1:8000")), "advertised");
        assertNull(guard.refusal(request("GET", "Host", "127.0.0.1:8000", "Origin", "http://evil.example")), "reads are not changes");
        assertNull(guard.refusal(request("POST", "Host", "127.0.0.1:8000", "Sec-Fetch-Site", "same-origin")));
        assertNull(guard.refusal(request("POST", "Host", "127.0.0.1:8000", "Sec-Fetch-Site", "none")));
        for (String origin : List.of("http://evil.example", "null", "https://127.0.0.1:8000", "http://127.0.0.1:3000",
                "http://ui.example:3001", "", "%%%", "http://127.0.0.1:8000/path")) {
            assertNotNull(guard.refusal(request("POST", "Host", "127.0.0.1:8000", "Origin", origin)), origin);
            assertNotNull(guard.refusal(request("DELETE", "Host", "127.0.0.1:8000", "Origin", origin)), origin);
        }
        assertNotNull(guard.refusal(request("PUT", "Host", "127.0.0.1:8000", "Sec-Fetch-Site", "cross-site")));
        assertNotNull(guard.refusal(request("PUT", "Host", "127.0.0.1:8000", "Sec-Fetch-Site", "same-site")));
        assertNotNull(guard.refusal(request("PUT", "Host", "127.0.0.1:8000", "Origin", "http://127.0.0.1:8000",
                "Origin", "http://evil.example")), "two Origins");
    }

    @Test
    void origins() {
        assertEquals("http://a.example:80", RequestGuard.origin("HTTP://A.example"));
        assertEquals("https://a.example:443", RequestGuard.origin("https://a.example/"));
        assertEquals(RequestGuard.origin("http://[::1]:8000"), RequestGuard.origin("http://[0:0::1]:8000"));
        assertNull(RequestGuard.origin("null"));
        assertNull(RequestGuard.origin("http://a.example/x"));
        assertThrows(IllegalArgumentException.class, () -> RequestGuard.of("127.0.0.1", null, List.of(), "not an origin"));
    }
}
