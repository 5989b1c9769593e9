#!/usr/bin/env bash
# Put an etcd server binary into the envtest assets directory.
#
#   hack/install-etcd.sh OUTDIR      (hack/tools.mk passes KUBEBUILDER_ASSETS)
#
# The binary comes from Debian's etcd-server package (the only source of a
# prebuilt etcd this machine can reach). When /usr/bin/etcd is absent:
#   - as root: `apt-get update && apt-get install -y etcd-server`, with a
#     temporary policy-rc.d so the package's init script never starts a system
#     etcd on 2379/2380; one that is running anyway is stopped and disabled;
#   - not root: the package is only downloaded and unpacked into
#     bin/.etcd-deb (no service, no root needed). If even that fails, run
#     `sudo apt-get update && sudo apt-get install -y etcd-server` and retry.
# The binary is copied (not symlinked) into OUTDIR via a temporary name and a
# rename, so OUTDIR never holds a half-written etcd.
set -euo pipefail

[[ $# -eq 1 ]] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
mkdir -p "$1"
outdir=$(cd "$1" && pwd)

log() { echo "install-etcd: $*" >&2; }

# stop_system_etcd makes sure the package left no etcd service running or
# enabled: envtest starts its own etcd and a system one would hold 2379/2380.
stop_system_etcd() {
	if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null; then
		systemctl disable --now etcd.service >/dev/null 2>&1 || true
	fi
	if [[ -x /etc/init.d/etcd ]]; then
		# Without systemd: the SysV script; stop it and keep it from boot.
		if /etc/init.d/etcd status >/dev/null 2>&1; then
			log "stopping the system etcd service started by the package"
			/etc/init.d/etcd stop >/dev/null 2>&1 || true
		fi
		update-rc.d etcd disable >/dev/null 2>&1 || true
	fi
}

apt_install_as_root() {
	local policy=/usr/sbin/policy-rc.d added_policy=
	if [[ ! -e $policy ]]; then
		# Forbid service starts during this install only (exit 101 = "action
		# not allowed", see invoke-rc.d(8)).
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		added_policy=1
	fi
	local rc=0
	{
		apt-get update -qq &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends etcd-server
	} >&2 || rc=$?
	[[ -n $added_policy ]] && rm -f "$policy"
	stop_system_etcd
	return $rc
}

# unpack_without_root downloads the .deb and extracts /usr/bin/etcd from it.
unpack_without_root() {
	local cache
	cache=$(dirname "$(dirname "$outdir")")/.etcd-deb
	mkdir -p "$cache"
	(cd "$cache" && rm -f etcd-server_*.deb && apt-get download etcd-server >&2)
	rm -rf "$cache/root"
	dpkg-deb -x "$cache"/etcd-server_*.deb "$cache/root"
	echo "$cache/root/usr/bin/etcd"
}

src=
if [[ -x /usr/bin/etcd ]]; then
	src=/usr/bin/etcd
elif [[ $(id -u) -eq 0 ]]; then
	log "installing Debian's etcd-server package"
	apt_install_as_root
	src=/usr/bin/etcd
else
	log "not root: unpacking Debian's etcd-server package without installing it"
	if ! src=$(unpack_without_root) || [[ ! -x $src ]]; then
		log "could not get etcd. As root run:"
		log "  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y etcd-server"
		log "then re-run this (or 'make test-assets')."
		exit 1
	fi
fi

[[ -x $src ]] || { log "no etcd binary at $src"; exit 1; }

tmp=$(mktemp "$outdir/.etcd.XXXXXX")
trap 'rm -f "$tmp"' EXIT
cp "$src" "$tmp"
chmod 755 "$tmp"
mv -f "$tmp" "$outdir/etcd"
log "$("$outdir/etcd" --version 2>/dev/null | head -n1) -> $outdir/etcd"
