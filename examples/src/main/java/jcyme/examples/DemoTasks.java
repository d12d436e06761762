package jcyme.examples;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.math.BigDecimal;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import jcyme.tasks.ConfigAware;
import jcyme.tasks.Task;
import jcyme.tasks.TaskCall;

/** The demo tasks a worker loads when it is given no {@code --classpath}. */
public final class DemoTasks {
    private DemoTasks() {}

    /** A task whose name is fixed at construction. */
    abstract static class Named implements Task {
        private final String name;

        Named(String name) {
            this.name = name;
        }

        @Override
        public final String name() {
            return name;
        }
    }

    /** {@code tasks.add(x, y)}: the sum; exact for integers of any size. */
    public static final class Add extends Named {
        public Add() {
            super("tasks.add");
        }

        @Override
        public Object run(TaskCall call) {
            JsonNode x = call.arg(0);
            JsonNode y = call.arg(1);
            if (!x.isNumber() || !y.isNumber()) {
                throw new IllegalArgumentException("tasks.add() needs two numbers, got " + x + " and " + y);
            }
            if (x.isIntegralNumber() && y.isIntegralNumber()) {
                return x.bigIntegerValue().add(y.bigIntegerValue());
            }
            return x.decimalValue().add(y.decimalValue()).doubleValue();
        }
    }

    /** {@code tasks.fib(n)}: Fibonacci by naive recursion — deliberately CPU-bound. */
    public static final class Fib extends Named {
        static final int MAX_N = 90;

        public Fib() {
            super("tasks.fib");
        }

        @Override
        public Object run(TaskCall call) {
            long n = call.longArg(0);
            if (n < 0 || n > MAX_N) {
                throw new IllegalArgumentException("tasks.fib() needs 0 <= n <= " + MAX_N + ", got " + n);
            }
            return fib((int) n);
        }

        static long fib(int n) {
            return n < 2 ? n : fib(n - 1) + fib(n - 2);
        }
    }

    /** {@code tasks.sleep(seconds)}: sleeps (interruptibly) and returns the seconds asked for. */
    public static final class Sleep extends Named {
        public Sleep() {
            super("tasks.sleep");
        }

        @Override
        public Object run(TaskCall call) throws InterruptedException {
            double seconds = call.doubleArg(0);
            if (seconds < 0) {
                throw new IllegalArgumentException("tasks.sleep() needs seconds >= 0, got " + seconds);
            }
            Thread.sleep(Math.round(seconds * 1000));
            return BigDecimal.valueOf(seconds);
        }
    }

    /**
     * {@code tasks.stall(seconds)}: blocks that long where interrupts do not reach, as a task stuck
     * in I/O does (a read on a connection to a local server socket that never writes); returns the
     * seconds asked for. Neither a soft limit nor revoke-with-terminate ends it sooner.
     */
    public static final class Stall extends Named {
        public Stall() {
            super("tasks.stall");
        }

        @Override
        public Object run(TaskCall call) throws IOException {
            double seconds = call.doubleArg(0);
            if (!(seconds > 0) || seconds > Integer.MAX_VALUE / 1000.0) {
                throw new IllegalArgumentException("tasks.stall() needs 0 < seconds <= " + Integer.MAX_VALUE / 1000 + ", got " + seconds);
            }
            InetAddress loopback = InetAddress.getLoopbackAddress();
            try (ServerSocket silent = new ServerSocket(0, 1, loopback); Socket socket = new Socket(loopback, silent.getLocalPort())) {
                socket.setSoTimeout((int) Math.max(1, Math.round(seconds * 1000)));
                socket.getInputStream().read();
                throw new IllegalStateException("the silent server sent something");
            } catch (SocketTimeoutException over) {
                return BigDecimal.valueOf(seconds);
            }
        }
    }

    /** {@code tasks.fail(message)}: always raises, with that message. */
    public static final class Fail extends Named {
        public Fail() {
            super("tasks.fail");
        }

        @Override
        public Object run(TaskCall call) {
            String message = call.args().isEmpty() ? "tasks.fail was called" : call.stringArg(0);
            throw new RuntimeException(message);
        }
    }

    /** {@code tasks.noop()}: does nothing; measures the worker's own overhead. */
    public static final class Noop extends Named {
        public Noop() {
            super("tasks.noop");
        }

        @Override
        public Object run(TaskCall call) {
            return null;
        }
    }

    /** {@code tasks.echo(*args, **kwargs)}: returns {@code {"args": [...], "kwargs": {...}}}. */
    public static final class Echo extends Named {
        public Echo() {
            super("tasks.echo");
        }

        @Override
        public Object run(TaskCall call) {
            Map<String, Object> echo = new LinkedHashMap<>();
            echo.put("args", call.args());
            echo.put("kwargs", call.kwargs());
            return echo;
        }
    }

    /**
     * {@code tasks.flaky(n)}: fails its first {@code n} attempts and asks to be retried (0.1 s
     * later, at most 3 times); then returns how many retries it took.
     */
    public static final class Flaky extends Named {
        public Flaky() {
            super("tasks.flaky");
        }

        @Override
        public Object run(TaskCall call) {
            long failures = call.longArg(0);
            if (call.retries() < failures) {
                throw call.retry(Duration.ofMillis(100), new IllegalStateException("attempt " + (call.retries() + 1) + " failed"));
            }
            return call.retries();
        }
    }

    /**
     * {@code tasks.workdir([file, text, seconds])}: the absolute path of this task's own work directory;
     * given a plain file name (and text), first writes that file there (and then sleeps that long).
     */
    public static final class WorkDir extends Named {
        public WorkDir() {
            super("tasks.workdir");
        }

        @Override
        public Object run(TaskCall call) throws IOException, InterruptedException {
            Path dir = call.workDir().toAbsolutePath();
            if (!call.args().isEmpty()) {
                String file = call.stringArg(0);
                if (!file.matches("[A-Za-z0-9._-]+") || file.equals(".") || file.equals("..")) {
                    throw new IllegalArgumentException("tasks.workdir() needs a plain file name, got '" + file + "'");
                }
                Files.writeString(dir.resolve(file), call.args().size() > 1 ? call.stringArg(1) : "");
            }
            if (call.args().size() > 2) {
                Thread.sleep(Math.round(call.arg(2).asDouble() * 1000));
            }
            return dir.toString();
        }
    }

    /** {@code tasks.config()}: {@code {"config_id": ..., "config": {...}}}, the app's live configuration as this task sees it. */
    public static final class Config extends Named {
        public Config() {
            super("tasks.config");
        }

        @Override
        public Object run(TaskCall call) {
            Map<String, Object> seen = new LinkedHashMap<>();
            seen.put("config_id", call.configId());
            seen.put("config", call.config());
            return seen;
        }
    }

    /**
     * {@code tasks.lifecycle()}: the {@link ConfigAware} calls this task class received, in order,
     * as {@code birth(<config_id>)} and {@code death}.
     */
    public static final class Lifecycle extends Named implements ConfigAware {
        private final List<String> calls = new CopyOnWriteArrayList<>();

        public Lifecycle() {
            super("tasks.lifecycle");
        }

        @Override
        public void birth(String configId, JsonNode config) {
            calls.add("birth(" + configId + ")");
        }

        @Override
        public void death() {
            calls.add("death");
        }

        @Override
        public Object run(TaskCall call) {
            return List.copyOf(calls);
        }
    }
}
