package jcyme.branch;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;
import jcyme.supervisor.InstanceState;
import jcyme.supervisor.Supervisor;

/**
 * What the supervisor tells, as events: every transition ({@code instance.state}), every exit
 * ({@code instance.exit}), a start after a failure ({@code instance.restart}) and FATAL
 * ({@code instance.fatal}); then the instance's reconciler is woken. Runs inside the supervisor's
 * state machine, so it only reads the supervisor's own view and records (which never waits).
 */
final class SupervisionEvents implements Supervisor.Listener {
    private final EventLog events;
    private final Consumer<String> wake;
    private volatile Supervisor supervisor;

    SupervisionEvents(EventLog events, Consumer<String> wake) {
        this.events = events;
        this.wake = wake;
    }

    /** The supervisor this listens to (made after its listener). */
    void watch(Supervisor supervisor) {
        this.supervisor = supervisor;
    }

    @Override
    public void changed(String instance, InstanceState from, InstanceState to, String why) {
        if (from != to) {
            String app = supervisor == null ? null : supervisor.app(instance).orElse(null);
            Map<String, Object> fields = fields(app, instance);
            fields.put("from", from.name());
            fields.put("to", to.name());
            fields.put("why", why);
            events.record("instance.state", fields);
            if (to == InstanceState.STARTING && (from == InstanceState.EXITED || from == InstanceState.BACKOFF)) {
                Map<String, Object> restart = fields(app, instance);
                restart.put("restarts", supervisor.status(instance).map(s -> s.restarts()).orElse(0));
                events.record("instance.restart", restart);
            } else if (to == InstanceState.FATAL) {
                Map<String, Object> fatal = fields(app, instance);
                fatal.put("error", why);
                events.record("instance.fatal", fatal);
            }
        }
        wake.accept(instance);
    }

    @Override
    public void exited(String instance, Supervisor.Exit exit) {
        Map<String, Object> fields = fields(exit.app(), instance);
        fields.put("pid", exit.pid());
        fields.put("exit_code", exit.code());
        fields.put("signal", exit.signal());
        events.record("instance.exit", fields);
    }

    private static Map<String, Object> fields(String app, String instance) {
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("app", app);
        fields.put("instance", instance);
        return fields;
    }
}
