package jcyme.branch;

import java.util.List;
import java.util.Optional;

/**
 * The check of extra worker options (an app's or an instance's {@code arguments}) when they are
 * written. The branch does not depend on the worker program; whoever assembles the branch (the
 * {@code branch} command) passes the worker's own option parser.
 */
@FunctionalInterface
public interface WorkerArguments {

    /** Accepts any options: the worker finds what is wrong with them when it starts. */
    WorkerArguments UNCHECKED = arguments -> Optional.empty();

    /** Empty when {@code arguments} are fine, else what is wrong with them. */
    Optional<String> problem(List<String> arguments);

    /** Options as the worker's command line gets them: split at white space. */
    static List<String> split(String arguments) {
        return arguments == null || arguments.isBlank() ? List.of() : List.of(arguments.trim().split("\\s+"));
    }
}
