package jcyme.http;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * PEM files as openssl writes them: certificates, and an unencrypted private key as PKCS#8
 * ({@code BEGIN PRIVATE KEY}), PKCS#1 ({@code BEGIN RSA PRIVATE KEY}) or SEC1
 * ({@code BEGIN EC PRIVATE KEY}). The last two are rewrapped as PKCS#8 (a few DER bytes), so
 * nothing beyond the JDK is needed. Errors are {@link IllegalArgumentException}s with one sentence.
 */
final class Pem {
    private static final Pattern BLOCK = Pattern.compile(
            "-----BEGIN ([A-Z0-9 ]+)-----\\R(.*?)-----END \\1-----", Pattern.DOTALL);
    private static final byte[] RSA_ENCRYPTION = oid(0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01);
    private static final byte[] EC_PUBLIC_KEY = oid(0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01);

    private Pem() {}

    /** One PEM block: its label ({@code CERTIFICATE}, {@code PRIVATE KEY}, ...), headers, and DER bytes. */
    record Block(String label, boolean encrypted, byte[] der) {}

    static List<Block> blocks(Path file, String option) {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read " + option + " " + file + ": " + describe(e));
        }
        List<Block> blocks = new ArrayList<>();
        Matcher matcher = BLOCK.matcher(text);
        while (matcher.find()) {
            String body = matcher.group(2);
            boolean encrypted = body.contains("Proc-Type: 4,ENCRYPTED");
            StringBuilder base64 = new StringBuilder();
            for (String line : body.split("\\R")) {
                if (!line.contains(":")) {
                    base64.append(line.strip());
                }
            }
            try {
                blocks.add(new Block(matcher.group(1), encrypted, Base64.getDecoder().decode(base64.toString())));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(option + " " + file + " has a damaged " + matcher.group(1) + " block: " + e.getMessage());
            }
        }
        return blocks;
    }

    /** Every certificate in the file, in order (a chain: the branch's own first). */
    static List<X509Certificate> certificates(Path file, String option) {
        List<X509Certificate> certificates = new ArrayList<>();
        try {
            CertificateFactory factory = CertificateFactory.getInstance("X.509");
            for (Block block : blocks(file, option)) {
                if (block.label().equals("CERTIFICATE") || block.label().equals("TRUSTED CERTIFICATE")) {
                    certificates.add((X509Certificate) factory.generateCertificate(new ByteArrayInputStream(block.der())));
                }
            }
        } catch (GeneralSecurityException e) {
            throw new IllegalArgumentException(option + " " + file + " holds a certificate that cannot be read: " + describe(e));
        }
        if (certificates.isEmpty()) {
            throw new IllegalArgumentException(option + " " + file + " holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
        }
        return certificates;
    }

    /** The file's private key. */
    static PrivateKey privateKey(Path file, String option) {
        List<Block> blocks = blocks(file, option);
        byte[] curve = null;
        for (Block block : blocks) {
            if (block.label().equals("EC PARAMETERS")) {
                curve = block.der();
            }
        }
        for (Block block : blocks) {
            if (block.encrypted() || block.label().equals("ENCRYPTED PRIVATE KEY")) {
                throw new IllegalArgumentException(option + " " + file + " is encrypted; give the key unencrypted"
                        + " (openssl pkey -in " + file + " -out plain-key.pem) and protect the file instead (chmod 600)");
            }
            byte[] pkcs8 = switch (block.label()) {
                case "PRIVATE KEY" -> block.der();
                case "RSA PRIVATE KEY" -> pkcs8(RSA_ENCRYPTION, new byte[] {0x05, 0x00}, block.der());
                case "EC PRIVATE KEY" -> pkcs8(EC_PUBLIC_KEY, sec1Curve(block.der(), curve, file, option), block.der());
                default -> null;
            };
            if (pkcs8 != null) {
                return decode(pkcs8, file, option);
            }
        }
        throw new IllegalArgumentException(option + " " + file + " holds no PEM private key"
                + " (-----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY)");
    }

    private static PrivateKey decode(byte[] pkcs8, Path file, String option) {
        for (String algorithm : List.of("RSA", "EC", "Ed25519", "Ed448", "RSASSA-PSS")) {
            try {
                return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(pkcs8));
            } catch (GeneralSecurityException | RuntimeException e) {
                // not this algorithm
            }
        }
        throw new IllegalArgumentException(option + " " + file + " holds a private key of an unsupported kind"
                + " (RSA, EC, Ed25519 and Ed448 are supported)");
    }

    /** The named curve of a SEC1 key: its own {@code [0]} parameters, else a preceding EC PARAMETERS block. */
    private static byte[] sec1Curve(byte[] sec1, byte[] parameters, Path file, String option) {
        try {
            Der key = new Der(sec1, 0);
            int at = key.start;
            while (at < key.end) {
                Der field = new Der(sec1, at);
                if (field.tag == 0xa0) {
                    return java.util.Arrays.copyOfRange(sec1, field.start, field.end);
                }
                at = field.end;
            }
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(option + " " + file + " holds a damaged EC PRIVATE KEY");
        }
        if (parameters != null && parameters.length > 0 && parameters[0] == 0x06) {
            return parameters;
        }
        throw new IllegalArgumentException(option + " " + file + " holds an EC PRIVATE KEY without its curve");
    }

    /** PKCS#8 PrivateKeyInfo: version 0, the algorithm (OID and parameters), the key as an OCTET STRING. */
    private static byte[] pkcs8(byte[] algorithm, byte[] parameters, byte[] key) {
        byte[] identifier = tlv(0x30, concat(algorithm, parameters));
        return tlv(0x30, concat(new byte[] {0x02, 0x01, 0x00}, identifier, tlv(0x04, key)));
    }

    private static byte[] oid(int... bytes) {
        byte[] content = new byte[bytes.length];
        for (int i = 0; i < bytes.length; i++) content[i] = (byte) bytes[i];
        return tlv(0x06, content);
    }

    private static byte[] tlv(int tag, byte[] content) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(tag);
        int length = content.length;
        if (length < 0x80) {
            out.write(length);
        } else {
            int bytes = length > 0xffffff ? 4 : length > 0xffff ? 3 : length > 0xff ? 2 : 1;
            out.write(0x80 | bytes);
            for (int i = bytes - 1; i >= 0; i--) out.write(length >>> (8 * i));
        }
        out.writeBytes(content);
        return out.toByteArray();
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] part : parts) out.writeBytes(part);
        return out.toByteArray();
    }

    /** One DER element at {@code offset}: its tag and where its content starts and ends. */
    private static final class Der {
        final int tag;
        final int start;
        final int end;

        Der(byte[] der, int offset) {
            tag = der[offset] & 0xff;
            int length = der[offset + 1] & 0xff;
            int at = offset + 2;
            if (length >= 0x80) {
                int bytes = length & 0x7f;
                if (bytes < 1 || bytes > 4) throw new IllegalArgumentException("bad DER length");
                length = 0;
                for (int i = 0; i < bytes; i++) length = (length << 8) | (der[at++] & 0xff);
            }
            start = at;
            end = at + length;
            if (end > der.length || length < 0) throw new IllegalArgumentException("truncated DER");
        }
    }

    static String describe(Exception e) {
        if (e instanceof java.nio.file.NoSuchFileException) return "no such file";
        if (e instanceof java.nio.file.AccessDeniedException) return "permission denied";
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }
}
