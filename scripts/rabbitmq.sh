#!/usr/bin/env bash
# A RabbitMQ node of jcyme's own on 127.0.0.1, state under $JCYME_RABBITMQ_BASE.
#   scripts/rabbitmq.sh [ensure]     install with apt when absent, start the node when not running, wait until ready;
#                                    fails when the port is held by anything but this node
#   scripts/rabbitmq.sh check        exit 0 when the port answers as RabbitMQ and is this node's listener
#   scripts/rabbitmq.sh product      print the product the AMQP server on the port announces
#   scripts/rabbitmq.sh stop         stop this node (epmd, shared by every node on the host, stays)
#   scripts/rabbitmq.sh restart-app  stop_app + start_app: drops every connection, keeps durable data
#   scripts/rabbitmq.sh url          print the AMQP URL
# Which node: JCYME_RABBITMQ_PORT (5672), JCYME_RABBITMQ_NODE (rabbit@localhost),
# JCYME_RABBITMQ_DIST_PORT (port + 20000, Erlang distribution), JCYME_RABBITMQ_BASE. Nodes with
# their own name, ports and base run side by side (bin/test uses jcyme-test@localhost on 5673).
set -euo pipefail

PORT="${JCYME_RABBITMQ_PORT:-5672}"
NODE="${JCYME_RABBITMQ_NODE:-rabbit@localhost}"
DIST_PORT="${JCYME_RABBITMQ_DIST_PORT:-$((PORT + 20000))}"
if [ "$NODE" = rabbit@localhost ]; then
  BASE="${JCYME_RABBITMQ_BASE:-/var/tmp/jcyme-rabbitmq}"
else
  BASE="${JCYME_RABBITMQ_BASE:-/var/tmp/jcyme-rabbitmq-${NODE%@*}}"
fi
export RABBITMQ_NODENAME="$NODE"
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT="$PORT"
export RABBITMQ_DIST_PORT="$DIST_PORT"
export ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
export RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
export RABBITMQ_MNESIA_BASE="$BASE/mnesia"
export RABBITMQ_LOG_BASE="$BASE/log"
export RABBITMQ_ENABLED_PLUGINS_FILE="$BASE/enabled_plugins"

say() { echo "rabbitmq: $*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The "product" of the AMQP server on $PORT, from its connection.start server-properties
# (RabbitMQ says "RabbitMQ"; the embedded Qpid broker something else); empty when none answers.
product() {
  { exec 3<>"/dev/tcp/127.0.0.1/$PORT" && printf 'AMQP\000\000\011\001' >&3 \
      && timeout 5 dd bs=8192 count=1 <&3 2>/dev/null; } 2>/dev/null \
    | tr -c '[:print:]' '\n' \
    | awk '$0 != "" { if (prev == "productS") { print; exit } prev = $0 }' || true
}

# This node is running and $PORT is its AMQP listener.
ours() {
  rabbitmqctl -q -n "$NODE" await_startup --timeout 5 >/dev/null 2>&1 \
    && rabbitmq-diagnostics -q -n "$NODE" listeners 2>/dev/null | grep -q "port: $PORT, protocol: amqp,"
}

check() {
  local found
  found="$(product)"
  if [ "$found" != RabbitMQ ]; then
    if port_open "$PORT"; then
      say "127.0.0.1:$PORT is held by something that is not RabbitMQ (AMQP product: '${found:-none}')"
    else
      say "nothing listens on 127.0.0.1:$PORT"
    fi
    return 1
  fi
  if ! ours; then
    say "127.0.0.1:$PORT is a RabbitMQ, but not the node $NODE (another node's listener)"
    return 1
  fi
}

install() {
  if ! command -v rabbitmq-server >/dev/null 2>&1 && [ ! -x /usr/sbin/rabbitmq-server ]; then
    say "installing rabbitmq-server with apt..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
  fi
}

wait_ready() {
  local deadline=$((SECONDS + ${1:-90}))
  until port_open "$PORT" && check 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      check || true
      say "$NODE not ready on 127.0.0.1:$PORT after ${1:-90} s; last lines of its log:"
      tail -n 30 "$BASE"/log/*.log 2>/dev/null >&2 || true
      exit 1
    fi
    sleep 0.5
  done
}

ensure() {
  install
  if port_open "$PORT"; then
    if check; then
      return 0
    fi
    say "refusing to use 127.0.0.1:$PORT; free it, or choose another port with JCYME_RABBITMQ_PORT"
    exit 1
  fi
  if port_open "$DIST_PORT"; then
    say "the Erlang distribution port 127.0.0.1:$DIST_PORT of $NODE is taken; choose another with JCYME_RABBITMQ_DIST_PORT"
    exit 1
  fi
  say "starting $NODE on 127.0.0.1:$PORT (distribution port $DIST_PORT, state in $BASE)..."
  mkdir -p "$BASE/mnesia" "$BASE/log"
  [ -f "$BASE/enabled_plugins" ] || echo "[]." > "$BASE/enabled_plugins"
  chown -R rabbitmq:rabbitmq "$BASE"
  rabbitmq-server -detached >/dev/null 2>&1 || true
  wait_ready 90
  say "ready: $NODE on amqp://guest:guest@127.0.0.1:$PORT/"
}

case "${1:-ensure}" in
  ensure) ensure ;;
  check) check ;;
  product) product ;;
  stop) rabbitmqctl -q -n "$NODE" stop >/dev/null 2>&1 || true ;;
  restart-app)
    check
    rabbitmqctl -q -n "$NODE" stop_app
    rabbitmqctl -q -n "$NODE" start_app
    wait_ready 60
    ;;
  url) echo "amqp://guest:guest@127.0.0.1:$PORT/" ;;
  *) echo "usage: scripts/rabbitmq.sh [ensure|check|product|stop|restart-app|url]" >&2; exit 2 ;;
esac
