#!/usr/bin/env bash
# Bring up a real single-node Kubernetes cluster on this machine, as plain
# processes (no container engine needed, nothing pulled from the network):
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd
# (+ runc and the CNI bridge plugin), kubelet, kube-proxy (iptables) and
# CoreDNS. hack/cluster/down.sh STATE_DIR tears it all down again; see
# hack/cluster/README.md for the layout and the host quirks handled here.
#
#   hack/cluster/up.sh STATE_DIR
#
# Environment:
#   KUBEBUILDER_ASSETS  directory with kube-apiserver, kubectl, etcd, kubelet,
#                       kube-controller-manager, kube-scheduler, kube-proxy
#                       (`make k8s-cluster-binaries`)
#   COREDNS             the CoreDNS binary (`make coredns`)
#   Both are required: the Makefile exports them from hack/tools.mk, the one
#   place that names the versions; outside make, eval "$(make -s print-tool-paths)".
#   CLUSTER_IMAGES      space-separated docker-archive tarballs to import into
#                       containerd's k8s.io namespace (e.g. from hack/imagetar)
#   CLUSTER_WAIT_SECONDS  how long each component may take to come up (default 120)
#   GO                  go command used to build the pause image (default go)
#
# On success STATE_DIR/admin.kubeconfig is a cluster-admin (system:masters)
# kubeconfig, the node is Ready and the default ServiceAccount exists.
# Every cluster address is on this machine: the API server, kubelet and CoreDNS
# listen on the bridge cni0 (10.244.0.1), everything else on loopback; pods
# cannot send traffic past the bridge.
set -euo pipefail

