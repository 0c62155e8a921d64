#!/usr/bin/env bash
# Builds every libFuzzer target t/fuzz/fuzz_*.c into build/fuzz/ with clang
# (-fsanitize=fuzzer,address,undefined).  `make fuzz` calls it.
#
#   scripts/build-fuzz.sh              all targets
#   scripts/build-fuzz.sh otlp_proto   only build/fuzz/fuzz_otlp_proto
#
# Each target is linked with the library sources (shm/, proto/, dsl/,
# engine/ but engine/main.c, and the protobuf-c code generated into
# build/gen/), compiled here with the same sanitizers, so libFuzzer's
# coverage reaches into them.  Run a target on its corpus, e.g.
#
#   build/fuzz/fuzz_otlp_proto -max_len=8192 -max_total_time=60 \
#       build/fuzz/corpus_otlp_proto t/corpus/otlp
#
# (new inputs go into the first directory; copy the interesting ones into
# t/corpus/<name>/found/ so the test run replays them).
set -euo pipefail

cd "$(dirname "$0")/.."

CC=${FUZZ_CC:-clang}
OUT=build/fuzz
OBJ=$OUT/obj

if ! command -v "$CC" >/dev/null 2>&1; then
    echo "build-fuzz: $CC not found (Debian: apt-get install clang" \
         "libclang-rt-14-dev)" >&2
    exit 1
fi

# The generated protobuf-c sources come from the normal build.
protos=$(find proto -name '*.proto' | sort)
gen=()
for p in $protos; do
    gen+=("build/gen/${p#proto/}")
done
gen=("${gen[@]/%.proto/.pb-c.c}")
make --no-print-directory "${gen[@]}" "${gen[@]/%.c/.h}" >/dev/null

CFLAGS=(-std=gnu11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer
        -fsanitize=fuzzer-no-link,address,undefined
        -fno-sanitize-recover=undefined
        -I. -Ibuild/gen -I/usr/include/x86_64-linux-gnu)
LIBS=(-lprotobuf-c -ljansson -lurcu -lhiredis -lpcre2-8 -lz -lpthread -lm)

srcs=()
for f in shm/*.c proto/*.c dsl/*.c engine/*.c; do
    [ -f "$f" ] || continue
    [ "$f" = engine/main.c ] && continue
    srcs+=("$f")
done
srcs+=("${gen[@]}")

mkdir -p "$OBJ"
objs=()
for f in "${srcs[@]}"; do
    o="$OBJ/$(echo "${f%.c}" | tr / _).o"
    # rebuilt when its source or any header is newer (headers are shared)
    if [ ! -f "$o" ] || [ "$f" -nt "$o" ] \
       || [ -n "$(find shm proto dsl engine build/gen -name '*.h' \
                  -newer "$o" -print -quit)" ]; then
        "$CC" "${CFLAGS[@]}" -c "$f" -o "$o"
    fi
    objs+=("$o")
done

targets=()
if [ $# -gt 0 ]; then
    for t in "$@"; do targets+=("t/fuzz/fuzz_${t#fuzz_}.c"); done
else
    targets=(t/fuzz/fuzz_*.c)
fi

for t in "${targets[@]}"; do
    name=$(basename "${t%.c}")
    echo "build-fuzz: $OUT/$name"
    # always rebuilt: targets include test helpers whose changes make
    # can't see from here
    "$CC" "${CFLAGS[@]/fuzzer-no-link/fuzzer}" "$t" "${objs[@]}" \
        -o "$OUT/$name" "${LIBS[@]}"
done
