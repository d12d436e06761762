package jcyme.it;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import org.openqa.selenium.By;
import org.openqa.selenium.Dimension;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.StaleElementReferenceException;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;

/**
 * Debian's Chromium, headless, driven through its chromedriver (scripts/chromium.sh installs
 * both): a fresh profile each time, none of the browser's own network traffic.
 */
final class Browser implements AutoCloseable {
    static final String CHROMIUM = "/usr/bin/chromium";
    static final String CHROMEDRIVER = "/usr/bin/chromedriver";
    /** Where screenshots go when asked for ({@code -Djcyme.screenshots=docs}, see scripts/ui-screenshots.sh). */
    static final String SCREENSHOTS = "jcyme.screenshots";

    final ChromeDriver driver;
    private final Path profile;

    private Browser(ChromeDriver driver, Path profile) {
        this.driver = driver;
        this.profile = profile;
    }

    static Browser open() throws IOException {
        for (String file : List.of(CHROMIUM, CHROMEDRIVER)) {
            if (!Files.isExecutable(Path.of(file))) {
                throw new IllegalStateException(file + " is missing: run scripts/chromium.sh ensure (bin/test does)");
            }
        }
        Path profile = Files.createTempDirectory("jcyme-chromium");
        ChromeOptions options = new ChromeOptions().setBinary(CHROMIUM).addArguments(
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--user-data-dir=" + profile, "--window-size=1400,1150");
        ChromeDriverService service = new ChromeDriverService.Builder()
                .usingDriverExecutable(new File(CHROMEDRIVER)).usingAnyFreePort().build();
        ChromeDriver driver = new ChromeDriver(service, options);
        driver.manage().window().setSize(new Dimension(1400, 1150));
        return new Browser(driver, profile);
    }

    void go(String url) {
        driver.get(url);
    }

    Object script(String code, Object... args) {
        return ((JavascriptExecutor) driver).executeScript(code, args);
    }

    List<WebElement> all(String css) {
        return driver.findElements(By.cssSelector(css));
    }

    WebElement one(String css) {
        return driver.findElement(By.cssSelector(css));
    }

    /** The text of the first element {@code css} selects, or "" while there is none. */
    String text(String css) {
        try {
            List<WebElement> found = all(css);
            return found.isEmpty() ? "" : found.get(0).getText();
        } catch (StaleElementReferenceException e) {
            return "";   // the page redrew it meanwhile
        }
    }

    /** Waits until the element {@code css} selects shows {@code part} in its text. */
    String awaitText(String css, String part) {
        String[] last = {""};
        Wait.until(Duration.ofSeconds(30), "'" + part + "' in " + css, () -> (last[0] = text(css)).contains(part),
                () -> "(it shows '" + last[0] + "'; page errors " + errors() + ")");
        return last[0];
    }

    void await(String what, java.util.function.BooleanSupplier condition) {
        Wait.until(Duration.ofSeconds(30), what, () -> {
            try {
                return condition.getAsBoolean();
            } catch (StaleElementReferenceException e) {
                return false;
            }
        }, () -> "(page errors " + errors() + ")");
    }

    void type(String css, String text) {
        WebElement field = one(css);
        field.clear();
        field.sendKeys(text);
    }

    /** The errors the page caught and did not handle ({@code window.jcymeErrors}, see app.js). */
    @SuppressWarnings("unchecked")
    List<Object> errors() {
        Object errors = script("return window.jcymeErrors || ['the dashboard did not start'];");
        return errors instanceof List<?> list ? (List<Object>) list : List.of(String.valueOf(errors));
    }

    /** Saves a PNG of the window as {@code <dir>/<name>.png} when {@value #SCREENSHOTS} names a directory. */
    void screenshot(String name) throws IOException {
        String dir = System.getProperty(SCREENSHOTS);
        if (dir == null || dir.isBlank()) {
            return;
        }
        Path target = Path.of(dir).toAbsolutePath().resolve(name + ".png");
        Files.createDirectories(target.getParent());
        script("window.scrollTo(0, 0);");
        Files.write(target, driver.getScreenshotAs(OutputType.BYTES));
    }

    @Override
    public void close() throws IOException {
        try {
            driver.quit();
        } finally {
            try (Stream<Path> files = Files.walk(profile)) {
                files.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
            }
        }
    }
}
