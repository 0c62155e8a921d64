#!/usr/bin/env bash
# DSL evaluation benchmark: evaluated spans/s on one core with 10, 100 and
# 1,000 rules on W3-shaped traces.  Prints one line per figure and writes
# build/bench/eval.json.  bench/run.sh calls this; it also runs on its own:
#
#     bench/eval.sh [CPU] [bench_eval options...]
#
# CPU (default 1) is the core it is pinned to, so the figure is per core
# and the other core stays free for whatever else runs.
set -euo pipefail

cd "$(dirname "$0")/.."

cpu=1
if [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then
    cpu=$1
    shift
fi

make -s build/bench/bench_eval
mkdir -p build/bench

if command -v taskset >/dev/null 2>&1; then
    exec taskset -c "$cpu" build/bench/bench_eval --json build/bench/eval.json "$@"
fi

echo "eval.sh: taskset not found, running unpinned" >&2
exec build/bench/bench_eval --json build/bench/eval.json "$@"
