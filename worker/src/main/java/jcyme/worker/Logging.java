package jcyme.worker;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.encoder.PatternLayoutEncoder;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.ConsoleAppender;
import ch.qos.logback.core.FileAppender;
import ch.qos.logback.core.OutputStreamAppender;
import java.nio.file.Path;
import java.util.Locale;
import org.slf4j.LoggerFactory;

/** One-line-per-event logging for jcyme programs, to a file (appended) or to stderr. */
public final class Logging {
    private static final String PATTERN = "[%d{yyyy-MM-dd HH:mm:ss.SSS}] %-5level %logger{0}: %msg%n";

    private Logging() {}

    /** Parses Celery's level names (DEBUG, INFO, WARNING, ERROR, CRITICAL, FATAL), case-insensitive. */
    public static Level level(String name) {
        return switch (name.toUpperCase(Locale.ROOT)) {
            case "DEBUG" -> Level.DEBUG;
            case "INFO" -> Level.INFO;
            case "WARN", "WARNING" -> Level.WARN;
            case "ERROR", "CRITICAL", "FATAL" -> Level.ERROR;
            default -> throw new IllegalArgumentException(
                    "unknown log level '" + name + "' (use DEBUG, INFO, WARNING, ERROR or CRITICAL)");
        };
    }

    /** Sends every log line to {@code logfile} (appending), or to stderr when it is null. */
    public static void configure(Level level, Path logfile) {
        LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
        context.reset();
        PatternLayoutEncoder encoder = new PatternLayoutEncoder();
        encoder.setContext(context);
        encoder.setPattern(PATTERN);
        encoder.start();
        OutputStreamAppender<ILoggingEvent> appender;
        if (logfile == null) {
            ConsoleAppender<ILoggingEvent> console = new ConsoleAppender<>();
            console.setTarget("System.err");
            appender = console;
        } else {
            FileAppender<ILoggingEvent> file = new FileAppender<>();
            file.setFile(logfile.toString());
            file.setAppend(true);
            appender = file;
        }
        appender.setContext(context);
        appender.setName("main");
        appender.setEncoder(encoder);
        appender.start();
        Logger root = context.getLogger(Logger.ROOT_LOGGER_NAME);
        root.setLevel(level);
        root.addAppender(appender);
        Level quiet = level.isGreaterOrEqual(Level.WARN) ? level : Level.WARN;
        for (String noisy : new String[] {"com.rabbitmq", "org.apache.qpid", "qpid", "org.sqlite", "io.javalin", "org.eclipse.jetty", "org.jgroups"}) {
            context.getLogger(noisy).setLevel(quiet);
        }
    }
}
