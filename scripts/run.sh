#!/usr/bin/env bash
# Development setup (`make run`, after `make all`): starts redis-server,
# betrace-engine and nginx with the module, in the foreground, on loopback,
# with every log line prefixed by the part that wrote it.
#
#   BETRACE_HTTP_PORT      OTLP (/v1/traces) and API (/api/v1)   8080
#   BETRACE_UI_PORT        UI (ui/) and API                      3000
#   BETRACE_TRACE_IDLE_MS  engine --idle-ms                      2000
#   BETRACE_RING_SLOTS / BETRACE_RING_SLOT_SIZE   segment geometry  4 / 16m
#   BETRACE_RUN_DIR        the state directory                   ./run
#
# State lives in ./run/ (ignored by git): redis.sock and its AOF, the ring
# segment (spans survive an engine restart), nginx.conf generated from
# conf/nginx-dev.conf.in, access.log, traces.jsonl (the engine's completed
# traces).
#
# Ctrl-C (SIGINT) or SIGTERM stops nginx, then the engine, then Redis, and
# exits 0.  If one of them dies on its own, the others are stopped and the
# exit status is non-zero.
set -uo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
RUN=${BETRACE_RUN_DIR:-$ROOT/run}
HTTP_PORT=${BETRACE_HTTP_PORT:-8080}
UI_PORT=${BETRACE_UI_PORT:-3000}
IDLE_MS=${BETRACE_TRACE_IDLE_MS:-2000}
SLOTS=${BETRACE_RING_SLOTS:-4}
SLOT_SIZE=${BETRACE_RING_SLOT_SIZE:-16m}
ENGINE=$ROOT/build/betrace-engine
MODULE=$ROOT/build/ngx_http_betrace_module.so

die() {
    echo "run: $*" >&2
    exit 1
}

for f in "$ENGINE" "$MODULE"; do
    [ -e "$f" ] || die "$f is missing; run \`make\` (or \`make run\`)"
done
command -v redis-server >/dev/null || die "redis-server not installed (scripts/deps.sh)"
[ -x /usr/sbin/nginx ] || die "/usr/sbin/nginx not installed (scripts/deps.sh)"

port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
for p in "$HTTP_PORT" "$UI_PORT"; do
    port_busy "$p" && die "port $p is in use (set BETRACE_HTTP_PORT / BETRACE_UI_PORT)"
done

mkdir -p "$RUN/tmp"
RUN=$(cd "$RUN" && pwd)
[ -f "$ROOT/ui/index.html" ] || die "ui/index.html is missing"

user=""
[ "$(id -u)" -eq 0 ] && user="user root;"
sed -e "s|@ROOT@|$ROOT|g" -e "s|@RUN@|$RUN|g" \
    -e "s|@HTTP_PORT@|$HTTP_PORT|g" -e "s|@UI_PORT@|$UI_PORT|g" \
    -e "s|@USER@|$user|g" -e "s|@RING@|$RUN/ring|g" \
    -e "s|@RING_SLOTS@|$SLOTS|g" -e "s|@RING_SLOT_SIZE@|$SLOT_SIZE|g" \
    conf/nginx-dev.conf.in > "$RUN/nginx.conf"

# The REST API's key: BETRACE_API_KEY, or a new random one each run.  Only
# its SHA-256 is written (run/api-keys, read by nginx at start); the key
# itself is printed below.
API_KEY=${BETRACE_API_KEY:-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}
( umask 077
  printf '%s write dev\n' "$(printf %s "$API_KEY" | sha256sum | cut -d' ' -f1)" \
      > "$RUN/api-keys" )

# Prefixes each line.  The prefixer ignores SIGINT so a Ctrl-C does not cut
# the pipe while its part is still writing its shutdown messages.
prefix() {
    trap '' INT TERM
    exec sed -u "s/^/$1 | /"
}

pids=()
names=()

