#!/usr/bin/env bash
# bench/run.sh - the ingest benchmark (BENCHMARKS.md, issue 2 part 7).
# `make bench` runs it after building everything.  docs/benchmarks.md
# explains the method; in short:
#
# A private nginx (1 worker, the module from build/) pinned to one CPU takes
# the bodies bench/gen prebuilt, replayed by wrk pinned to the other CPU
# over keep-alive connections.  For each workload:
#
#   accepted spans/s per nginx core = spans accepted (GET /api/v1/stats
#   delta, not wrk's count) / worker CPU seconds (delta of the scheduler's
#   run time of the worker, /proc/<pid>/schedstat; utime+stime without it)
#
# with requests/s and the wall rate; median of BENCH_RUNS runs and the
# spread.  The engine does not run while nginx is measured, so it can't
# steal the core: before each run it starts, empties the ring, and stops.
# Then the engine's consumption rate (spans/s per engine core) over a ring
# filled by a W3 run, the p99 request latency at half of W3's saturation
# rate, and W3 at 1.2 x saturation with the engine draining a small ring
# (429/503 counted, every acknowledged span must reach the engine).  A run
# with any non-200 response is not a result: it is reported and the script
# exits 1.
#
# Prints one line per figure and writes build/bench/results.json.  If
# bench/eval.sh exists (the DSL evaluation benchmark) it runs at the end.
#
# Environment (defaults in brackets):
#   BENCH_WORKLOADS  workloads to run [w1 w2 w3 w4 w5 w3-json w3-gzip w3-split]
#   BENCH_RUNS       runs per workload [3]
#   BENCH_SECS       seconds per measured run, at most [3]
#   BENCH_WARMUP     seconds of unmeasured load before a workload's runs [1]
#   BENCH_CONNS      wrk connections [64]
#   BENCH_SLOT_SIZE  ring slot size; a run is shortened to fit in it [2g]
#                    (at ~1.3M spans/s of ~900 bytes, 1 s needs over 1g)
#   BENCH_NGINX_CPU / BENCH_LOAD_CPU  CPUs for nginx (and the engine) / wrk [1 / 0]
#   BENCH_ENGINE=0   skip the engine measurement
#   BENCH_LATENCY=0  skip the latency measurement
#   BENCH_LATENCY_PCT  load of the latency run, % of saturation [25]
#   BENCH_OVERLOAD=0 skip the 1.2 x saturation run
#   BENCH_EVAL=0     don't run bench/eval.sh
#   BENCH_SIGNALS=0  don't run bench/signals.sh (the engine with 100 rules)
#   BENCH_E2E=0      don't run bench/e2e.sh (end to end with 100 rules)
#   BENCH_PERF=1|WORKLOAD  perf record the worker during one extra run (W3)

# bash reads a script while it runs it; inside braces it reads all of it
# first, so an edit to this file during a run can't break the run.
{
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd)
B=$REPO/build
OUT=$B/bench
BODIES=$OUT/bodies

WORKLOADS=${BENCH_WORKLOADS:-w1 w2 w3 w4 w5 w3-json w3-gzip w3-split}
RUNS=${BENCH_RUNS:-3}
SECS=${BENCH_SECS:-3}
WARMUP=${BENCH_WARMUP:-1}
CONNS=${BENCH_CONNS:-64}
SLOT_SIZE=${BENCH_SLOT_SIZE:-2g}
NGX_CPU=${BENCH_NGINX_CPU:-1}
LOAD_CPU=${BENCH_LOAD_CPU:-0}
NGINX=${NGINX:-/usr/sbin/nginx}
TICK=$(getconf CLK_TCK)

die() { echo "bench: $*" >&2; exit 1; }

for tool in wrk taskset curl "$NGINX"; do
    command -v "$tool" >/dev/null || die "$tool not found (scripts/deps.sh installs it)"
done

make -s "$B/bench/gen" "$B/ngx_http_betrace_module.so" "$B/betrace-engine" \
    || die "build failed"

mkdir -p "$OUT"
TMP=$(mktemp -d /tmp/betrace-bench.XXXXXX)

