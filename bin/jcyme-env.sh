# Shared by the launchers in bin/: finds the checkout and builds dist/ on first use.
JCYME_HOME="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JCYME_LIB="$JCYME_HOME/dist/lib"

jcyme_ensure_built() {
  if ! compgen -G "$JCYME_LIB/jcyme-cli-*.jar" >/dev/null; then
    echo "jcyme: first run, building dist/ with Maven (about a minute)..." >&2
    (cd "$JCYME_HOME" && mvn -q -B -DskipTests -pl cli -am package) >&2 || {
      echo "jcyme: build failed; run 'mvn -DskipTests -pl cli -am package' to see why" >&2
      exit 1
    }
  fi
}

jcyme_java() {
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
    echo "$JAVA_HOME/bin/java"
  else
    echo java
  fi
}
