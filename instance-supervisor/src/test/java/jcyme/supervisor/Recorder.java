package jcyme.supervisor;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/** A listener that keeps what it heard: every transition ({@code "name: FROM -> TO"}) and every exit. */
final class Recorder implements Supervisor.Listener {
    private final List<String> transitions = Collections.synchronizedList(new ArrayList<>());
    private final List<Supervisor.Exit> exits = Collections.synchronizedList(new ArrayList<>());

    @Override
    public void changed(String instance, InstanceState from, InstanceState to, String why) {
        if (from != to) {
            transitions.add(instance + ": " + from + " -> " + to);
        }
    }

    @Override
    public void exited(String instance, Supervisor.Exit exit) {
        exits.add(exit);
    }

    List<String> transitions() {
        return List.copyOf(transitions);
    }

    List<Supervisor.Exit> exits() {
        return List.copyOf(exits);
    }
}
