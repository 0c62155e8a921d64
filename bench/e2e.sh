#!/usr/bin/env bash
# bench/e2e.sh - the end-to-end benchmark of issue 4: spans in through
# OTLP/HTTP, evaluated against 100 rules, signals stored in Redis.
# `make bench` runs it after bench/run.sh; it also runs on its own.
#
# One BeTrace as in service: redis-server, betrace-engine (--redis) and
# nginx (1 worker, the module from build/, the REST API with an API key
# file), all three pinned to BENCH_NGINX_CPU; wrk replays W3 bodies from
# BENCH_LOAD_CPU with trace ids made unique on every pass (bench/otlp.lua
# "unique"), so every request carries 10 new traces.  100 rules are
# created through POST /api/v1/rules before any load.
#
#   1. saturation: wrk closed loop for BENCH_SECS.  The figure is spans
#      accepted (200) per second of wall time from the start of the run
#      until the engine has consumed all of them (if it lags, the catch-up
#      counts), plus spans per CPU-second of the three processes.  429/503
#      answers are the back pressure of a full ring and are reported.
#   2. latency: the engine is restarted (its histogram starts empty) on
#      BENCH_LOAD_CPU with Redis moved there too (nginx keeps its core, as
#      in service), then wrk sends W3 at half of the saturating request
#      rate for
#      2 x BENCH_SECS; p50/p99 from a trace's completion to its signal
#      being stored in Redis are the engine's own (signal_latency_p50_us,
#      signal_latency_p99_us in GET /api/v1/stats; from the engine's log
#      line when the stats do not carry them).  Target: p99 under 5 ms.
#
# Prints one line per figure and writes build/bench/e2e.json.
#
# Environment (defaults in brackets):
#   BENCH_SECS        seconds of the saturation run [5]
#   BENCH_CONNS       wrk connections [64]
#   BENCH_RULES       rules created [100]
#   BENCH_E2E_SLOT    ring slot size [512m]
#   BENCH_IDLE_MS     engine --idle-ms [500]
#   BENCH_NGINX_CPU / BENCH_LOAD_CPU  CPUs for BeTrace / wrk [1 / 0]
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd)
B=$REPO/build
OUT=$B/bench
BODIES=$OUT/bodies

SECS=${BENCH_SECS:-5}
CONNS=${BENCH_CONNS:-64}
NRULES=${BENCH_RULES:-100}
SLOT=${BENCH_E2E_SLOT:-512m}
IDLE_MS=${BENCH_IDLE_MS:-500}
NGX_CPU=${BENCH_NGINX_CPU:-1}
LOAD_CPU=${BENCH_LOAD_CPU:-0}
NGINX=${NGINX:-/usr/sbin/nginx}
KEY=bench-e2e-write-key

die() { echo "bench e2e: $*" >&2; exit 1; }

for tool in wrk taskset curl redis-server redis-cli sha256sum "$NGINX"; do
    command -v "$tool" >/dev/null || die "$tool not found (scripts/deps.sh installs it)"
done

make -s "$B/bench/gen" "$B/ngx_http_betrace_module.so" "$B/betrace-engine" \
    || die "build failed"
mkdir -p "$OUT"
# Three sets of W3 bodies from different seeds, one per wrk run (warm-up,
# saturation, half load): otlp.lua's "unique" numbers passes from 0 in every
# run, so one set replayed twice would repeat trace ids, and the engine
# would see late spans of completed traces instead of new traces.
for set in 1 2 3; do
    if [ ! -f "$BODIES/e2e-$set/w3/manifest" ] \
       || [ "$B/bench/gen" -nt "$BODIES/e2e-$set/w3/manifest" ]; then
        "$B/bench/gen" -s "$(( 4000 + set ))" -w w3 "$BODIES/e2e-$set" >&2 \
            || die "generator failed"
    fi
done

TMP=$(mktemp -d /tmp/betrace-e2e.XXXXXX)
RING=$TMP/ring
NGX_PID= ENG_PID= RDS_PID=

