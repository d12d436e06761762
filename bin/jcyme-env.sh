# Shared by the launchers in bin/: finds the checkout and builds dist/ on first use.
JCYME_HOME="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JCYME_LIB="$JCYME_HOME/dist/lib"

jcyme_built() {
  compgen -G "$JCYME_LIB/jcyme-cli-*.jar" >/dev/null
}

# Builds dist/ once; launchers started together wait for one build instead of racing.
jcyme_ensure_built() {
  jcyme_built && return 0
  mkdir -p "$JCYME_HOME/dist"
  exec 9>"$JCYME_HOME/dist/.build.lock"
  flock 9
  if ! jcyme_built; then
    echo "jcyme: first run, building dist/ with Maven (about a minute)..." >&2
    (cd "$JCYME_HOME" && mvn -q -B -DskipTests -pl cli -am package) >&2 || {
      echo "jcyme: build failed; run 'mvn -DskipTests -pl cli -am package' to see why" >&2
      exit 1
    }
  fi
  flock -u 9
}

jcyme_java() {
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
    echo "$JAVA_HOME/bin/java"
  else
    echo java
  fi
}
