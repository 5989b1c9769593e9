#!/usr/bin/env bash
# Installs promtool, which hack/chart-test.sh runs on the chart's rendered
# PrometheusRule and dashboard queries. Debian/Ubuntu only; idempotent.
# Debian ships promtool in the "prometheus" package; --no-install-recommends
# leaves out the exporters, and no server is started (policy-rc.d refuses it).
set -euo pipefail

if command -v promtool >/dev/null; then
	echo "promtool present: $(command -v promtool)"
	exit 0
fi
sudo=()
if [[ $(id -u) -ne 0 ]]; then
	sudo=(sudo)
fi
if ! command -v apt-get >/dev/null; then
	echo "hack/promtool.sh: no apt-get; install promtool and put it on PATH" >&2
	exit 1
fi
# Do not start the Prometheus server the package installs beside promtool.
policy=/usr/sbin/policy-rc.d
added_policy=""
if [[ ! -e $policy ]]; then
	printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
	"${sudo[@]}" chmod 0755 "$policy"
	added_policy=1
fi
trap '[[ -n $added_policy ]] && "${sudo[@]}" rm -f "$policy"' EXIT
"${sudo[@]}" apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus
command -v promtool >/dev/null || { echo "hack/promtool.sh: promtool not on PATH after install" >&2; exit 1; }
echo "promtool installed: $(command -v promtool)"
