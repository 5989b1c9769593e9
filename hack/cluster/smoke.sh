#!/usr/bin/env bash
# Smoke test for a cluster from hack/cluster/up.sh: in a namespace that
# enforces the "restricted" Pod Security profile, a Deployment of the pause
# image (imported, never pulled) must become Ready, and a pod without the
# restricted settings must be refused, and the API server's certificate must
# verify against the cluster CA by every name a pod may use. The namespace is
# deleted at the end.
#
#   hack/cluster/smoke.sh STATE_DIR
#
# Environment: KUBEBUILDER_ASSETS (for kubectl), SMOKE_WAIT_SECONDS (default 120).
set -euo pipefail

[[ $# -eq 1 && -d $1 ]] || { echo "usage: $0 STATE_DIR (of a running hack/cluster/up.sh cluster)" >&2; exit 2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
state=$(cd "$1" && pwd)
assets=${KUBEBUILDER_ASSETS:?is not set: run through make (it exports the paths of hack/tools.mk), or eval \"\$(make -s print-tool-paths)\" first}
wait_seconds=${SMOKE_WAIT_SECONDS:-120}
kubectl=("$assets/kubectl" --kubeconfig "$state/admin.kubeconfig")
ns=cluster-smoke
start=$SECONDS

step() { echo "smoke: $*"; }

cleanup() {
	step "deleting namespace $ns"
	"${kubectl[@]}" delete namespace "$ns" --ignore-not-found --wait=true --timeout=60s >/dev/null ||
		step "namespace $ns not gone within 60s"
}
trap cleanup EXIT

step "creating namespace $ns enforcing the restricted Pod Security profile and a pause Deployment"
"${kubectl[@]}" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: $ns
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/enforce-version: latest
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: pause
  namespace: $ns
spec:
  replicas: 1
  selector:
    matchLabels: {app: pause}
  template:
    metadata:
      labels: {app: pause}
    spec:
      securityContext:
        runAsNonRoot: true
        seccompProfile: {type: RuntimeDefault}
      terminationGracePeriodSeconds: 5
      containers:
      - name: pause
        image: registry.k8s.io/pause:3.6
        imagePullPolicy: Never
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities: {drop: [ALL]}
        resources:
          requests: {cpu: 10m, memory: 16Mi}
          limits: {memory: 32Mi}
EOF

step "waiting up to ${wait_seconds}s for the Deployment to be Ready"
if ! "${kubectl[@]}" -n "$ns" rollout status deployment/pause --timeout="${wait_seconds}s"; then
	echo "smoke: FAILED: deployment $ns/pause not Ready" >&2
	"${kubectl[@]}" -n "$ns" describe pods >&2 || true
	"${kubectl[@]}" -n "$ns" get events --sort-by=.lastTimestamp >&2 || true
	echo "smoke: ---- last 30 lines of $state/logs/kubelet.log ----" >&2
	tail -n 30 "$state/logs/kubelet.log" >&2 || true
	exit 1
fi
"${kubectl[@]}" -n "$ns" get pods -o wide

step "checking that a pod without the restricted settings is refused"
if out=$("${kubectl[@]}" -n "$ns" run not-restricted --image=registry.k8s.io/pause:3.6 \
	--image-pull-policy=Never --restart=Never --dry-run=server 2>&1); then
	echo "smoke: FAILED: namespace $ns admitted a pod that violates the restricted profile: $out" >&2
	exit 1
fi
[[ $out == *'violates PodSecurity "restricted'* ]] || {
	echo "smoke: FAILED: unexpected refusal: $out" >&2
	exit 1
}

step "checking the API server's certificate against the cluster CA, by each name a pod may use"
# --connect-to keeps the URL's name for the TLS check and connects to the node address.
for name in kubernetes.default.svc.cluster.local kubernetes.default.svc kubernetes 10.96.0.1 10.244.0.1; do
	curl -fsS --max-time 5 --cacert "$state/pki/ca.crt" --connect-to "$name:6443:10.244.0.1:6443" \
		"https://$name:6443/readyz" >/dev/null || {
		echo "smoke: FAILED: the API server's certificate does not verify as $name" >&2
		exit 1
	}
done

step "passed in $((SECONDS - start))s"