# Run copies, so that a rebuild during the run (make in another shell) can't
# swap a binary under it.
cp "$B/betrace-engine" "$B/ngx_http_betrace_module.so" "$B/bench/gen" "$TMP/"
ENGINE_BIN=$TMP/betrace-engine
MODULE_SO=$TMP/ngx_http_betrace_module.so
GEN_BIN=$TMP/gen
RING=
NGX_PID=
ENG_PID=

cleanup() {
    set +e
    if [ -n "$ENG_PID" ]; then kill -TERM "$ENG_PID" 2>/dev/null; wait "$ENG_PID" 2>/dev/null; fi
    if [ -n "$NGX_PID" ]; then kill -TERM "$NGX_PID" 2>/dev/null; wait "$NGX_PID" 2>/dev/null; fi
    [ -n "$RING" ] && rm -f "$RING"
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM


# --- bodies ------------------------------------------------------------------

need=()
for w in $WORKLOADS w3; do
    if [ ! -f "$BODIES/$w/manifest" ] || [ "$B/bench/gen" -nt "$BODIES/$w/manifest" ]; then
        need+=( "$w" )
    fi
done
if [ ${#need[@]} -gt 0 ]; then
    "$B/bench/gen" -w "$(IFS=,; echo "${need[*]}")" "$BODIES" >&2 \
        || die "generator failed"
fi

manifest() {    # manifest WORKLOAD KEY
    awk -v k="$2" '$1 == k { print $2; exit }' "$BODIES/$1/manifest"
}


# --- helpers -----------------------------------------------------------------

# 1234567.8 -> 1,234,568
commas() {
    awk -v n="$1" 'BEGIN {
        s = sprintf("%.0f", n); r = "";
        while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }
        print s r }'
}

calc() {        # calc 'awk expression' -> its value (parenthesise comparisons:
                # awk reads "print a > b" as a redirection)
    awk "BEGIN { print $1 }"
}

# cpu_s PID -> CPU seconds used by all threads of PID: the scheduler's
# nanosecond count (/proc/PID/task/*/schedstat), or utime+stime in clock
# ticks where schedstat is missing.
cpu_s() {
    local s
    if [ -r "/proc/$1/schedstat" ]; then
        cat /proc/"$1"/task/*/schedstat 2>/dev/null \
            | awk '{ ns += $1 } END { printf "%.6f\n", ns / 1e9 }'
    else
        s=$(cat "/proc/$1/stat"); s=${s##*) }
        set -- $s
        calc "(${12} + ${13}) / $TICK"
    fi
}

# minflt PID -> minor page faults of PID so far
minflt() {
    local s; s=$(cat "/proc/$1/stat"); s=${s##*) }
    set -- $s
    echo "${8}"
}

size_bytes() {  # 2g -> 2147483648
    local n=${1%[kKmMgG]}
    case $1 in
    *[kK]) echo $(( n << 10 )) ;;
    *[mM]) echo $(( n << 20 )) ;;
    *[gG]) echo $(( n << 30 )) ;;
    *)     echo "$n" ;;
    esac
}

PORT=
stats() {       # stats FIELD -> the number from GET /api/v1/stats
    local v
    v=$(curl -sf "http://127.0.0.1:$PORT/api/v1/stats" \
        | { grep -o "\"$1\":[0-9]*" || true; } | head -1 | cut -d: -f2)
    [ -n "$v" ] || die "GET /api/v1/stats: no $1"
    echo "$v"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
        || echo $(( 20000 + RANDOM % 20000 ))
}

# start_nginx SLOT_SIZE: nginx on a new ring segment of one slot, pinned to
# NGX_CPU; sets NGX_PID, WORKER_PID, PORT and RING.
start_nginx() {
    local user_line="" i
    RING=/dev/shm/betrace-bench.$$.$1
    rm -f "$RING"
    PORT=$(free_port)
    mkdir -p "$TMP/nginx/logs"
    [ "$(id -u)" = 0 ] && user_line="user root root;"
    cat > "$TMP/nginx/nginx.conf" <<EOF
load_module $MODULE_SO;
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
    betrace_ring $RING slots=1 slot_size=$1;
    server {
        listen 127.0.0.1:$PORT backlog=4096;
        keepalive_requests 1000000;
        # bodies must stay in memory: a body that spills to a temp file
        # costs a write and a read on the hot path
        client_body_buffer_size 1m;
        client_max_body_size 16m;
        location = /v1/traces { betrace_otlp; }
        location = /api/v1/stats { betrace_stats; }
        # the floor: nginx reads and drops the body, no module code
        location = /baseline { return 200; }
    }
}
EOF
    taskset -c "$NGX_CPU" "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" \
        > "$TMP/nginx/logs/stdout" 2>&1 &
    NGX_PID=$!
    for i in $(seq 100); do
        if curl -sf "http://127.0.0.1:$PORT/api/v1/stats" >/dev/null 2>&1; then
            break
        fi
        kill -0 "$NGX_PID" 2>/dev/null || {
            cat "$TMP/nginx/logs/stdout" "$TMP/nginx/logs/error.log" >&2
            die "nginx did not start"
        }
        sleep 0.1
    done
    WORKER_PID=$(awk '{ print $1 }' "/proc/$NGX_PID/task/$NGX_PID/children")
    [ -n "$WORKER_PID" ] || die "no nginx worker"
    # A new segment's pages are zeroed on first touch (slow on this VM: up
    # to ~10 s per GiB cold).  Do it once here, off the worker's CPU time;
    # a ring in service reuses its pages and never pays it.
    taskset -c "$LOAD_CPU" "$GEN_BIN" -T "$RING" || die "cannot touch $RING"
}

stop_nginx() {
    if [ -n "$NGX_PID" ]; then
        kill -TERM "$NGX_PID" 2>/dev/null || true
        wait "$NGX_PID" 2>/dev/null || true
        NGX_PID=
    fi
    if grep -q '\[\(alert\|emerg\|crit\)\]' "$TMP/nginx/logs/error.log" 2>/dev/null; then
        echo "bench: nginx logged errors:" >&2
        grep '\[\(alert\|emerg\|crit\)\]' "$TMP/nginx/logs/error.log" | tail -5 >&2
    fi
    rm -f "$RING"
    RING=
}

# start_engine CPU [options]: the engine on the current ring; sets ENG_PID
start_engine() {
    local cpu=$1; shift
    taskset -c "$cpu" "$ENGINE_BIN" --ring "$RING" --log-level warn "$@" \
        2>> "$TMP/engine.log" &
    ENG_PID=$!
}

stop_engine() {
    if [ -n "$ENG_PID" ]; then
        kill -TERM "$ENG_PID" 2>/dev/null || true
        wait "$ENG_PID" 2>/dev/null || true
        ENG_PID=
    fi
}

# Empties the ring: the engine (on nginx's CPU, nothing is measured now)
# consumes everything, completes the traces after a short idle time and
# gives the space back; then it stops.
drain() {
    local i
    [ "$(stats ring_bytes_used)" = 0 ] && return 0
    start_engine "$NGX_CPU" --idle-ms 50 --max-age-ms 500
    for i in $(seq 600); do
        [ "$(stats ring_bytes_used)" = 0 ] && break
        kill -0 "$ENG_PID" 2>/dev/null || { cat "$TMP/engine.log" >&2; die "engine died"; }
        sleep 0.05
    done
    stop_engine
    [ "$(stats ring_bytes_used)" = 0 ] || die "the engine did not empty the ring"
}

# wrk_run WORKLOAD SECONDS [script args...] -> the RESULT line
wrk_run() {
    local w=$1 secs=$2; shift 2
    taskset -c "$LOAD_CPU" wrk -t 1 -c "$CONNS" -d "${secs}s" --timeout 10s \
        -s "$REPO/bench/otlp.lua" "http://127.0.0.1:$PORT${WRK_PATH:-/v1/traces}" \
        -- "$BODIES/$w" threads=1 conns="$CONNS" "$@" 2> "$TMP/wrk.err" \
        | grep '^RESULT' || { cat "$TMP/wrk.err" >&2; die "wrk failed"; }
}

field() {       # field "RESULT ... k=v ..." KEY
    echo "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k { print $2 }'
}

statuses() {    # "status_429=3 status_503=1" from a RESULT line
    echo "$1" | { grep -o 'status_[0-9]*=[0-9]*' || true; } | tr '\n' ' ' \
        | sed 's/ $//'
}

# median and spread (half the range over the median, in %) of numbers
median_spread() {
    printf '%s\n' "$@" | sort -g | awk '
        { v[NR] = $1 }
        END {
            m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
            printf "%.1f %.1f\n", m, (m > 0 ? 50 * (v[NR] - v[1]) / m : 0)
        }'
}

label() {
    case $1 in
    w3-json)  echo "W3 json" ;;
    w3-gzip)  echo "W3 protobuf+gzip" ;;
    w3-split) echo "W3-split protobuf" ;;
    *)        echo "$(echo "$1" | tr a-z A-Z) protobuf" ;;
    esac
}

JSON_WL=()
FAILED=0
SAT_REQS=
SLOT_BYTES=$(size_bytes "$SLOT_SIZE")


# --- nginx: accepted spans/s per core ---------------------------------------

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench: nginx on CPU $NGX_CPU, wrk on CPU $LOAD_CPU ($CONNS connections), $RUNS x ${SECS}s per workload, ring slot $SLOT_SIZE; load average $LOAD_BEFORE (other work on the machine lowers the wall rates)" >&2

start_nginx "$SLOT_SIZE"

# One pass over the whole ring first, so that the worker has mapped every
# page before anything is measured (as in service, where the ring wraps).
t_end=$(( $(date +%s) + 60 ))
while [ "$(stats ring_bytes_used)" -lt $(( SLOT_BYTES * 8 / 10 )) ] \
      && [ "$(date +%s)" -lt "$t_end" ]
do
    wrk_run w3 1 >/dev/null
done
drain

for w in $WORKLOADS; do
    per_core=(); reqs=(); wall=(); faults=(); busy=(); ring_per_span=0
    bad=""

    # warm-up, which also tells how long a run may be to fit in the ring
    r=$(wrk_run "$w" "$WARMUP")
    used=$(stats ring_bytes_used)
    secs=$(awk -v u="$used" -v d="$(field "$r" duration_us)" -v s="$SLOT_BYTES" \
               -v max="$SECS" 'BEGIN {
                   bps = u / (d / 1e6); t = (bps > 0) ? int(0.7 * s / bps) : max;
                   if (t > max) t = max; if (t < 1) t = 1; print t }')

    for run in $(seq "$RUNS"); do
        drain
        s0=$(stats spans_accepted); c0=$(cpu_s "$WORKER_PID")
        f0=$(minflt "$WORKER_PID")
        r=$(wrk_run "$w" "$secs")
        s1=$(stats spans_accepted); c1=$(cpu_s "$WORKER_PID")
        f1=$(minflt "$WORKER_PID")
        full=$(stats ring_full); used=$(stats ring_bytes_used)

        non=$(field "$r" non200)
        nreq=$(field "$r" requests)
        dur=$(field "$r" duration_us)
        errs=$(( $(field "$r" err_connect) + $(field "$r" err_read) + $(field "$r" err_write) + $(field "$r" err_timeout) ))
        if [ "$non" != 0 ] || [ "$errs" != 0 ]; then
            bad="run $run: $non non-200 responses ($(statuses "$r")), $errs socket errors, ring_full=$full"
            break
        fi
        spans=$(( s1 - s0 )); cpu=$(calc "$c1 - $c0")
        [ "$(calc "($cpu > 0.01)")" = 1 ] || { bad="run $run: worker used no CPU"; break; }
        per_core+=( "$(calc "$spans / $cpu")" )
        reqs+=( "$(calc "$nreq / ($dur / 1e6)")" )
        wall+=( "$(calc "$spans / ($dur / 1e6)")" )
        faults+=( "$(calc "($f1 - $f0) / $cpu")" )
        busy+=( "$(calc "100 * $cpu / ($dur / 1e6)")" )
        ring_per_span=$(awk -v b="$used" -v s="$spans" 'BEGIN { printf "%.0f", (s > 0) ? b / s : 0 }')
    done

    if [ -n "$bad" ]; then
        echo "$(label "$w"): NOT A RESULT: $bad"
        FAILED=1
        JSON_WL+=( "{\"workload\":\"$w\",\"error\":\"$(echo "$bad" | tr '"' "'")\"}" )
        drain
        continue
    fi

    read -r pc_med pc_spread < <(median_spread "${per_core[@]}")
    read -r rq_med _ < <(median_spread "${reqs[@]}")
    read -r wa_med _ < <(median_spread "${wall[@]}")
    read -r fl_med _ < <(median_spread "${faults[@]}")
    read -r busy_med _ < <(median_spread "${busy[@]}")
    spb=$(manifest "$w" spans); nb=$(manifest "$w" bodies)
    rq_core=$(calc "$pc_med / ($spb / $nb)")
    printf '%s: %s spans/s per nginx core (median of %d, spread ±%s%%), %s req/s per core; wall %s spans/s, %s req/s, worker busy %s%%\n' \
        "$(label "$w")" "$(commas "$pc_med")" "$RUNS" "$pc_spread" \
        "$(commas "$rq_core")" "$(commas "$wa_med")" "$(commas "$rq_med")" \
        "${busy_med%.*}"
    JSON_WL+=( "{\"workload\":\"$w\",\"spans_per_request\":$(( spb / nb )),\"runs\":$RUNS,\"seconds\":$secs,\"spans_per_s_per_core\":$pc_med,\"spread_pct\":$pc_spread,\"requests_per_s_per_core\":$rq_core,\"requests_per_s_wall\":$rq_med,\"spans_per_s_wall\":$wa_med,\"worker_busy_pct\":$busy_med,\"minor_faults_per_cpu_s\":$fl_med,\"ring_bytes_per_span\":$ring_per_span,\"samples_spans_per_s_per_core\":[$(IFS=,; echo "${per_core[*]}")]}" )
    [ "$w" = w3 ] && SAT_REQS=$rq_med
done


# --- the floor: what nginx alone costs per request ---------------------------

BASE_JSON=null
if [[ " $WORKLOADS " == *" w1 "* ]]; then
    # W1 bodies to a location that only reads and drops them: the requests/s
    # per core that nginx and the kernel's loopback TCP allow on this machine
    # before the module does anything.
    base=()
    for run in $(seq "$RUNS"); do
        c0=$(cpu_s "$WORKER_PID")
        r=$(WRK_PATH=/baseline wrk_run w1 "$SECS")
        c1=$(cpu_s "$WORKER_PID")
        [ "$(field "$r" non200)" = 0 ] || die "baseline: non-200 answers"
        base+=( "$(calc "$(field "$r" requests) / ($c1 - $c0)")" )
    done
    read -r b_med b_spread < <(median_spread "${base[@]}")
    printf 'W1 floor (nginx reads and drops the body, no module): %s req/s per nginx core (median of %d, spread ±%s%%)\n' \
        "$(commas "$b_med")" "$RUNS" "$b_spread"
    BASE_JSON="{\"workload\":\"w1\",\"requests_per_s_per_core\":$b_med,\"spread_pct\":$b_spread}"
fi


# --- engine: consumption rate ------------------------------------------------

ENGINE_JSON=null
if [ "${BENCH_ENGINE:-1}" != 0 ]; then
    # unique: trace ids never repeat, so the engine assembles real traces;
    # each fill is as long as the ring allows, at most BENCH_SECS + 1
    secs=$(awk -v s="$SLOT_BYTES" -v r="${SAT_REQS:-0}" -v max=$(( SECS + 1 )) 'BEGIN {
               bps = r * 100 * 1000; t = (bps > 0) ? int(0.6 * s / bps) : 1;
               if (t > max) t = max; if (t < 1) t = 1; print t }')
    e_per=(); e_wall=(); e_spans=0; e_cpu=0; bad=""
    for run in $(seq "$RUNS"); do
        drain
        a0=$(stats spans_accepted)
        r=$(wrk_run w3 "$secs" unique)
        non=$(field "$r" non200)
        if [ "$non" != 0 ]; then
            bad="the fill run had $non non-200 responses ($(statuses "$r"))"
            break
        fi
        # an engine counts from 0 when it starts
        todo=$(( $(stats spans_accepted) - a0 ))
        start_engine "$NGX_CPU" --idle-ms 1000 --max-spans $(( todo + 100000 ))
        t_start=$(date +%s.%N)
        while :; do
            consumed=$(stats spans_consumed)
            [ "$consumed" -ge "$todo" ] && break
            kill -0 "$ENG_PID" 2>/dev/null || { cat "$TMP/engine.log" >&2; die "engine died"; }
            sleep 0.01
        done
        t_end=$(date +%s.%N)
        ecpu=$(cpu_s "$ENG_PID")
        stop_engine
        [ "$(calc "($ecpu > 0)")" = 1 ] || { bad="the engine used no measurable CPU"; break; }
        e_per+=( "$(calc "$todo / $ecpu")" )
        e_wall+=( "$(calc "$todo / ($t_end - $t_start)")" )
        e_spans=$(( e_spans + todo ))
        e_cpu=$(calc "$e_cpu + $ecpu")
    done
    if [ -n "$bad" ]; then
        echo "engine: NOT A RESULT: $bad"
        FAILED=1
    else
        read -r ep_med ep_spread < <(median_spread "${e_per[@]}")
        read -r ew_med _ < <(median_spread "${e_wall[@]}")
        printf 'engine: %s spans/s per engine core read and assembled (median of %d, spread ±%s%%; %s spans of distinct W3 traces in %.2f s CPU), %s spans/s wall from start\n' \
            "$(commas "$ep_med")" "$RUNS" "$ep_spread" "$(commas "$e_spans")" "$e_cpu" "$(commas "$ew_med")"
        ENGINE_JSON="{\"runs\":$RUNS,\"spans\":$e_spans,\"cpu_s\":$e_cpu,\"spans_per_s_per_core\":$ep_med,\"spread_pct\":$ep_spread,\"spans_per_s_wall\":$ew_med,\"samples_spans_per_s_per_core\":[$(IFS=,; echo "${e_per[*]}")]}"
    fi
fi


# --- latency at about half load ---------------------------------------------

LAT_JSON=null
if [ "${BENCH_LATENCY:-1}" != 0 ] && [ -n "$SAT_REQS" ]; then
    drain
    # The engine runs this time, as in service, on the load CPU: paced wrk
    # needs little of it, and nginx keeps its own core.
    # BENCH_LATENCY_PCT of saturation [25]: at 40-50 % of today's W3
    # saturation (~1.4M spans/s) the engine, sharing the load generator's
    # core on a 2-core machine, falls behind; the ring fills and 429s make
    # the run no result.
    start_engine "$LOAD_CPU" --idle-ms 500
    half=$(awk -v r="$SAT_REQS" -v p="${BENCH_LATENCY_PCT:-25}" \
               'BEGIN { printf "%d", r * p / 100 }')
    r=$(wrk_run w3 "$(( SECS + 2 ))" rate="$half")
    stop_engine
    non=$(field "$r" non200)
    nreq=$(field "$r" requests); dur=$(field "$r" duration_us)
    got=$(calc "int($nreq / ($dur / 1e6))")
    p50=$(field "$r" p50_us); p99=$(field "$r" p99_us); p999=$(field "$r" p999_us)
    if [ "$non" != 0 ]; then
        echo "W3 latency: NOT A RESULT: $non non-200 responses ($(statuses "$r"))"
        FAILED=1
    else
        printf 'W3 latency at %s req/s (%d%% of saturation, engine running): p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms\n' \
            "$(commas "$got")" "$(calc "int(100 * $got / $SAT_REQS)")" \
            "$(calc "$p50 / 1000")" "$(calc "$p99 / 1000")" "$(calc "$p999 / 1000")"
        LAT_JSON="{\"workload\":\"w3\",\"target_rps\":$half,\"achieved_rps\":$got,\"p50_us\":$p50,\"p99_us\":$p99,\"p999_us\":$p999}"
    fi
fi

stop_nginx


# --- overload: 1.2 x saturation with the engine draining the ring -----------

OVER_JSON=null
if [ "${BENCH_OVERLOAD:-1}" != 0 ] && [ -n "$SAT_REQS" ]; then
    # The default ring size this time, so the engine has to keep up; it runs
    # on the load CPU (it needs a fraction of a core at these rates) so that
    # nginx keeps its own.  Open-loop arrivals at 1.2 x the W3 saturation
    # rate: nginx can't take them all, the queue shows in latency, and any
    # 429/503 is counted.  Every W3 body holds 100 spans, so the spans of the
    # 200 answers are known; all of them must reach the engine.
    over=$(calc "int($SAT_REQS * 1.2)")
    start_nginx 64m
    start_engine "$LOAD_CPU" --idle-ms 500
    saved_conns=$CONNS; CONNS=256
    r=$(wrk_run w3 "$(( SECS + 2 ))" rate="$over")
    CONNS=$saved_conns
    nreq=$(field "$r" requests); non=$(field "$r" non200)
    acked=$(( (nreq - non) * 100 ))
    accepted=$(stats spans_accepted)
    for i in $(seq 200); do
        consumed=$(stats spans_consumed)
        [ "$consumed" -ge "$accepted" ] && break
        sleep 0.05
    done
    stop_engine
    stop_nginx
    dur=$(field "$r" duration_us)
    got=$(calc "int($nreq / ($dur / 1e6))")
    st=$(statuses "$r"); p99=$(field "$r" p99_us)
    lost=$(( acked > consumed ? acked - consumed : 0 ))
    printf 'W3 at 1.2x saturation (%s req/s offered, %s answered/s, engine running): %s non-200%s, p99 %.1f ms, %s spans acknowledged, %s accepted, %s consumed by the engine, %s lost\n' \
        "$(commas "$over")" "$(commas "$got")" "$non" "${st:+ ($st)}" \
        "$(calc "$p99 / 1000")" \
        "$(commas "$acked")" "$(commas "$accepted")" "$(commas "$consumed")" "$lost"
    [ "$lost" = 0 ] || FAILED=1
    OVER_JSON="{\"offered_rps\":$over,\"answered_rps\":$got,\"non200\":$non,\"p99_us\":$(field "$r" p99_us),\"spans_acknowledged\":$acked,\"spans_accepted\":$accepted,\"spans_consumed\":$consumed,\"lost\":$lost}"
fi


# --- optional profile --------------------------------------------------------

if [ "${BENCH_PERF:-0}" != 0 ] && command -v perf >/dev/null; then
    pw=$BENCH_PERF
    [ "$pw" = 1 ] && pw=w3
    start_nginx "$SLOT_SIZE"
    wrk_run "$pw" "$WARMUP" >/dev/null
    drain
    (wrk_run "$pw" "$SECS" >/dev/null) &
    wpid=$!
    perf record -g -p "$WORKER_PID" -o "$OUT/perf.data" -- sleep "$(( SECS - 1 ))" \
        >/dev/null 2>&1 || true
    wait "$wpid" || true
    stop_nginx
    perf report -i "$OUT/perf.data" --no-children --sort sym -g none \
        --percent-limit 0.7 --stdio 2>/dev/null | grep '%' > "$OUT/perf.txt" || true
    echo "perf: profile of the $pw worker in $OUT/perf.txt" >&2
fi


# --- results.json ------------------------------------------------------------

{
    printf '{"date":"%s","host":"%s","cpus":"nginx %s, wrk %s","connections":%s,"ring_slot":"%s","loadavg_before":"%s","loadavg_after":"%s",' \
        "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(hostname)" "$NGX_CPU" "$LOAD_CPU" "$CONNS" "$SLOT_SIZE" \
        "$LOAD_BEFORE" "$(cut -d' ' -f1-3 /proc/loadavg)"
    printf '"commit":"%s","nginx":[%s],"nginx_floor":%s,"engine":%s,"latency":%s,"overload":%s}\n' \
        "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
        "$(IFS=,; echo "${JSON_WL[*]}")" "$BASE_JSON" "$ENGINE_JSON" "$LAT_JSON" "$OVER_JSON"
} > "$OUT/results.json"
echo "bench: results in $OUT/results.json" >&2

if [ -x "$REPO/bench/eval.sh" ] && [ "${BENCH_EVAL:-1}" != 0 ]; then
    "$REPO/bench/eval.sh" || FAILED=1
fi

# the engine alone with 100 rules from Redis (spans evaluated per engine
# CPU-second, completion-to-stored latency)
if [ -x "$REPO/bench/signals.sh" ] && [ "${BENCH_SIGNALS:-1}" != 0 ]; then
    "$REPO/bench/signals.sh" || FAILED=1
fi

if [ -x "$REPO/bench/e2e.sh" ] && [ "${BENCH_E2E:-1}" != 0 ]; then
    "$REPO/bench/e2e.sh" || FAILED=1
fi

exit $FAILED
}
