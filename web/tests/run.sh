#!/usr/bin/env bash
# The browser tests of the web client, in one command:
#   web/tests/run.sh path/to/chatserver [test name filter]
# Installs Chromium (Debian's package, when run as root and missing) and the
# npm dependencies (playwright-core, from package-lock.json) when missing,
# then runs run.mjs: it starts chatservers on free loopback ports, drives
# Chromium, and exits non-zero when a test fails. Screenshots are saved in
# ${WEB_SHOTS:-target/web-shots} (relative to the repository root).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ $# -lt 1 ]; then
  echo "usage: $0 path/to/chatserver [filter]" >&2
  exit 2
fi
bin="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
shift

chromium="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing chromium and chromium-driver (Debian packages)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "Chromium is missing at $chromium: install Debian's chromium package (or set CHROMIUM)" >&2
    exit 1
  fi
fi
if ! command -v node >/dev/null; then
  echo "Node.js (20 or later) is needed for the browser tests" >&2
  exit 1
fi
if [ ! -d "$here/node_modules/playwright-core" ]; then
  echo "installing playwright-core (npm ci)"
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi
cd "$here/../.."
exec node "$here/run.mjs" "$bin" "$@"
