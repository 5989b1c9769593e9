#!/usr/bin/env bash
# Install the Debian packages a single-node cluster (hack/cluster/up.sh) needs,
# only when something is missing. Idempotent: with everything present it
# prints one line and changes nothing.
#
#   hack/cluster/deps.sh
#
# No package may start a service: a temporary policy-rc.d forbids it for the
# duration of the install (up.sh runs containerd itself, with its own config,
# state and socket). Needs root (or sudo) only when it has to install.
set -euo pipefail

# command -> package that provides it (Debian 12).
declare -A need=(
	[containerd]=containerd
	[ctr]=containerd
	[runc]=runc
	[/usr/lib/cni/bridge]=containernetworking-plugins
	[/usr/lib/cni/host-local]=containernetworking-plugins
	[/usr/lib/cni/loopback]=containernetworking-plugins
	[/usr/lib/cni/portmap]=containernetworking-plugins
	[iptables]=iptables
	[iptables-save]=iptables
	[iptables-restore]=iptables
	[ip6tables]=iptables
	[conntrack]=conntrack
	[openssl]=openssl
	[curl]=curl
	[ip]=iproute2
	[pgrep]=procps
	[setsid]=util-linux
)

missing=()
for cmd in "${!need[@]}"; do
	if [[ $cmd == /* ]]; then
		[[ -x $cmd ]] && continue
	elif command -v "$cmd" >/dev/null 2>&1; then
		continue
	fi
	pkg=${need[$cmd]}
	[[ " ${missing[*]} " == *" $pkg "* ]] || missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
	echo "deps: containerd, runc, CNI plugins, iptables, conntrack, openssl present"
	exit 0
fi

sudo=()
[[ $(id -u) -eq 0 ]] || sudo=(sudo)
command -v apt-get >/dev/null || {
	echo "deps: no apt-get; install these packages by hand: ${missing[*]}" >&2
	exit 1
}

echo "deps: installing ${missing[*]}"
policy=/usr/sbin/policy-rc.d
added_policy=
if [[ ! -e $policy ]]; then
	# exit 101 = "action not allowed" (invoke-rc.d(8)): no service starts.
	printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
	"${sudo[@]}" chmod 755 "$policy"
	added_policy=1
fi
cleanup() { [[ -z $added_policy ]] || "${sudo[@]}" rm -f "$policy"; }
trap cleanup EXIT

"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	-o Dpkg::Options::=--force-confold "${missing[@]}"

# A systemd host would still have the unit enabled for the next boot.
if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null; then
	"${sudo[@]}" systemctl disable --now containerd.service >/dev/null 2>&1 || true
fi
echo "deps: installed ${missing[*]}"
