#!/usr/bin/env bash
# Runs every built test: `make test` calls it after `make test-bin`.
#
#   scripts/test.sh                 everything
#   scripts/test.sh test_ring ...   only these (names of build/t/ binaries)
#
# Order: unit tests (build/t/test_* built from t/unit/), then integration
# tests (from t/integration/; real nginx, engine and Redis on free loopback
# ports, one test at a time), then the fuzz corpus replays.
#
# Corpus convention: build/t/replay_fuzz_NAME replays every file under
# t/corpus/NAME/; if that directory does not exist, the last `_part` of NAME
# is dropped until one does (replay_fuzz_otlp_proto -> t/corpus/otlp_proto/,
# else t/corpus/otlp/).  A replay with no corpus directory fails: a fuzz
# target must ship its corpus.  The files are passed as arguments.
#
# Environment: BETRACE_BUILD (default build) is the build directory, e.g.
#   make B=build-asan SANITIZE=address,undefined test-bin
#   BETRACE_BUILD=build-asan scripts/test.sh
# (the nginx module always comes from build/: nginx builds it, unsanitized);
# BETRACE_TEST_TIMEOUT (default 300 s per test, a test's own
# .timeout wins), BETRACE_KEEP_TMP=1 keeps the temp dirs of passing
# integration tests too (failing ones are always kept and printed).
#
# Exits 0 only if every binary ran and passed.
set -uo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
export BETRACE_ROOT="$ROOT"
TIMEOUT=${BETRACE_TEST_TIMEOUT:-300}
BUILD=${BETRACE_BUILD:-build}
# sanitizer builds: leaks inside Criterion itself are not ours (t/lsan.supp)
export LSAN_OPTIONS="suppressions=$ROOT/t/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

unit=() integ=() replay=()
for bin in "$BUILD"/t/test_* "$BUILD"/t/replay_fuzz_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    if [ $# -gt 0 ]; then
        want=0
        for a in "$@"; do [ "$a" = "$name" ] && want=1; done
        [ $want = 1 ] || continue
    fi
    if [ -f "t/unit/$name.c" ]; then
        unit+=("$bin")
    elif [ -f "t/integration/$name.c" ]; then
        integ+=("$bin")
    elif [[ $name == replay_fuzz_* ]] && [ -f "t/fuzz/${name#replay_}.c" ]; then
        replay+=("$bin")
    fi
    # anything else is a stale binary whose source is gone: not run
done

if [ $(( ${#unit[@]} + ${#integ[@]} + ${#replay[@]} )) -eq 0 ]; then
    echo "test.sh: no test binaries in $BUILD/t (run make test-bin)" >&2
    exit 1
fi

results=()
failed=0

run() {
    local label=$1; shift
    local t0 t1 rc secs
    echo "==== $label"
    t0=${EPOCHREALTIME/./}
    "$@"
    rc=$?
    t1=${EPOCHREALTIME/./}
    secs=$(( (t1 - t0) / 1000000 )).$(( (t1 - t0) / 100000 % 10 ))
    if [ $rc -eq 0 ]; then
        results+=("$(printf 'PASS  %6ss  %s' "$secs" "$label")")
    else
        results+=("$(printf 'FAIL  %6ss  %s (exit %d)' "$secs" "$label" $rc)")
        failed=$((failed + 1))
    fi
}

corpus_dir() {
    local name=${1#replay_fuzz_}
    while :; do
        if [ -d "t/corpus/$name" ]; then
            echo "t/corpus/$name"
            return 0
        fi
        [[ $name == *_* ]] || return 1
        name=${name%_*}
    done
}

for bin in "${unit[@]}"; do
    run "$(basename "$bin")" "$bin" --jobs 2 --timeout "$TIMEOUT" -S
done

# One at a time: they start servers and the machine has two cores.
for bin in "${integ[@]}"; do
    run "$(basename "$bin")" "$bin" --jobs 1 --timeout "$TIMEOUT" -S
done

for bin in "${replay[@]}"; do
    name=$(basename "$bin")
    if dir=$(corpus_dir "$name"); then
        mapfile -d '' files < <(find "$dir" -type f -print0 | sort -z)
        if [ ${#files[@]} -eq 0 ]; then
            run "$name ($dir: empty)" false
        else
            run "$name (${#files[@]} files in $dir)" "$bin" "${files[@]}"
        fi
    else
        echo "test.sh: no corpus directory for $name under t/corpus/" >&2
        run "$name (no corpus)" false
    fi
done

echo
echo "==== summary"
printf '%s\n' "${results[@]}"
total=${#results[@]}
echo "$((total - failed)) of $total passed"
[ $failed -eq 0 ]
