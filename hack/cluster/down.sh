#!/usr/bin/env bash
# Tear down the single-node cluster that hack/cluster/up.sh STATE_DIR started.
# Always safe to call: after a full up, a half-failed one, or twice. It keeps
# STATE_DIR/logs (up.sh wipes the state directory when it starts again).
#
#   hack/cluster/down.sh STATE_DIR
#
# Order: kubelet, the pods' processes and containerd's shims, kube-proxy (then
# `kube-proxy --cleanup`), CoreDNS, kube-scheduler, kube-controller-manager,
# kube-apiserver, etcd, containerd; then the mounts under STATE_DIR, the pods'
# network namespaces, veths and the cni0 bridge, the iptables chains of
# kube-proxy, the kubelet, CNI and up.sh, the kubepods cgroups, and the kernel
# parameters up.sh or the kubelet changed.
#
# Environment: KUBEBUILDER_ASSETS (for kube-proxy --cleanup), as for up.sh.
set -uo pipefail

usage() { echo "usage: $0 STATE_DIR" >&2; exit 2; }
[[ $# -eq 1 && -n $1 ]] || usage
[[ $(id -u) -eq 0 ]] || { echo "down: must run as root" >&2; exit 1; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
assets=${KUBEBUILDER_ASSETS:?is not set: run through make (it exports the paths of hack/tools.mk), or eval \"\$(make -s print-tool-paths)\" first}
bridge=cni0
isolate_chain=TIMESHEETS-ISOLATE
cni_network=timesheets-cluster

step() { echo "down: $*"; }

state=
if [[ -d $1 ]]; then
	state=$(cd "$1" && pwd)
	[[ $state != / ]] || { echo "down: STATE_DIR must not be /" >&2; exit 2; }
else
	step "$1 does not exist: cleaning up the network only"
fi
pids=$state/pids
sock=$state/containerd/containerd.sock
tasks=$state/containerd/state/io.containerd.runtime.v2.task

# ours PID: the process runs with a path in STATE_DIR on its command line and
# is not this script or one of its ancestors.
ancestors=" $$ "
p=$$
while [[ $p -gt 1 ]]; do
	p=$(awk '/^PPid:/ { print $2 }' "/proc/$p/status" 2>/dev/null) || break
	ancestors+="$p "
done
ours() {
	[[ -n $state && $ancestors != *" $1 "* ]] || return 1
	tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$state/"
}

# terminate NAME PID...: SIGTERM, up to 15 s grace, then SIGKILL.
terminate() {
	local name=$1 pid live=() i
	shift
	for pid in "$@"; do
		kill -TERM "$pid" 2>/dev/null && live+=("$pid")
	done
	[[ ${#live[@]} -gt 0 ]] || return 0
	step "stopping $name (pid ${live[*]})"
	for ((i = 0; i < 150; i++)); do
		local still=()
		for pid in "${live[@]}"; do
			kill -0 "$pid" 2>/dev/null && still+=("$pid")
		done
		[[ ${#still[@]} -gt 0 ]] || return 0
		live=("${still[@]}")
		sleep 0.1
	done
	step "$name did not stop within 15s: SIGKILL"
	kill -KILL "${live[@]}" 2>/dev/null
	sleep 0.2
}

# stop NAME...: the components up.sh recorded in STATE_DIR/pids/NAME.pid,
# stopped together.
stop() {
	local name pid names=() found=()
	for name in "$@"; do
		pid=$(cat "$pids/$name.pid" 2>/dev/null) || continue
		if kill -0 "$pid" 2>/dev/null && ours "$pid"; then
			names+=("$name")
			found+=("$pid")
		fi
		rm -f "$pids/$name.pid"
	done
	[[ ${#found[@]} -eq 0 ]] || terminate "${names[*]}" "${found[@]}"
}

# kill_pods: every process in the kubelet's pod cgroups, then containerd's shims.
kill_pods() {
	local procs=() f pid
	for f in /sys/fs/cgroup/kubepods /sys/fs/cgroup/*/kubepods; do
		[[ -d $f ]] || continue
		while read -r pid; do
			[[ -n $pid ]] && procs+=("$pid")
		done < <(find "$f" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u)
	done
	if [[ ${#procs[@]} -gt 0 ]]; then
		step "killing ${#procs[@]} pod processes (kubepods cgroups)"
		kill -KILL "${procs[@]}" 2>/dev/null
	fi
	local shims=()
	for f in "$tasks"/*/*/shim.pid; do
		[[ -f $f ]] || continue
		pid=$(<"$f")
		kill -0 "$pid" 2>/dev/null && ours "$pid" && shims+=("$pid")
	done
	[[ ${#shims[@]} -eq 0 ]] || terminate containerd-shims "${shims[@]}"
}

# --- Processes ------------------------------------------------------------
if [[ -n $state ]]; then
	# NAMESPACE/ID of every task containerd runs for this cluster, for later.
	task_ids=()
	for d in "$tasks"/*/*/; do
		[[ -d $d ]] && task_ids+=("$(basename "$(dirname "$d")")/$(basename "$d")")
	done
	stop kubelet
	kill_pods
	stop kube-proxy
fi
if [[ -x $assets/kube-proxy ]]; then
	step "kube-proxy --cleanup (its iptables, IPVS and nftables rules)"
	cleanup_log=/dev/null
	[[ -d $state/logs ]] && cleanup_log=$state/logs/kube-proxy-cleanup.log
	"$assets/kube-proxy" --cleanup >"$cleanup_log" 2>&1 || true
fi
if [[ -n $state ]]; then
	stop coredns kube-scheduler kube-controller-manager
	stop kube-apiserver
	stop etcd containerd
	# Anything else started from this state directory (a shim whose task
	# directory is gone, a component whose PID file is lost).
	left=()
	for d in /proc/[0-9]*; do
		pid=${d#/proc/}
		case $(basename "$(readlink "$d/exe" 2>/dev/null)") in
		etcd | kube-apiserver | kube-controller-manager | kube-scheduler | kubelet | kube-proxy | \
			containerd | containerd-shim* | coredns*)
			ours "$pid" && left+=("$pid")
			;;
		esac
	done
	[[ ${#left[@]} -eq 0 ]] || terminate "leftover processes" "${left[@]}"

	# A shim killed while containerd was down leaves its socket and runc state.
	for t in "${task_ids[@]}"; do
		hash=$(printf '%s' "$sock/$t" | sha256sum | cut -d' ' -f1)
		rm -f "/run/containerd/s/$hash"
		rm -rf "/run/containerd/runc/$t"
	done
	# libcni's cached results of this cluster's pods (their DNS server and
	# gateway is the bridge address).
	grep -lsE '"networkName":"(timesheets-cluster|cni-loopback)"' /var/lib/cni/results/* |
		xargs -r grep -lF '"10.244.0.1"' | xargs -r rm -f
fi

# --- Mounts and network namespaces ----------------------------------------
netns=()
meta=$state/containerd/root/io.containerd.metadata.v1.bolt/meta.db
if [[ -n $state && -f $meta ]]; then
	mapfile -t netns < <(grep -aoE '/var/run/netns/cni-[0-9a-f-]{36}' "$meta" | sed 's#.*/##' | sort -u)
fi
if ip link show "$bridge" >/dev/null 2>&1; then
	# A pod's namespace whose eth0 is a veth enslaved to cni0 is ours too.
	for n in $(ip netns list 2>/dev/null | awk '$1 ~ /^cni-/ { print $1 }'); do
		peer=$(ip -n "$n" -o link show eth0 2>/dev/null | sed -nE 's/^[0-9]+: eth0@if([0-9]+):.*/\1/p')
		[[ -n $peer ]] && ip -o link show master "$bridge" 2>/dev/null | grep -q "^$peer: " && netns+=("$n")
	done
fi
if [[ ${#netns[@]} -gt 0 ]]; then
	mapfile -t netns < <(printf '%s\n' "${netns[@]}" | sort -u)
	existing=()
	for n in "${netns[@]}"; do
		[[ -e /run/netns/$n ]] && existing+=("$n")
	done
	if [[ ${#existing[@]} -gt 0 ]]; then
		step "deleting ${#existing[@]} pod network namespaces"
		for n in "${existing[@]}"; do
			ip netns delete "$n" 2>/dev/null || { umount -l "/run/netns/$n" 2>/dev/null; rm -f "/run/netns/$n"; }
		done
	fi
fi

if [[ -n $state ]]; then
	mapfile -t mounts < <(awk -v s="$state/" 'index($5 "/", s) == 1 { print $5 }' /proc/self/mountinfo |
		awk '{ print length($0) " " $0 }' | sort -rn | cut -d' ' -f2- | uniq)
	if [[ ${#mounts[@]} -gt 0 ]]; then
		step "unmounting ${#mounts[@]} mounts under $state"
		for m in "${mounts[@]}"; do
			m=$(printf '%b' "$m") # mountinfo escapes a space as \040
			umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || step "could not unmount $m"
		done
	fi
fi

# --- Links ----------------------------------------------------------------
if ip link show "$bridge" >/dev/null 2>&1; then
	veths=$(ip -o link show master "$bridge" 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }')
	for v in $veths; do
		ip link delete "$v" 2>/dev/null
	done
	step "deleting bridge $bridge${veths:+ and its veths}"
	ip link delete "$bridge"
fi

# --- iptables -------------------------------------------------------------
# remove_chains CMD: delete every rule that jumps to a chain named KUBE-*,
# CNI-* or TIMESHEETS-*, then those chains, in every table.
remove_chains() {
	local cmd=$1 table rule chains n=0
	command -v "$cmd" >/dev/null || return 0
	for table in filter nat mangle raw; do
		"$cmd" -w -t "$table" -S >/dev/null 2>&1 || continue
		while read -r rule; do
			eval "$cmd -w -t $table -D ${rule#-A }" 2>/dev/null && n=$((n + 1))
		done < <("$cmd" -w -t "$table" -S 2>/dev/null |
			grep -E '^-A .* -j (KUBE-|CNI-|TIMESHEETS-)' | grep -vE '^-A (KUBE-|CNI-|TIMESHEETS-)')
		chains=$("$cmd" -w -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^(KUBE-|CNI-|TIMESHEETS-)/ { print $2 }')
		for c in $chains; do
			"$cmd" -w -t "$table" -F "$c" 2>/dev/null
		done
		for c in $chains; do
			"$cmd" -w -t "$table" -X "$c" 2>/dev/null && n=$((n + 1))
		done
	done
	[[ $n -eq 0 ]] || step "$cmd: removed $n rules and chains of kube-proxy, the kubelet, CNI and $isolate_chain"
}
remove_chains iptables
remove_chains ip6tables

# --- Host state -----------------------------------------------------------
# The kubelet's cgroups (cgroupfs driver), deepest first.
for f in /sys/fs/cgroup/kubepods /sys/fs/cgroup/*/kubepods; do
	[[ -d $f ]] && find "$f" -depth -type d -exec rmdir {} + 2>/dev/null
done
if [[ -n $state ]]; then
	if [[ -s $state/sysctl.saved ]]; then
		step "restoring kernel parameters: $(cut -d= -f1 "$state/sysctl.saved" | tr '\n' ' ')"
		while IFS='=' read -r key value; do
			[[ -n $key ]] && echo "$value" >"/proc/sys/${key//.//}" 2>/dev/null
		done <"$state/sysctl.saved"
		rm -f "$state/sysctl.saved"
	fi
	# The kubelet links container logs into /var/log/containers.
	for l in /var/log/containers/*.log; do
		[[ -L $l && $(readlink "$l") == "$state/"* ]] && rm -f "$l"
	done
	rm -f /var/lib/cni/results/"$cni_network"-* 2>/dev/null
	# The kubelet's device-plugin socket has a fixed path outside its root dir.
	rm -f /var/lib/kubelet/device-plugins/kubelet.sock
	# Host directories that up.sh saw created: removed when (now) empty.
	if [[ -f $state/created-host-dirs ]]; then
		while read -r d; do
			[[ -d $d ]] && find "$d" -depth -type d -empty -delete 2>/dev/null
		done <"$state/created-host-dirs"
		rm -f "$state/created-host-dirs"
	fi
fi
step "done"
