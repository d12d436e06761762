package jcyme.http;

import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.SecureRequestCustomizer;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.SslConnectionFactory;
import org.eclipse.jetty.util.ssl.SslContextFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The branch's TLS: what it serves with ({@code --tls-cert}, {@code --tls-key}: PEM files) and
 * whom it trusts when it forwards to other branches ({@code --tls-ca}, by default its own chain
 * plus the JVM's trust store). Everything is read and checked in {@link #load}, before the branch
 * starts, so a bad file is one sentence at start-up rather than a failed handshake later.
 */
public final class Tls {
    private static final Logger log = LoggerFactory.getLogger(Tls.class);
    private static final char[] PASSWORD = "jcyme".toCharArray();

    private final SSLContext server;
    private final SSLContext client;

    private Tls(SSLContext server, SSLContext client) {
        this.server = server;
        this.client = client;
    }

    /**
     * @param cert the certificate chain (PEM, the branch's own first), or null to serve plain HTTP
     * @param key  its private key (PEM: PKCS#8, PKCS#1 or SEC1, unencrypted); with {@code cert} only
     * @param ca   certificates to trust when forwarding to other branches, or null for this branch's
     *             own chain plus the JVM's default trust store
     * @throws IllegalArgumentException one sentence naming the file and what is wrong with it
     */
    public static Tls load(Path cert, Path key, Path ca) {
        if ((cert == null) != (key == null)) {
            throw new IllegalArgumentException(cert == null ? "--tls-key needs --tls-cert" : "--tls-cert needs --tls-key");
        }
        try {
            List<X509Certificate> chain = cert == null ? List.of() : Pem.certificates(cert, "--tls-cert");
            SSLContext server = null;
            if (cert != null) {
                PrivateKey privateKey = Pem.privateKey(key, "--tls-key");
                checkPair(chain.get(0), privateKey, cert, key);
                checkDates(chain.get(0), cert);
                KeyStore store = KeyStore.getInstance("PKCS12");
                store.load(null, null);
                store.setKeyEntry("branch", privateKey, PASSWORD, chain.toArray(X509Certificate[]::new));
                KeyManagerFactory keys = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
                keys.init(store, PASSWORD);
                server = SSLContext.getInstance("TLS");
                server.init(keys.getKeyManagers(), null, null);
            }
            List<X509Certificate> trusted = new ArrayList<>();
            if (ca != null) {
                trusted.addAll(Pem.certificates(ca, "--tls-ca"));
            } else if (cert != null) {
                trusted.addAll(chain);
                trusted.addAll(List.of(defaultTrust().getAcceptedIssuers()));
            }
            return new Tls(server, trusted.isEmpty() ? SSLContext.getDefault() : trusting(trusted));
        } catch (GeneralSecurityException | java.io.IOException e) {
            throw new IllegalArgumentException("cannot set up TLS: " + Pem.describe(e));
        }
    }

    /** Whether the branch serves HTTPS. */
    public boolean serves() {
        return server != null;
    }

    /** {@code https} or {@code http}: the scheme of this branch's URL. */
    public String scheme() {
        return serves() ? "https" : "http";
    }

    /** What the branch's own HTTP client trusts (forwarding, cluster-wide listings). */
    SSLContext clientContext() {
        return client;
    }

    /**
     * The HTTPS connector on {@code host:port}: TLS, and for a plain HTTP request a 400 naming
     * the https:// URL instead of a failed handshake ({@link PlainHttpRefusal}).
     */
    Connector connector(Server jetty, HttpConfiguration javalin, String host, int port) {
        HttpConfiguration https = new HttpConfiguration(javalin);
        SecureRequestCustomizer secure = new SecureRequestCustomizer();
        secure.setSniHostCheck(false); // the client checks the certificate's names; IP addresses carry no SNI
        https.addCustomizer(secure);
        https.setSecureScheme("https");
        HttpConnectionFactory http = new HttpConnectionFactory(https);
        SslContextFactory.Server context = new SslContextFactory.Server();
        context.setSslContext(server);
        SslConnectionFactory ssl = new SslConnectionFactory(context, http.getProtocol());
        ServerConnector connector = new ServerConnector(jetty, new PlainHttpRefusal.Detector(ssl), http);
        connector.setHost(host);
        connector.setPort(port);
        https.setSecurePort(port);
        return connector;
    }

    private static void checkPair(X509Certificate certificate, PrivateKey key, Path certFile, Path keyFile) {
        PublicKey publicKey = certificate.getPublicKey();
        if (!publicKey.getAlgorithm().equals(key.getAlgorithm())) {
            throw mismatch(certFile, keyFile, " (the key is " + key.getAlgorithm() + ", the certificate's " + publicKey.getAlgorithm() + ")");
        }
        String algorithm = switch (key.getAlgorithm()) {
            case "RSA" -> "SHA256withRSA";
            case "EC" -> "SHA256withECDSA";
            case "Ed25519", "Ed448", "EdDSA" -> key.getAlgorithm();
            default -> null;
        };
        if (algorithm == null) {
            return;
        }
        try {
            byte[] probe = "jcyme tls key check".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
            Signature signer = Signature.getInstance(algorithm);
            signer.initSign(key);
            signer.update(probe);
            byte[] signature = signer.sign();
            Signature verifier = Signature.getInstance(algorithm);
            verifier.initVerify(publicKey);
            verifier.update(probe);
            if (!verifier.verify(signature)) {
                throw mismatch(certFile, keyFile, "");
            }
        } catch (GeneralSecurityException e) {
            throw mismatch(certFile, keyFile, " (" + Pem.describe(e) + ")");
        }
    }

    private static IllegalArgumentException mismatch(Path certFile, Path keyFile, String detail) {
        return new IllegalArgumentException("--tls-key " + keyFile + " does not match the certificate in --tls-cert "
                + certFile + detail);
    }

    private static void checkDates(X509Certificate certificate, Path file) {
        Date now = new Date();
        if (now.after(certificate.getNotAfter())) {
            log.warn("the certificate in --tls-cert {} expired on {}: clients will refuse it", file, certificate.getNotAfter());
        } else if (now.before(certificate.getNotBefore())) {
            log.warn("the certificate in --tls-cert {} is valid only from {}: clients will refuse it until then", file,
                    certificate.getNotBefore());
        }
    }

    private static X509TrustManager defaultTrust() throws GeneralSecurityException {
        TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        factory.init((KeyStore) null);
        for (javax.net.ssl.TrustManager manager : factory.getTrustManagers()) {
            if (manager instanceof X509TrustManager x509) {
                return x509;
            }
        }
        throw new GeneralSecurityException("the JVM has no X.509 trust manager");
    }

    private static SSLContext trusting(List<X509Certificate> certificates) throws GeneralSecurityException, java.io.IOException {
        KeyStore store = KeyStore.getInstance("PKCS12");
        store.load(null, null);
        int i = 0;
        for (X509Certificate certificate : certificates) {
            store.setCertificateEntry("trusted-" + i++, certificate);
        }
        TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        factory.init(store);
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, factory.getTrustManagers(), null);
        return context;
    }
}
