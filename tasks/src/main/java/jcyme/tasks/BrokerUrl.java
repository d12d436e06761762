package jcyme.tasks;

import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.RecoveryDelayHandler;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.security.KeyManagementException;
import java.security.NoSuchAlgorithmException;

/**
 * A broker address in Celery's form: {@code amqp://user:password@host:port/vhost}. Like Celery, a
 * path of {@code /} or {@code //} (or none) means the virtual host {@code /}; {@code pyamqp://}
 * and {@code amqps://} are accepted too. Missing parts default to guest:guest@127.0.0.1:5672.
 */
public record BrokerUrl(String scheme, String user, String password, String host, int port, String virtualHost) {

    public static final String DEFAULT = "amqp://guest:guest@127.0.0.1:5672//";

    /** What every answer and log line shows instead of a password. */
    public static final String MASK = "********";

    /** The environment variable a worker reads its broker URL from when {@code -b} is not given. */
    public static final String ENV = "JCYME_BROKER_URL";

    private static final java.util.regex.Pattern PASSWORD =
            java.util.regex.Pattern.compile("([A-Za-z][A-Za-z0-9+.-]*://[^:/@\\s]*:)[^@\\s]*@");

    /**
     * {@code text} with the password of every URL in it replaced by {@link #MASK}, the rest as
     * written: for a URL shown in an answer or a log line, or an error message quoting one.
     */
    public static String mask(String text) {
        return text == null ? null : PASSWORD.matcher(text).replaceAll("$1" + java.util.regex.Matcher.quoteReplacement(MASK) + "@");
    }

    /** True when the URL's password is the mask itself (a masked URL sent back). */
    public static boolean isMasked(String text) {
        return text != null && text.contains(":" + MASK + "@");
    }

    public static BrokerUrl parse(String text) {
        URI uri;
        try {
            uri = new URI(text.replaceFirst("^([a-z]+://[^/]*)//$", "$1/%2F"));
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("broker URL is not a URL: " + mask(text));
        }
        String scheme = uri.getScheme() == null ? "" : uri.getScheme();
        if (!scheme.equals("amqp") && !scheme.equals("amqps") && !scheme.equals("pyamqp")) {
            throw new IllegalArgumentException("broker URL must start with amqp://, amqps:// or pyamqp://: " + mask(text));
        }
        if (uri.getHost() == null) {
            throw new IllegalArgumentException("broker URL has no host: " + mask(text));
        }
        String user = "guest";
        String password = "guest";
        if (uri.getRawUserInfo() != null) {
            String[] parts = uri.getRawUserInfo().split(":", 2);
            user = decode(parts[0]);
            password = parts.length > 1 ? decode(parts[1]) : "";
        }
        String path = uri.getRawPath() == null ? "" : uri.getRawPath();
        String vhost = path.isEmpty() || path.equals("/") ? "/" : decode(path.substring(1));
        boolean tls = scheme.equals("amqps");
        int port = uri.getPort() > 0 ? uri.getPort() : tls ? 5671 : 5672;
        return new BrokerUrl(tls ? "amqps" : "amqp", user, password, uri.getHost(), port, vhost);
    }

    /** The URL with the password masked, for logs and stats. */
    public String display() {
        return scheme + "://" + user + ":" + MASK + "@" + host + ":" + port + "/" + (virtualHost.equals("/") ? "/" : virtualHost);
    }

    @Override
    public String toString() {
        return display();
    }

    /**
     * A connection factory for this broker that recovers lost connections by itself (topology,
     * qos and consumers included), retrying with an exponential backoff capped at {@code maxBackoffMs}.
     */
    public ConnectionFactory connectionFactory(long maxBackoffMs) {
        ConnectionFactory factory = new ConnectionFactory();
        factory.setHost(host);
        factory.setPort(port);
        factory.setUsername(user);
        factory.setPassword(password);
        factory.setVirtualHost(virtualHost);
        factory.setConnectionTimeout(5_000);
        factory.setRequestedHeartbeat(20);
        factory.setAutomaticRecoveryEnabled(true);
        factory.setTopologyRecoveryEnabled(true);
        factory.setRecoveryDelayHandler(backoff(250, maxBackoffMs));
        if (scheme.equals("amqps")) {
            try {
                factory.useSslProtocol();
            } catch (NoSuchAlgorithmException | KeyManagementException e) {
                throw new IllegalStateException("TLS is not available: " + e.getMessage(), e);
            }
        }
        return factory;
    }

    /** Exponential backoff: first, first*2, ... up to cap milliseconds. */
    public static RecoveryDelayHandler backoff(long firstMs, long capMs) {
        return attempt -> Math.min(capMs, firstMs << Math.min(attempt, 20));
    }

    private static String decode(String s) {
        return URLDecoder.decode(s.replace("+", "%2B"), StandardCharsets.UTF_8);
    }
}