cleanup() {
    local p
    for p in "$NGX_PID" "$ENG_PID" "$RDS_PID"; do
        if [ -n "$p" ]; then kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; fi
    done
    if [ -n "${BENCH_KEEP:-}" ]; then echo "bench e2e: kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

calc() { awk "BEGIN { print $1 }"; }

commas() {
    printf '%.0f' "$1" | awk '{ s = $0; r = "";
        while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }
        print s r }'
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
        || echo $(( 20000 + RANDOM % 20000 ))
}

PORT=$(free_port)
URL=http://127.0.0.1:$PORT

nsignals() {    # signals stored in Redis now
    redis-cli -s "$TMP/redis.sock" ZCARD betrace:signals
}

stats() {       # stats FIELD -> the number from GET /api/v1/stats, or ""
    curl -sf -H "Authorization: Bearer $KEY" "$URL/api/v1/stats" | { grep -o "\"$1\":[0-9]*" || true; } \
        | head -1 | cut -d: -f2
}

# --- Redis, engine, nginx -----------------------------------------------------

taskset -c "$NGX_CPU" redis-server --port 0 --unixsocket "$TMP/redis.sock" \
    --unixsocketperm 700 --dir "$TMP" --appendonly yes --save '' \
    > "$TMP/redis.log" 2>&1 &
RDS_PID=$!
for _ in $(seq 100); do
    [ -S "$TMP/redis.sock" ] && break
    sleep 0.05
done
[ -S "$TMP/redis.sock" ] || die "redis-server did not start: $(tail -3 "$TMP/redis.log")"

ENG_N=0
start_engine() {     # start_engine [CPU]
    ENG_N=$(( ENG_N + 1 ))
    ENG_LOG=$TMP/engine-$ENG_N.log
    taskset -c "${1:-$NGX_CPU}" "$B/betrace-engine" --ring "$RING" --ring-slots 1 \
        --ring-slot-size "$SLOT" --redis "unix:$TMP/redis.sock" \
        --idle-ms "$IDLE_MS" --signal-queue 100000 --log-level info \
        2>> "$ENG_LOG" &
    ENG_PID=$!
}
stop_engine() {
    if [ -n "$ENG_PID" ]; then
        kill -TERM "$ENG_PID" 2>/dev/null || true
        wait "$ENG_PID" 2>/dev/null || true
        ENG_PID=
    fi
}
start_engine

printf '%s write bench\n' "$(printf '%s' "$KEY" | sha256sum | cut -d' ' -f1)" \
    > "$TMP/api_keys"
mkdir -p "$TMP/nginx/logs"
user_line=""
[ "$(id -u)" = 0 ] && user_line="user root;"
cat > "$TMP/nginx/nginx.conf" <<EOF
load_module $B/ngx_http_betrace_module.so;
$user_line
daemon off;
master_process on;
worker_processes 1;
error_log $TMP/nginx/logs/error.log warn;
pid $TMP/nginx/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $TMP/nginx/body;
    betrace_ring $RING slots=1 slot_size=$SLOT;
    betrace_redis unix:$TMP/redis.sock;
    betrace_api_keys $TMP/api_keys;
    server {
        listen 127.0.0.1:$PORT backlog=4096;
        keepalive_requests 1000000;
        client_max_body_size 16m;
        location = /v1/traces { betrace_otlp; }
        location = /api/v1/stats { betrace_stats; }
        location /api/v1/ { betrace_api; }
    }
}
EOF
taskset -c "$NGX_CPU" "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" \
    > "$TMP/nginx/logs/stdout" 2>&1 &
NGX_PID=$!
for _ in $(seq 200); do
    curl -sf -H "Authorization: Bearer $KEY" "$URL/api/v1/stats" >/dev/null 2>&1 && break
    kill -0 "$NGX_PID" 2>/dev/null || {
        cat "$TMP/nginx/logs/stdout" "$TMP/nginx/logs/error.log" >&2
        die "nginx did not start"
    }
    sleep 0.1
done
# touch the segment once, off the measurement (first-touch zeroing is slow)
taskset -c "$LOAD_CPU" "$B/bench/gen" -T "$RING" || die "cannot touch $RING"

# --- 100 rules through the API ----------------------------------------------

