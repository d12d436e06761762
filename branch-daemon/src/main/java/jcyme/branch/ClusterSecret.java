package jcyme.branch;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.Map;
import java.util.Set;

/**
 * The cluster secret of a branch given none: a file only its OS user can read, made on first use
 * with 256 random bits. Every branch of that user on that host reads the same file, so they
 * cluster with no configuration, and nobody else can join them or read what they say.
 * The directory is made 0700 and the file 0600 from the first moment (never widened then narrowed);
 * a file that group or others can read, or that another user owns, is refused.
 */
public final class ClusterSecret {
    private static final Set<PosixFilePermission> DIR = PosixFilePermissions.fromString("rwx------");
    private static final Set<PosixFilePermission> FILE = PosixFilePermissions.fromString("rw-------");

    private ClusterSecret() {}

    /** {@code ${XDG_CONFIG_HOME:-$HOME/.config}/jcyme/cluster.secret}. */
    public static Path defaultFile(Map<String, String> env) {
        String config = env.get("XDG_CONFIG_HOME");
        Path base = config != null && !config.isBlank() ? Path.of(config)
                : Path.of(env.getOrDefault("HOME", System.getProperty("user.home")), ".config");
        return base.resolve("jcyme").resolve("cluster.secret");
    }

    /** The secret in {@code file}, made first if there is none; an unsafe file is an {@link IOException} of one line. */
    public static String readOrCreate(Path file) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        if (!Files.isDirectory(dir)) {
            try {
                Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(DIR));
            } catch (FileAlreadyExistsException raced) {
                // made meanwhile by another branch
            }
        }
        if (!Files.exists(file, LinkOption.NOFOLLOW_LINKS)) {
            create(file);
        }
        PosixFileAttributes attributes = Files.readAttributes(file, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        if (!attributes.isRegularFile()) {
            throw new IOException("cluster secret " + file + " is not a regular file");
        }
        Set<PosixFilePermission> mode = attributes.permissions();
        if (mode.stream().anyMatch(p -> p.name().startsWith("GROUP") || p.name().startsWith("OTHERS"))) {
            throw new IOException("cluster secret " + file + " is readable by others (mode " + PosixFilePermissions.toString(mode)
                    + "): chmod 600 it, or give --cluster-secret / JCYME_CLUSTER_SECRET");
        }
        String self = System.getProperty("user.name");
        if (!attributes.owner().getName().equals(self)) {
            throw new IOException("cluster secret " + file + " belongs to " + attributes.owner().getName() + ", not " + self);
        }
        String secret = Files.readString(file, StandardCharsets.UTF_8).trim();
        if (secret.length() < 32) {
            throw new IOException("cluster secret " + file + " is empty or too short (delete it to make a new one)");
        }
        return secret;
    }

    /**
     * Writes a new secret under a private temporary name, then links it into place: a branch
     * starting at the same moment either finds no file or the whole one, never a partial one.
     */
    private static void create(Path file) throws IOException {
        byte[] bits = new byte[32];
        new SecureRandom().nextBytes(bits);
        Path tmp = file.resolveSibling(file.getFileName() + "." + ProcessHandle.current().pid() + ".tmp");
        Files.deleteIfExists(tmp);
        Files.createFile(tmp, PosixFilePermissions.asFileAttribute(FILE));
        try {
            Files.writeString(tmp, HexFormat.of().formatHex(bits) + "\n", StandardCharsets.UTF_8);
            try {
                Files.createLink(file, tmp);
            } catch (FileAlreadyExistsException raced) {
                // another branch made it first: use theirs
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}
