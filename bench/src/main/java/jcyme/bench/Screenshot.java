package jcyme.bench;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/** A PNG of a web page from headless Chromium (Debian's; scripts/chromium.sh installs it). */
final class Screenshot {
    static final String CHROMIUM = "/usr/bin/chromium";
    /** How long the page may run before the picture is taken: the dashboard's charts fill in over a few seconds. */
    static final Duration RENDER_TIME = Duration.ofSeconds(15);
    static final Duration TIMEOUT = Duration.ofSeconds(60);

    private Screenshot() {}

    static List<String> command(Path profile, Path target, String url) {
        return List.of(CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--user-data-dir=" + profile, "--window-size=1400,1000",
                "--virtual-time-budget=" + RENDER_TIME.toMillis(), "--screenshot=" + target, url);
    }
}
