#!/usr/bin/env bash
# Debian's Celery for the interop tests and the Celery benchmark.
#   scripts/python-celery.sh [ensure]   install python3-celery with apt when /usr/bin/python3 cannot import it
set -euo pipefail

say() { echo "python-celery: $*" >&2; }

have() { [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import celery' >/dev/null 2>&1; }

case "${1:-ensure}" in
  ensure)
    if ! have; then
      say "installing python3-celery with apt..."
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-celery >/dev/null
    fi
    have || { say "python3-celery is still not importable by /usr/bin/python3"; exit 1; }
    say "ready: celery $(/usr/bin/python3 -c 'import celery; print(celery.__version__)')"
    ;;
  *)
    echo "usage: scripts/python-celery.sh [ensure]" >&2
    exit 2
    ;;
esac
