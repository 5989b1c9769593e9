#!/usr/bin/env bash
# Installs Debian's Chromium for the browser test (cmd/api/browser_test.go:
# a page on one loopback origin calls the API on another, through CORS).
# Debian/Ubuntu only; idempotent: apt runs only when the binary is absent.
# The test runs it headless, and with --no-sandbox as root.
set -euo pipefail

bin=${TIMESHEETS_CHROMIUM:-/usr/bin/chromium}

if [[ -x $bin ]]; then
	echo "Chromium present at $bin"
	exit 0
fi
sudo=()
if [[ $(id -u) -ne 0 ]]; then
	sudo=(sudo)
fi
if ! command -v apt-get >/dev/null; then
	echo "hack/chromium.sh: no apt-get; install Chromium and set TIMESHEETS_CHROMIUM to its binary" >&2
	exit 1
fi
"${sudo[@]}" apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
[[ -x $bin ]] || { echo "hack/chromium.sh: installed chromium, but $bin is not there" >&2; exit 1; }
echo "Chromium installed at $bin"
