#!/usr/bin/env bash
# Installs Debian's chromium for the status page browser test (test/integration/status-page.test.ts) when it is
# missing. Run it as `bash .ci/chromium.sh` (from .ci/run or by hand); it is safe to repeat and prints nothing when
# chromium is already there. The test finds the binary through DEPCTL_CHROMIUM (default /usr/bin/chromium); a
# custom DEPCTL_CHROMIUM is only checked, never installed.
set -euo pipefail

bin="${DEPCTL_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$bin" ]; then
  exit 0
fi
if [ "$bin" != /usr/bin/chromium ]; then
  echo "DEPCTL_CHROMIUM=$bin is not an executable file" >&2
  exit 1
fi

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

echo "== installing chromium (Debian package)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Debian's package, not a browser build downloaded by Playwright: playwright-core only drives it.
if ! { as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "chromium could not be installed" >&2
  exit 1
fi
[ -x "$bin" ] || { echo "chromium was installed but $bin is missing" >&2; exit 1; }