usage() { echo "usage: $0 STATE_DIR" >&2; exit 2; }
[[ $# -eq 1 && -n $1 ]] || usage

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
start_time=$SECONDS

assets=${KUBEBUILDER_ASSETS:?is not set: run through make (it exports the paths of hack/tools.mk), or eval \"\$(make -s print-tool-paths)\" first}
coredns=${COREDNS:?is not set: run through make (it exports the paths of hack/tools.mk), or eval \"\$(make -s print-tool-paths)\" first}
images=${CLUSTER_IMAGES:-}
wait_seconds=${CLUSTER_WAIT_SECONDS:-120}
go=${GO:-go}

# Fixed addresses (also known to down.sh).
bridge=cni0
node_ip=10.244.0.1
pod_cidr=10.244.0.0/24
service_cidr=10.96.0.0/16
api_service_ip=10.96.0.1 # the first address of service_cidr: the "kubernetes" Service
node_name=${CLUSTER_NODE_NAME:-timesheets-node}
etcd_client=127.0.0.1:23790
etcd_peer=127.0.0.1:23800
api_port=6443
sandbox_image=registry.k8s.io/pause:3.6
isolate_chain=TIMESHEETS-ISOLATE

step() { echo "up: $*"; }
die() { echo "up: FAILED: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (it creates a bridge, iptables rules and mounts)"

# --- 0. Inputs ------------------------------------------------------------
mkdir -p "$1"
state=$(cd "$1" && pwd)
[[ $state != / ]] || die "STATE_DIR must not be /"
assets=$(cd "$assets" 2>/dev/null && pwd) || die "KUBEBUILDER_ASSETS=${KUBEBUILDER_ASSETS:-} is not a directory (run 'make k8s-cluster-binaries')"
for b in kube-apiserver kubectl etcd kubelet kube-controller-manager kube-scheduler kube-proxy; do
	[[ -x $assets/$b ]] || die "$assets/$b missing (run 'make k8s-cluster-binaries')"
done
[[ -x $coredns ]] || die "COREDNS=$coredns is not executable (run 'make k8s-cluster-binaries')"
coredns=$(cd "$(dirname "$coredns")" && pwd)/$(basename "$coredns")
for img in $images; do
	[[ -f $img ]] || die "CLUSTER_IMAGES: $img is not a file"
done

step "checking Debian packages (hack/cluster/deps.sh)"
"$here/deps.sh" | sed 's/^/up: /'
runc=$(command -v runc)

pids=$state/pids
logs=$state/logs
pki=$state/pki
kubectl=("$assets/kubectl" --kubeconfig "$state/admin.kubeconfig")

# alive NAME: the component's recorded process still runs.
alive() {
	local pid
	pid=$(cat "$pids/$1.pid" 2>/dev/null) || return 1
	kill -0 "$pid" 2>/dev/null
}

# fail_with_log NAME MESSAGE: report, show the end of the component's log.
fail_with_log() {
	echo "up: FAILED: $2" >&2
	if [[ -s $logs/$1.log ]]; then
		echo "up: ---- last 40 lines of $logs/$1.log ----" >&2
		tail -n 40 "$logs/$1.log" >&2
		echo "up: ----" >&2
	fi
	echo "up: the cluster is half up: run hack/cluster/down.sh $state" >&2
	exit 1
}

# launch NAME CMD...: start a component in its own session, log and PID in STATE_DIR.
launch() {
	local name=$1
	shift
	setsid "$@" >"$logs/$name.log" 2>&1 </dev/null &
	echo $! >"$pids/$name.pid"
}

# wait_for NAME WHAT CMD...: poll CMD until it succeeds; fail early when the
# component exits, late when it takes longer than CLUSTER_WAIT_SECONDS.
wait_for() {
	local name=$1 what=$2 deadline=$((SECONDS + wait_seconds))
	shift 2
	until "$@" >/dev/null 2>&1; do
		alive "$name" || fail_with_log "$name" "$name exited before $what"
		((SECONDS < deadline)) || fail_with_log "$name" "$name: no $what within ${wait_seconds}s"
		sleep 0.5
	done
}

# save_sysctl KEY VALUE: set a kernel parameter, remembering the old value for down.sh.
save_sysctl() {
	local file=/proc/sys/${1//.//} old
	[[ -w $file ]] || return 0
	old=$(<"$file")
	grep -q "^$1=" "$state/sysctl.saved" 2>/dev/null || echo "$1=$old" >>"$state/sysctl.saved"
	[[ -z ${2:-} || $old == "$2" ]] || echo "$2" >"$file"
}

# --- 1. A clean state directory -------------------------------------------
for f in "$pids"/*.pid; do
	[[ -e $f ]] || continue
	name=$(basename "$f" .pid)
	alive "$name" && die "$name (pid $(<"$f")) from an earlier up.sh still runs: run hack/cluster/down.sh $state first"
done
if ip link show "$bridge" >/dev/null 2>&1; then
	die "bridge $bridge exists: a cluster is up or was not torn down (hack/cluster/down.sh STATE_DIR)"
fi
if awk -v s="$state/" 'index($5 "/", s) == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
	die "$state has mounts left from an earlier cluster: run hack/cluster/down.sh $state first"
fi
step "resetting $state (keeping images/)"
find "$state" -mindepth 1 -maxdepth 1 ! -name images -exec rm -rf {} +
mkdir -p "$pids" "$logs" "$pki/apiserver" "$state/images" "$state/bin" "$state/cni/net.d" \
	"$state/containerd" "$state/kubelet" "$state/pod-logs" "$state/coredns"
: >"$state/sysctl.saved"
# Host directories the kubelet, containerd and CNI create outside STATE_DIR
# (fixed paths in their code); down.sh removes those that did not exist before.
for d in /var/lib/kubelet /var/lib/cni /var/log/containers /run/containerd /run/netns; do
	[[ -e $d ]] || echo "$d"
done >"$state/created-host-dirs"

# --- 2. Network: bridge, forwarding, isolation ----------------------------
step "creating bridge $bridge with $node_ip/24; routing $service_cidr to it"
ip link add "$bridge" type bridge
ip addr add "$node_ip/24" dev "$bridge"
ip link set "$bridge" up
# Unprogrammed ClusterIPs go onto the bridge, never out of the default route.
ip route add "$service_cidr" dev "$bridge" src "$node_ip"

step "enabling IPv4 forwarding and bridge netfilter (old values saved for down.sh)"
save_sysctl net.ipv4.ip_forward 1
save_sysctl net.bridge.bridge-nf-call-iptables 1
save_sysctl net.bridge.bridge-nf-call-ip6tables 1
# The kubelet sets these on start; down.sh puts the host's values back.
for k in vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops \
	kernel.keys.root_maxkeys kernel.keys.root_maxbytes; do
	save_sysctl "$k"
done

step "isolating pods: iptables mangle/$isolate_chain drops traffic between $bridge and any other interface"
iptables -w -t mangle -N "$isolate_chain"
iptables -w -t mangle -A "$isolate_chain" -i "$bridge" -o "$bridge" -j RETURN
iptables -w -t mangle -A "$isolate_chain" -i "$bridge" -j DROP
iptables -w -t mangle -A "$isolate_chain" -o "$bridge" -j DROP
iptables -w -t mangle -I FORWARD 1 -j "$isolate_chain"

# --- 3. Credentials -------------------------------------------------------
step "creating the service-account key, a cluster CA, the API server's certificate and API tokens"
openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=timesheets-cluster-ca" \
	-keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
# The API server's client certificate towards the kubelet (logs, exec, port-forward).
openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" \
	-keyout "$pki/apiserver-kubelet-client.key" -out "$pki/apiserver-kubelet-client.csr" 2>/dev/null
openssl x509 -req -in "$pki/apiserver-kubelet-client.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
	-CAcreateserial -days 30 -out "$pki/apiserver-kubelet-client.crt" 2>/dev/null
# The API server's serving certificate, from the same CA: every kubeconfig
# and every pod (through --root-ca-file) verifies it, by the node address,
# the Service IP or any of the Service's DNS names.
openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
	-keyout "$pki/apiserver.key" -out "$pki/apiserver.csr" 2>/dev/null
openssl x509 -req -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
	-CAcreateserial -days 30 -out "$pki/apiserver.crt" -extfile <(
		printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n'
		printf 'extendedKeyUsage=serverAuth\nsubjectAltName=IP:%s,IP:%s,IP:127.0.0.1,DNS:localhost' "$node_ip" "$api_service_ip"
		printf ',DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n'
	) 2>/dev/null
chmod 600 "$pki"/*.key

token() { openssl rand -hex 24; }
declare -A tokens=(
	[admin]=$(token) [kubelet]=$(token) [kube-controller-manager]=$(token)
	[kube-scheduler]=$(token) [kube-proxy]=$(token)
)
mkdir -p "$state/auth"
# token,user,uid,"groups"
cat >"$state/auth/tokens.csv" <<EOF
${tokens[admin]},admin,admin,"system:masters"
${tokens[kubelet]},system:node:$node_name,kubelet,"system:nodes"
${tokens[kube-controller-manager]},system:kube-controller-manager,kube-controller-manager
${tokens[kube-scheduler]},system:kube-scheduler,kube-scheduler
${tokens[kube-proxy]},system:kube-proxy,kube-proxy
EOF
chmod 600 "$state/auth/tokens.csv"

# kubeconfig FILE USER TOKEN
kubeconfig() {
	cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://$node_ip:$api_port
    certificate-authority: $pki/ca.crt
users:
- name: $2
  user:
    token: $3
contexts:
- name: local
  context:
    cluster: local
    user: $2
current-context: local
EOF
	chmod 600 "$1"
}
kubeconfig "$state/admin.kubeconfig" admin "${tokens[admin]}"
for c in kubelet kube-controller-manager kube-scheduler kube-proxy; do
	kubeconfig "$state/$c.kubeconfig" "$c" "${tokens[$c]}"
done

# --- 4. Configuration files -----------------------------------------------
step "writing containerd, runc wrapper, CNI, kubelet, kube-proxy and CoreDNS configuration"
# The VM withholds CAP_SYS_RESOURCE: runc cannot set the negative oom_score_adj
# the kubelet asks for sandboxes (-998) and Guaranteed pods (-997), and fails
# with "can't get final child's PID from pipe: EOF". containerd runs runc
# through this wrapper, which raises a negative value to 0 first.
cat >"$state/bin/runc-wrapper" <<EOF
#!/bin/sh
# Generated by hack/cluster/up.sh: see the comment there.
bundle= prev=
for a in "\$@"; do
	case \$prev in --bundle | -b) bundle=\$a ;; esac
	case \$a in --bundle=*) bundle=\${a#--bundle=} ;; esac
	prev=\$a
done
if [ -n "\$bundle" ] && [ -f "\$bundle/config.json" ]; then
	sed -i -E 's/"oomScoreAdj":[[:space:]]*-[0-9]+/"oomScoreAdj":0/' "\$bundle/config.json"
fi
exec $runc "\$@"
EOF
chmod 755 "$state/bin/runc-wrapper"

sock=$state/containerd/containerd.sock
cat >"$state/containerd/config.toml" <<EOF
version = 2
root = "$state/containerd/root"
state = "$state/containerd/state"
oom_score = 0

[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$sandbox_image"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$state/bin/runc-wrapper"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$state/cni/net.d"
    max_conf_num = 1
[plugins."io.containerd.internal.v1.opt"]
  path = "$state/containerd/opt"
EOF

cat >"$state/cni/net.d/10-timesheets.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "timesheets-cluster",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$bridge",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$state/cni/ipam",
        "ranges": [[{"subnet": "$pod_cidr", "gateway": "$node_ip"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF

# Pods resolve through CoreDNS only; the host's resolver is never used.
echo "nameserver $node_ip" >"$state/resolv.conf"

cat >"$state/kubelet-config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# The host mounts cgroup v1 and has no systemd.
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix://$sock
address: $node_ip
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
clusterDNS: [$node_ip]
clusterDomain: cluster.local
resolvConf: $state/resolv.conf
podLogsDir: $state/pod-logs
volumePluginDir: $state/kubelet/volume-plugins
# Lowering it needs CAP_SYS_RESOURCE, which this VM withholds.
oomScoreAdj: 0
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: $pki/ca.crt
authorization:
  mode: Webhook
# Imported images cannot be pulled again: never garbage-collect them, and do
# not taint the node for a fairly full disk.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
EOF

cat >"$state/kube-proxy-config.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection:
  kubeconfig: $state/kube-proxy.kubeconfig
hostnameOverride: $node_name
clusterCIDR: $pod_cidr
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# NodePorts only on the bridge address, never on the machine's real interfaces.
nodePortAddresses: ["$pod_cidr"]
oomScoreAdj: 0
# Leave the host's conntrack and route_localnet settings alone.
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
iptables:
  localhostNodePorts: false
EOF

# No "forward" plugin: names outside cluster.local get no answer from outside.
cat >"$state/coredns/Corefile" <<EOF
.:53 {
    bind $node_ip
    errors
    ready 127.0.0.1:18181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $state/admin.kubeconfig
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 30
}
EOF

# --- 5. etcd and containerd -----------------------------------------------
step "starting etcd on $etcd_client (peer $etcd_peer)"
launch etcd "$assets/etcd" --name default --data-dir "$state/etcd" \
	--listen-client-urls "http://$etcd_client" --advertise-client-urls "http://$etcd_client" \
	--listen-peer-urls "http://$etcd_peer" --initial-advertise-peer-urls "http://$etcd_peer" \
	--initial-cluster "default=http://$etcd_peer" --initial-cluster-state new

step "starting containerd on $sock"
# Any image pull would go to a proxy on a closed loopback port: nothing leaves the machine.
launch containerd env HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY= \
	containerd --config "$state/containerd/config.toml"

wait_for etcd "health on http://$etcd_client" curl -fsS "http://$etcd_client/health"

# --- 6. Control plane -----------------------------------------------------
step "starting kube-apiserver on https://$node_ip:$api_port"
launch kube-apiserver "$assets/kube-apiserver" \
	--etcd-servers "http://$etcd_client" \
	--bind-address "$node_ip" --advertise-address "$node_ip" --secure-port "$api_port" \
	--tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
	--token-auth-file "$state/auth/tokens.csv" \
	--authorization-mode Node,RBAC \
	--service-cluster-ip-range "$service_cidr" \
	--service-account-issuer https://kubernetes.default.svc.cluster.local \
	--service-account-key-file "$pki/sa.key" \
	--service-account-signing-key-file "$pki/sa.key" \
	--kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" \
	--kubelet-client-key "$pki/apiserver-kubelet-client.key" \
	--kubelet-preferred-address-types InternalIP \
	--allow-privileged=true \
	--profiling=false

# Built while the API server starts.
step "building the pause image $sandbox_image (hack/cluster/pause, hack/imagetar)"
(cd "$repo" && CGO_ENABLED=0 "$go" build -trimpath -ldflags '-s -w' -o "$state/bin/pause" ./hack/cluster/pause &&
	"$go" build -o "$state/bin/imagetar" ./hack/imagetar) >"$logs/build.log" 2>&1 ||
	fail_with_log build "could not build the pause image"
"$state/bin/imagetar" --tag "$sandbox_image" --out "$state/images/pause.tar" \
	--entrypoint /pause --user 65535:65535 --file "/pause=$state/bin/pause:0755" 2>>"$logs/build.log" ||
	fail_with_log build "could not build the pause image"

wait_for containerd "API on $sock" ctr --address "$sock" version
step "importing images into containerd (namespace k8s.io): $state/images/pause.tar $images"
for img in "$state/images/pause.tar" $images; do
	ctr --address "$sock" -n k8s.io images import "$img" >>"$logs/images.log" 2>&1 ||
		fail_with_log images "could not import $img"
done

wait_for kube-apiserver "/readyz" "${kubectl[@]}" get --raw /readyz


step "starting kube-controller-manager and kube-scheduler"
launch kube-controller-manager "$assets/kube-controller-manager" \
	--kubeconfig "$state/kube-controller-manager.kubeconfig" \
	--bind-address 127.0.0.1 --leader-elect=false \
	--service-account-private-key-file "$pki/sa.key" \
	--root-ca-file "$pki/ca.crt" \
	--use-service-account-credentials=true \
	--service-cluster-ip-range "$service_cidr" \
	--cluster-cidr "$pod_cidr" --allocate-node-cidrs=false \
	--flex-volume-plugin-dir "$state/kube-controller-manager/volume-plugins"
launch kube-scheduler "$assets/kube-scheduler" \
	--kubeconfig "$state/kube-scheduler.kubeconfig" \
	--bind-address 127.0.0.1 --leader-elect=false

# --- 7. Node --------------------------------------------------------------
step "starting kubelet (node $node_name, $node_ip) and kube-proxy (iptables)"
launch kubelet "$assets/kubelet" --config "$state/kubelet-config.yaml" \
	--kubeconfig "$state/kubelet.kubeconfig" \
	--hostname-override "$node_name" --node-ip "$node_ip" \
	--root-dir "$state/kubelet" --cert-dir "$state/kubelet/pki" --v=1
launch kube-proxy "$assets/kube-proxy" --config "$state/kube-proxy-config.yaml"

step "starting CoreDNS on $node_ip:53"
launch coredns "$coredns" -conf "$state/coredns/Corefile"

wait_for kube-controller-manager "healthz on 127.0.0.1:10257" curl -fksS https://127.0.0.1:10257/healthz
wait_for kube-scheduler "healthz on 127.0.0.1:10259" curl -fksS https://127.0.0.1:10259/healthz
wait_for kubelet "healthz on 127.0.0.1:10248" curl -fsS http://127.0.0.1:10248/healthz
wait_for kube-proxy "healthz on 127.0.0.1:10256" curl -fsS http://127.0.0.1:10256/healthz
wait_for coredns "readiness on 127.0.0.1:18181" curl -fsS http://127.0.0.1:18181/ready

step "waiting for node $node_name to be Ready"
node_ready() {
	[[ $("${kubectl[@]}" get node "$node_name" \
		-o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}
wait_for kubelet "Ready node $node_name" node_ready
step "waiting for the default ServiceAccount in namespace default"
wait_for kube-controller-manager "ServiceAccount default/default" "${kubectl[@]}" -n default get serviceaccount default

step "cluster up in $((SECONDS - start_time))s: export KUBECONFIG=$state/admin.kubeconfig"
