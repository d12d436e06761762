#!/usr/bin/env bash
# RabbitMQ for jcyme's tests and quickstart, on 127.0.0.1 only, state under $JCYME_RABBITMQ_BASE.
#   scripts/rabbitmq.sh [ensure]   install with apt when absent, start when not running, wait until ready
#   scripts/rabbitmq.sh stop       stop the node (and its epmd)
#   scripts/rabbitmq.sh restart-app  stop_app + start_app: drops every connection, keeps durable data
#   scripts/rabbitmq.sh url        print the AMQP URL
set -euo pipefail

PORT="${JCYME_RABBITMQ_PORT:-5672}"
BASE="${JCYME_RABBITMQ_BASE:-/var/tmp/jcyme-rabbitmq}"
export RABBITMQ_NODENAME=rabbit@localhost
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT="$PORT"
export ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
export RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
export RABBITMQ_MNESIA_BASE="$BASE/mnesia"
export RABBITMQ_LOG_BASE="$BASE/log"
export RABBITMQ_ENABLED_PLUGINS_FILE="$BASE/enabled_plugins"

say() { echo "rabbitmq: $*" >&2; }

amqp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

install() {
  if ! command -v rabbitmq-server >/dev/null 2>&1 && [ ! -x /usr/sbin/rabbitmq-server ]; then
    say "installing rabbitmq-server with apt..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
  fi
}

ready() { amqp_open && rabbitmqctl -q await_startup --timeout 5 >/dev/null 2>&1; }

wait_ready() {
  local deadline=$((SECONDS + ${1:-90}))
  until ready; do
    if [ $SECONDS -ge $deadline ]; then
      say "not ready after ${1:-90} s; last lines of its log:"
      tail -n 30 "$BASE"/log/*.log 2>/dev/null >&2 || true
      exit 1
    fi
    sleep 0.5
  done
}

ensure() {
  install
  if amqp_open; then
    return 0
  fi
  say "starting on 127.0.0.1:$PORT (state in $BASE)..."
  mkdir -p "$BASE/mnesia" "$BASE/log"
  [ -f "$BASE/enabled_plugins" ] || echo "[]." > "$BASE/enabled_plugins"
  chown -R rabbitmq:rabbitmq "$BASE"
  rabbitmq-server -detached >/dev/null 2>&1 || true
  wait_ready 90
  say "ready on amqp://guest:guest@127.0.0.1:$PORT/"
}

case "${1:-ensure}" in
  ensure) ensure ;;
  stop)
    rabbitmqctl -q stop >/dev/null 2>&1 || true
    pkill -u rabbitmq -x epmd 2>/dev/null || pkill -x epmd 2>/dev/null || true
    ;;
  restart-app)
    rabbitmqctl -q stop_app
    rabbitmqctl -q start_app
    wait_ready 60
    ;;
  url) echo "amqp://guest:guest@127.0.0.1:$PORT/" ;;
  *) echo "usage: scripts/rabbitmq.sh [ensure|stop|restart-app|url]" >&2; exit 2 ;;
esac
