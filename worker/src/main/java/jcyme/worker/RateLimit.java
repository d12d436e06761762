package jcyme.worker;

/**
 * A task's rate limit, as Celery writes it: {@code 10/s}, {@code 10/m}, {@code 10/h}, or a bare
 * number per second. Tasks are spaced evenly: each reservation takes the next free slot.
 */
final class RateLimit {
    private final String text;
    private final double intervalNanos;
    private long nextFree;

    private RateLimit(String text, double perSecond) {
        this.text = text;
        this.intervalNanos = 1e9 / perSecond;
        this.nextFree = System.nanoTime();
    }

    /** The limit {@code text} describes, or null for none (empty or zero). */
    static RateLimit parse(String text) {
        if (text == null || text.isBlank()) {
            return null;
        }
        String[] parts = text.trim().split("/", 2);
        double per = switch (parts.length == 1 ? "s" : parts[1].trim()) {
            case "s", "" -> 1;
            case "m" -> 60;
            case "h" -> 3600;
            default -> throw new IllegalArgumentException("ValueError(\"unknown unit '" + parts[1].trim() + "' (s, m or h)\")");
        };
        double count;
        try {
            count = Double.parseDouble(parts[0].trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("ValueError(\"could not convert string to float: '" + parts[0].trim() + "'\")");
        }
        if (count < 0 || Double.isNaN(count) || Double.isInfinite(count)) {
            throw new IllegalArgumentException("ValueError(\"a rate must be a finite number >= 0, got " + parts[0].trim() + "\")");
        }
        return count == 0 ? null : new RateLimit(text.trim(), count / per);
    }

    String text() {
        return text;
    }

    /** Takes the next slot; returns how many milliseconds until it comes (0: now). */
    synchronized long reserve() {
        long now = System.nanoTime();
        long slot = Math.max(now, nextFree);
        nextFree = slot + Math.round(intervalNanos);
        return (slot - now) / 1_000_000;
    }
}