start() {
    local name=$1; shift
    "$@" > >(prefix "$name") 2>&1 &
    pids+=($!)
    names+=("$name")
}

# Running and not a zombie (a dead child stays visible until it is reaped).
alive() {
    local _pid _comm st
    [ -r "/proc/$1/stat" ] || return 1
    read -r _pid _comm st _ < "/proc/$1/stat" 2>/dev/null || return 1
    [ "$st" != Z ]
}

# Stops the parts in reverse order of start: nginx (no new spans), the
# engine (writes pending output), Redis (flushes its AOF).
stopping=0
stop_all() {
    local i pid t
    stopping=1
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        pid=${pids[$i]}
        alive "$pid" || continue
        kill -TERM "$pid" 2>/dev/null
        for ((t = 0; t < 100; t++)); do
            alive "$pid" || break
            sleep 0.1
        done
        if alive "$pid"; then
            echo "run: ${names[$i]} ignored SIGTERM for 10 s, killing it" >&2
            kill -KILL "$pid" 2>/dev/null
        fi
        wait "$pid" 2>/dev/null
    done
}

on_signal() {
    echo "run: stopping" >&2
    stop_all
    exit 0
}
trap on_signal INT TERM

wait_for() {        # wait_for WHAT PID COMMAND...: polls for 20 s
    local what=$1 pid=$2 t
    shift 2
    for ((t = 0; t < 200; t++)); do
        "$@" >/dev/null 2>&1 && return 0
        alive "$pid" || { echo "run: $what exited during start" >&2; stop_all; exit 1; }
        sleep 0.1
    done
    echo "run: $what not ready after 20 s" >&2
    stop_all
    exit 1
}

# nginx -t first: a config error is clearer before anything runs.
/usr/sbin/nginx -q -t -p "$RUN" -c "$RUN/nginx.conf" -e stderr \
    || die "nginx -t failed for $RUN/nginx.conf"

start "redis " redis-server --port 0 --unixsocket "$RUN/redis.sock" \
    --unixsocketperm 700 --dir "$RUN" --appendonly yes --daemonize no
wait_for redis "${pids[0]}" redis-cli -s "$RUN/redis.sock" ping

start "engine" "$ENGINE" --ring "$RUN/ring" --ring-slots "$SLOTS" \
    --ring-slot-size "$SLOT_SIZE" --redis "unix:$RUN/redis.sock" \
    --idle-ms "$IDLE_MS" --traces-out "$RUN/traces.jsonl"
wait_for engine "${pids[1]}" test -s "$RUN/ring"

start "nginx " /usr/sbin/nginx -p "$RUN" -c "$RUN/nginx.conf" -e stderr
wait_for nginx "${pids[2]}" port_busy "$HTTP_PORT"

cat >&2 <<EOF
run: BeTrace is up
run:   OTLP   http://127.0.0.1:$HTTP_PORT/v1/traces
run:   API    http://127.0.0.1:$HTTP_PORT/api/v1/ (docs/api.md)
run:   key    $API_KEY  (write; BETRACE_API_KEY chooses it)
run:          curl -H "Authorization: Bearer $API_KEY" http://127.0.0.1:$HTTP_PORT/api/v1/rules
run:   UI     http://127.0.0.1:$UI_PORT/
run:   state  $RUN (completed traces in traces.jsonl)
run: Ctrl-C stops everything
EOF

# Any part that exits on its own ends the run.  Polled rather than
# `wait -n`: started from some parents (a Criterion test) bash's `wait -n`
# missed a child's death and never returned.  The short sleep runs in the
# background so a Ctrl-C is handled at once.
while :; do
    for i in "${!pids[@]}"; do
        if ! alive "${pids[$i]}"; then
            wait "${pids[$i]}"
            rc=$?
            echo "run: ${names[$i]} exited (status $rc); stopping the others" >&2
            stop_all
            exit $(( rc == 0 ? 1 : rc ))
        fi
    done
    sleep 0.5 &
    wait $! 2>/dev/null
done
