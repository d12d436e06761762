#!/usr/bin/env bash
# Debian's Chromium and its WebDriver for the dashboard's browser tests and screenshots.
#   scripts/chromium.sh [ensure]   install chromium and chromium-driver with apt when either is absent
set -euo pipefail

say() { echo "chromium: $*" >&2; }

have() { [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; }

case "${1:-ensure}" in
  ensure)
    if ! have; then
      say "installing chromium and chromium-driver with apt..."
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
    fi
    have || { say "/usr/bin/chromium or /usr/bin/chromedriver is still missing"; exit 1; }
    say "ready: $(/usr/bin/chromium --version 2>/dev/null | head -1), $(/usr/bin/chromedriver --version 2>/dev/null | head -1)"
    ;;
  *)
    echo "usage: scripts/chromium.sh [ensure]" >&2
    exit 2
    ;;
esac
