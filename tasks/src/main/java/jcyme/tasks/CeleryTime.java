package jcyme.tasks;

import java.time.Instant;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;

/** Timestamps as Celery writes them: Python's {@code datetime.isoformat()} in UTC. */
public final class CeleryTime {

    private static final DateTimeFormatter ISO_MICROS =
            DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSSSSSxxx");

    private CeleryTime() {}

    public static String format(Instant instant) {
        return ISO_MICROS.format(instant.atOffset(ZoneOffset.UTC));
    }

    /** Parses an ISO-8601 timestamp; one without an offset is taken as UTC (Celery's default zone). */
    public static Instant parse(String text) {
        try {
            return OffsetDateTime.parse(text).toInstant();
        } catch (DateTimeParseException withoutOffset) {
            try {
                return LocalDateTime.parse(text).toInstant(ZoneOffset.UTC);
            } catch (DateTimeParseException e) {
                throw new IllegalArgumentException("not an ISO-8601 timestamp: " + text);
            }
        }
    }

    /** Unix time in seconds with a fraction, as Python's {@code time.time()}. */
    public static double unixSeconds(Instant instant) {
        return instant.getEpochSecond() + instant.getNano() / 1e9;
    }
}