# Rules of the kinds users write, over W3's attributes (bench/gen.c).  Each
# is distinct (a number varies).  Ninety never hold on W3 but are evaluated
# in full on every trace (thresholds above what W3 produces, values it never
# has); the ten of the first kind fire on disjoint shares, about 0.45 % of
# traces each, so about one trace in twenty raises a signal: signals flow
# without turning every trace into a Redis write.
rule_dsl() {
    local i=$1
    case $(( i % 10 )) in
    0) echo "trace.has(span => span.attributes['db.rows_affected'] === $(( (i / 10) * 17 % 200 )) && span.attributes['db.system'] === 'mysql')" ;;
    1) echo "trace.has(span => span.kind === 'SERVER' && span.duration > $(( 1000 + i )))" ;;
    2) echo "trace.has(span => span.attributes['http.response.status_code'] === 500 && span.attributes['http.request.method'] === 'PATCH').and(trace.missing(span => span.name === 'audit.log.$i'))" ;;
    3) echo "trace.where(span => span.service === 'payment').has(span => span.name.includes('db') && span.duration > $(( 300 + i )))" ;;
    4) echo "trace.sequence(span => span.kind === 'SERVER', span => span.attributes['messaging.destination.name'] === 'payments' && span.status === 'ERROR' && span.attributes['messaging.kafka.destination.partition'] === $(( 20 + i )))" ;;
    5) echo "trace.count(span => span.attributes['http.response.status_code'] >= 500) > $(( 6 + i % 4 ))" ;;
    6) echo "trace.has(span => span.attributes['url.path'] === '/api/v1/orders/$(printf '%06d' "$i")')" ;;
    7) echo "trace.has(span => span.name.startsWith('SELECT') && span.attributes['db.rows_affected'] > $(( 250 + i )))" ;;
    8) echo "trace.has(span => span.status === 'ERROR' && span.events.some(e => e.attributes['exception.type'] === 'java.lang.OutOfMemoryError')).and(trace.has(span => span.attributes['app.cache.hit'] === false)).within('$(( 10 + i )) ms')" ;;
    9) echo "trace.duration > $(( 500 + i )) && trace.spanCount >= 10" ;;
    esac
}
sevs=(critical high medium low info)
t0=$(date +%s%N)
for i in $(seq 0 $(( NRULES - 1 ))); do
    body=$(printf '{"name": "bench rule %d", "dsl": "%s", "severity": "%s", "tags": ["bench"]}' \
        "$i" "$(rule_dsl "$i" | sed 's/"/\\"/g')" "${sevs[$(( i % 5 ))]}")
    code=$(curl -s -o "$TMP/rule.json" -w '%{http_code}' -X POST "$URL/api/v1/rules" \
        -H 'Content-Type: application/json' -H "Authorization: Bearer $KEY" -d "$body")
    [ "$code" = 201 ] || die "POST /api/v1/rules (rule $i) -> $code: $(head -c 400 "$TMP/rule.json")"
done
t1=$(date +%s%N)
create_ms=$(( (t1 - t0) / 1000000 ))
# the engine picks them up within a second
for _ in $(seq 100); do
    [ "$(stats rules_loaded)" = "$NRULES" ] && break
    grep -q "rules version [0-9]* loaded: $NRULES active" "$ENG_LOG" && break
    sleep 0.1
done
loaded=$(stats rules_loaded)
[ -n "$loaded" ] || loaded=$(grep -o "loaded: [0-9]* active" "$ENG_LOG" | tail -1 | grep -o '[0-9]*')
[ "$loaded" = "$NRULES" ] || die "the engine has $loaded of $NRULES rules active: $(tail -5 "$ENG_LOG")"
echo "bench e2e: $NRULES rules created through the API in $create_ms ms, all active in the engine" >&2

# --- 1. saturation -------------------------------------------------------------

