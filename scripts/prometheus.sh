#!/usr/bin/env bash
# Debian's Prometheus server for the metrics tests (MetricsPrometheusTest starts its own process
# with a temporary config and port; nothing here starts or configures a service).
#   scripts/prometheus.sh [ensure]   install prometheus with apt when there is no prometheus binary
set -euo pipefail

say() { echo "prometheus: $*" >&2; }

have() { command -v prometheus >/dev/null 2>&1; }

case "${1:-ensure}" in
  ensure)
    if ! have; then
      say "installing prometheus with apt..."
      apt-get update -qq
      # the package starts a system service on :9090; the tests never use it, so stop it again
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
      if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
        systemctl stop prometheus || true
      fi
    fi
    have || { say "prometheus is still not on the PATH"; exit 1; }
    say "ready: $(prometheus --version 2>&1 | head -1)"
    ;;
  *)
    echo "usage: scripts/prometheus.sh [ensure]" >&2
    exit 2
    ;;
esac
