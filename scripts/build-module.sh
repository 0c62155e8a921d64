#!/usr/bin/env bash
# Builds build/ngx_http_betrace_module.so against Debian's nginx source
# (nginx-dev ships it in /usr/share/nginx/src with the exact configure flags
# of /usr/sbin/nginx in conf_flags, which a dynamic module must match).
#
# nginx compiles the module itself through ./config; this script only
# copies the source tree once, re-runs configure when the inputs of config
# changed (config, the .proto files, the set of source files), and runs
# `make modules`.
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd)
B=$REPO/build
SRC=/usr/share/nginx/src
NGX=$B/nginx-src

if [ ! -f "$SRC/conf_flags" ]; then
    echo "build-module: $SRC/conf_flags not found; install nginx-dev" >&2
    exit 1
fi

if [ ! -x "$NGX/configure" ]; then
    rm -rf "$NGX"
    mkdir -p "$B"
    cp -r "$SRC" "$NGX.tmp"
    mv "$NGX.tmp" "$NGX"
fi

# Everything that changes what configure writes: config itself, the protos
# it compiles at configure time, and the list of sources it globs.
stamp_now=$( { sha1sum config scripts/build-module.sh \
                   $(find proto -name '*.proto' | sort);
               ls ngx_betrace_module/*.[ch] shm/*.[ch] proto/*.[ch] \
                  dsl/*.[ch] 2>/dev/null; } | sha1sum | cut -d' ' -f1)
stamp_file=$NGX/objs/betrace.stamp

if [ ! -f "$NGX/objs/Makefile" ] || [ ! -f "$stamp_file" ] \
   || [ "$(cat "$stamp_file")" != "$stamp_now" ]
then
    # shellcheck disable=SC1091
    source "$SRC/conf_flags"
    # nginx compiles with -O unless told otherwise; the decoder is the hot
    # path and Debian built /usr/sbin/nginx itself with -O2.
    (cd "$NGX" && ./configure "${NGX_CONF_FLAGS[@]}" \
                              --with-cc-opt="-O2 -g" \
                              --add-dynamic-module="$REPO") \
        > "$B/nginx-configure.log" 2>&1 || {
        tail -n 30 "$B/nginx-configure.log" >&2
        echo "build-module: configure failed, see" \
             "$B/nginx-configure.log" >&2
        exit 1
    }
    echo "$stamp_now" > "$stamp_file"
fi

make -s -C "$NGX" -f objs/Makefile modules -j"$(nproc)"

# A shared object links even when a function it calls was never built;
# loading it into the nginx it is for is the check that catches that.
so=$B/ngx_http_betrace_module.so.tmp
cp "$NGX/objs/ngx_http_betrace_module.so" "$so"

if [ -x /usr/sbin/nginx ]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    printf 'load_module %s;\nevents {}\n' "$so" > "$tmp/nginx.conf"
    if ! /usr/sbin/nginx -t -q -e stderr -p "$tmp/" -c "$tmp/nginx.conf" \
         -g "pid $tmp/nginx.pid;" 2> "$tmp/err"
    then
        cat "$tmp/err" >&2
        echo "build-module: /usr/sbin/nginx cannot load the module" >&2
        rm -f "$so"
        exit 1
    fi
fi

mv "$so" "$B/ngx_http_betrace_module.so"