wrk_run() {     # wrk_run SET SECONDS [script args...] -> the RESULT line
    local set=$1 secs=$2; shift 2
    taskset -c "$LOAD_CPU" wrk -t 1 -c "$CONNS" -d "${secs}s" --timeout 10s \
        -s "$REPO/bench/otlp.lua" "$URL/v1/traces" \
        -- "$BODIES/e2e-$set/w3" threads=1 conns="$CONNS" unique "$@" 2> "$TMP/wrk.err" \
        | grep '^RESULT' || { cat "$TMP/wrk.err" >&2; die "wrk failed"; }
}
field() { echo "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k { print $2 }'; }
statuses() { echo "$1" | { grep -o 'status_[0-9]*=[0-9]*' || true; } | tr '\n' ' ' | sed 's/ $//'; }

# Waits until the engine has consumed every accepted span; prints the wait.
# spans_consumed restarts at zero with the engine: CONS_BASE is what nginx
# had accepted (and the previous engine consumed) when it started.
CONS_BASE=0
catch_up() {
    local acc cons t0 i
    acc=$(( $(stats spans_accepted) - CONS_BASE )); t0=$(date +%s%N)
    for i in $(seq 600); do
        cons=$(stats spans_consumed)
        [ "$cons" -ge "$acc" ] && break
        kill -0 "$ENG_PID" 2>/dev/null || die "engine died: $(tail -5 "$ENG_LOG")"
        sleep 0.05
    done
    [ "$cons" -ge "$acc" ] || die "the engine did not catch up: $cons of $acc spans consumed"
    calc "($(date +%s%N) - $t0) / 1e9"
}

# utime + stime of a process (all its threads), in clock ticks
TICK=$(getconf CLK_TCK)
cpu_ticks() {
    local st; st=$(cat "/proc/$1/stat"); st=${st##*) }
    set -- $st
    echo $(( ${12} + ${13} ))
}
betrace_ticks() {   # nginx worker + engine + redis-server
    local w
    w=$(awk '{ print $1 }' "/proc/$NGX_PID/task/$NGX_PID/children")
    echo $(( $(cpu_ticks "$w") + $(cpu_ticks "$ENG_PID") + $(cpu_ticks "$RDS_PID") ))
}

FAILED=0
wrk_run 1 1 >/dev/null                       # warm-up
catch_up >/dev/null
a0=$(stats spans_accepted)
ev0=$(stats evaluations); sw0=$(nsignals)
c0=$(betrace_ticks)
r=$(wrk_run 2 "$SECS")
a1=$(stats spans_accepted)
lag=$(catch_up)
c1=$(betrace_ticks)
sleep "$(calc "($IDLE_MS + 500) / 1000")"    # the last traces complete
ev1=$(stats evaluations); sw1=$(nsignals)
dur=$(field "$r" duration_us); nreq=$(field "$r" requests); non=$(field "$r" non200)
spans=$(( a1 - a0 ))
# end to end: the spans are done when the engine has consumed them, so the
# time counts until it caught up, not only while wrk was sending
sat=$(calc "$spans / ($dur / 1e6 + $lag)")
ingest=$(calc "$spans / ($dur / 1e6)")
sat_rps=$(calc "($nreq - $non) / ($dur / 1e6)")
cpu_s=$(calc "($c1 - $c0) / $TICK")
per_cpu=$(calc "($cpu_s > 0) ? $spans / $cpu_s : 0")
load=$(cut -d' ' -f1 /proc/loadavg)
errs=$(( $(field "$r" err_connect) + $(field "$r" err_read) + $(field "$r" err_write) + $(field "$r" err_timeout) ))
[ "$errs" = 0 ] || { echo "e2e saturation: NOT A RESULT: $errs socket errors"; FAILED=1; }
evals=""; sigs=""
[ -n "$ev1" ] && [ -n "$ev0" ] && evals=$(( ev1 - ev0 ))
[ -n "$sw1" ] && [ -n "$sw0" ] && sigs=$(( sw1 - sw0 ))
printf 'e2e: %s spans/s accepted and consumed with %d rules loaded (W3, nginx + engine + Redis on CPU %s; %s spans per CPU-second of the three; %s spans/s and %s req/s answered 200 while sending, %s non-200%s; engine caught up %.2f s after the run; %s traces evaluated, %s signals stored; load average %s)\n' \
    "$(commas "$sat")" "$NRULES" "$NGX_CPU" "$(commas "$per_cpu")" "$(commas "$ingest")" "$(commas "$sat_rps")" "$non" \
    "$( [ "$non" != 0 ] && echo " ($(statuses "$r"))" )" "$lag" "${evals:-?}" "${sigs:-?}" "$load"
SAT_JSON="{\"rules\":$NRULES,\"seconds\":$SECS,\"spans_accepted\":$spans,\"spans_per_s\":$sat,\"spans_per_s_while_sending\":$ingest,\"cpu_s\":$cpu_s,\"spans_per_cpu_s\":$per_cpu,\"load_average\":$load,\"requests_per_s_200\":$sat_rps,\"non200\":$non,\"catch_up_s\":$lag,\"traces_evaluated\":${evals:-null},\"signals_stored\":${sigs:-null}}"

# --- 2. latency at half load ---------------------------------------------------

# As in service, nginx keeps its core: the engine and Redis move to the
# load CPU, where paced wrk needs little (bench/run.sh measures its latency
# the same way).  With all three on one busy core the tail measures the
# scheduler's time slices, not BeTrace.
stop_engine
CONS_BASE=$(stats spans_accepted)
taskset -a -p -c "$LOAD_CPU" "$RDS_PID" >/dev/null
start_engine "$LOAD_CPU"
for _ in $(seq 100); do
    [ "$(stats rules_loaded)" = "$NRULES" ] && break
    sleep 0.1
done
half=$(calc "int($sat_rps / 2)")
secs=$(( SECS * 2 ))
sw0=$(nsignals)
r=$(wrk_run 3 "$secs" rate="$half")
catch_up >/dev/null
sleep "$(calc "($IDLE_MS + 1000) / 1000")"
sw1=$(nsignals)
p50=$(stats signal_latency_p50_us); p99=$(stats signal_latency_p99_us)
src=stats
if [ -z "$p99" ]; then
    # not in the stats: the engine's own log line, which it writes every
    # 10 s and when it stops
    stop_engine
    line=$(grep 'completion to stored' "$ENG_LOG" | tail -1)
    [ -n "$line" ] || die "no latency in the stats nor in the engine's log"
    p50=$(echo "$line" | sed -n 's/.*stored p50 \([0-9]*\) us.*/\1/p')
    p99=$(echo "$line" | sed -n 's/.*p99 \([0-9]*\) us.*/\1/p')
    src="engine log"
fi
got=$(calc "int($(field "$r" requests) / ($(field "$r" duration_us) / 1e6))")
non=$(field "$r" non200)
nsig=""
[ -n "$sw1" ] && [ -n "$sw0" ] && nsig=$(( sw1 - sw0 ))
load=$(cut -d' ' -f1 /proc/loadavg)
printf 'e2e latency, trace completed -> signal stored, at %s req/s (half of saturation, %s spans/s; engine and Redis on CPU %s): p50 %.2f ms, p99 %.2f ms (target p99 < 5 ms; %s signals, %s non-200, from the %s; load average %s)\n' \
    "$(commas "$got")" "$(commas "$(( got * 100 ))")" "$LOAD_CPU" "$(calc "$p50 / 1000")" \
    "$(calc "$p99 / 1000")" "${nsig:-?}" "$non" "$src" "$load"
LAT_JSON="{\"target_rps\":$half,\"achieved_rps\":$got,\"seconds\":$secs,\"non200\":$non,\"signals\":${nsig:-null},\"p50_us\":$p50,\"p99_us\":$p99,\"p99_target_us\":5000,\"source\":\"$src\",\"load_average\":$load}"

printf '{"date":"%s","host":"%s","commit":"%s","cpus":"betrace %s, wrk %s","connections":%s,"ring_slot":"%s","idle_ms":%s,"rules_create_ms":%s,"saturation":%s,"latency":%s}\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(hostname)" \
    "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" "$NGX_CPU" \
    "$LOAD_CPU" "$CONNS" "$SLOT" "$IDLE_MS" "$create_ms" "$SAT_JSON" \
    "$LAT_JSON" > "$OUT/e2e.json"
echo "bench e2e: results in $OUT/e2e.json" >&2
exit $FAILED
