#!/usr/bin/env bash
# bench/signals.sh - the engine with 100 rules loaded from Redis (issue 4).
#
#   bench/signals.sh            (after `make`; builds bench_signals itself)
#
# A private redis-server (unix socket) gets 100 rules (four families of
# DSL.md-like rules with varied constants; three of them fire on the slow
# payment query that one trace in MATCH_EVERY carries).  Two runs, each
# with a fresh betrace-engine pinned to one CPU and bench_signals (the
# producer, writing span batches straight into the ring as an nginx worker
# does) pinned to the other:
#
#   1. saturation: the producer writes as fast as the ring takes it; the
#      figure is the engine's consumption rate (spans evaluated per second,
#      from the engine's own counters) with the rules loaded.
#   2. half of that rate: p50 / p99 from a trace's completion to its signal
#      being stored in Redis, as the engine measures it (completion time
#      kept with the queued signal, measured after Redis replied).
#
# Prints both JSON objects and writes build/bench/signals.json.
#
# Environment: BENCH_SECS [5], MATCH_EVERY [200], ENGINE_CPU [1],
# LOAD_CPU [0].
set -euo pipefail

cd "$(dirname "$0")/.."
B=$(pwd)/build
SECS=${BENCH_SECS:-5}
MATCH_EVERY=${MATCH_EVERY:-200}
ENGINE_CPU=${ENGINE_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}

make -s "$B/betrace-engine" "$B/bench/bench_signals"

DIR=$(mktemp -d)
RING=/dev/shm/betrace-bench-signals-$$
SOCK=$DIR/redis.sock
REDIS_PID=
ENGINE_PID=

cleanup() {
    if [ -n "${FAILED:-}" ]; then
        echo "signals.sh: engine log:" >&2
        tail -20 "$DIR/engine.log" >&2
    fi
    [ -n "$ENGINE_PID" ] && kill "$ENGINE_PID" 2>/dev/null || true
    [ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -f "$RING"
    rm -rf "$DIR"
}
FAILED=1
trap cleanup EXIT

# exec: a backgrounded `pin` must be the program itself, so its pid can
# be signalled
pin() {
    if command -v taskset >/dev/null; then
        exec taskset -c "$1" "${@:2}"
    else
        exec "${@:2}"
    fi
}

rcli() {
    redis-cli -s "$SOCK" "$@"
}

redis-server --port 0 --unixsocket "$SOCK" --save "" --appendonly no \
    --dir "$DIR" --daemonize no >"$DIR/redis.log" 2>&1 &
REDIS_PID=$!
for _ in $(seq 100); do
    rcli ping >/dev/null 2>&1 && break
    sleep 0.05
done

# 100 rules, the way the REST API stores them
put_rule() {
    local id=$1 dsl=$2 json
    json=$(printf '{"id":"%s","name":"bench rule %s","description":"",'\
'"dsl":"%s","severity":"medium","enabled":true,"tags":[],'\
'"created_at":"2026-11-25T00:00:00.000Z",'\
'"updated_at":"2026-11-25T00:00:00.000Z","version":1}' "$id" "$id" "$dsl")
    rcli SET "betrace:rule:$id" "$json" >/dev/null
    rcli ZADD betrace:rules 1 "$id" >/dev/null
}
for i in $(seq 0 24); do
    put_rule "r$i-err" "trace.has(span => span.name === 'op.$i' && span.status === 'ERROR')"
    put_rule "r$i-slow" "trace.where(span => span.name.startsWith('payment')).has(span => span.name.includes('db.query') && span.duration > $((1000 + i * 50)))"
    put_rule "r$i-pii" "trace.has(span => span.attributes['tenant'] === 't$i').and(trace.missing(span => span.name === 'audit.log'))"
    put_rule "r$i-auth" "trace.has(span => span.name === 'auth.login' && span.status === 'ERROR').and(trace.has(span => span.name === 'auth.login' && span.status === 'OK')).within('$((i + 1)) seconds')"
done
rcli INCR betrace:rules:version >/dev/null

start_engine() {
    rm -f "$RING"
    rcli DEL betrace:engine >/dev/null
    pin "$ENGINE_CPU" "$B/betrace-engine" --ring "$RING" --ring-slots 1 \
        --ring-slot-size 512m --idle-ms 200 --redis "unix:$SOCK" \
        >>"$DIR/engine.log" 2>&1 &
    ENGINE_PID=$!
    for _ in $(seq 200); do
        if rcli GET betrace:engine 2>/dev/null | grep -q '"rules_loaded":100'
        then
            return 0
        fi
        sleep 0.05
    done
    echo "signals.sh: the engine did not load 100 rules" >&2
    tail -20 "$DIR/engine.log" >&2
    exit 1
}

stop_engine() {
    kill "$ENGINE_PID"
    wait "$ENGINE_PID" || true
    ENGINE_PID=
}

start_engine
SAT=$(pin "$LOAD_CPU" "$B/bench/bench_signals" --ring "$RING" --rate 0 \
      --seconds "$SECS" --match-every "$MATCH_EVERY")
stop_engine
echo "saturation: $SAT"

RATE=$(echo "$SAT" | sed -n 's/.*"spans_consumed_per_s": \([0-9]*\).*/\1/p')
HALF=$((RATE / 2))

rcli DEL betrace:signals >/dev/null
start_engine
LAT=$(pin "$LOAD_CPU" "$B/bench/bench_signals" --ring "$RING" --rate "$HALF" \
      --seconds "$SECS" --match-every "$MATCH_EVERY")
stop_engine
echo "half load: $LAT"

grep -E "signals:|rules version" "$DIR/engine.log" | tail -4

FAILED=
mkdir -p "$B/bench"
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
echo "load average: $LOADAVG (2 cores shared with everything else)"
printf '{"saturation": %s, "half_load": %s, "loadavg": "%s"}\n' \
    "$SAT" "$LAT" "$LOADAVG" >"$B/bench/signals.json"
