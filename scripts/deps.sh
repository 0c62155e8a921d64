#!/usr/bin/env bash
# Installs the Debian packages and npm modules BeTrace needs to build, run and
# test.  Idempotent and quiet when everything is already there, so `make run`
# and `make test` can call it every time.
set -euo pipefail

cd "$(dirname "$0")/.."

PKGS=(build-essential pkg-config nginx nginx-dev
      libprotobuf-c-dev protobuf-c-compiler libjansson-dev liburcu-dev
      libhiredis-dev libcriterion-dev redis-server libpcre2-dev libssl-dev
      libcurl4-openssl-dev zlib1g-dev libdeflate-dev clang libclang-rt-14-dev
      wrk nghttp2-client hyperfine chromium)

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' \
        || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    echo "deps: installing ${missing[*]}" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Debian enables the packaged nginx and redis services on install; BeTrace
    # runs its own instances on the ports it is told, so stop the system ones.
    if command -v systemctl >/dev/null 2>&1; then
        $SUDO systemctl disable --now nginx redis-server >/dev/null 2>&1 || true
    fi
    $SUDO service nginx stop >/dev/null 2>&1 || true
    $SUDO service redis-server stop >/dev/null 2>&1 || true
fi

# npm modules for the end-to-end tests (OpenTelemetry SDK, playwright-core).
# Node itself: any node >= 18.19 with npm will do (the tests were written on
# Node 20); Debian's nodejs + npm only when there is none, so a NodeSource
# install (which bundles npm) is left alone.
if [ "${1:-}" = "--test" ] && [ -f t/js/package.json ]; then
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        echo "deps: installing nodejs npm" >&2
        SUDO=""
        [ "$(id -u)" -eq 0 ] || SUDO=sudo
        export DEBIAN_FRONTEND=noninteractive
        $SUDO apt-get update -qq
        $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
    fi
    if [ ! -d t/js/node_modules ] || [ t/js/package.json -nt t/js/node_modules ] \
       || [ t/js/package-lock.json -nt t/js/node_modules ]; then
        # npm ci installs exactly the committed package-lock.json
        echo "deps: npm ci in t/js" >&2
        (cd t/js && npm ci --no-audit --no-fund --loglevel=error)
        touch t/js/node_modules
    fi
fi
