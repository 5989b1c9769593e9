#!/usr/bin/env bash
# The chart in a real cluster (make e2e-cluster): build what the node needs,
# start it (hack/cluster/up.sh), check it (hack/cluster/smoke.sh), run
# test/e2e/cluster_test.go against it, and tear everything down
# (hack/cluster/down.sh) whatever happened. Prints the wall time of each part.
set -euo pipefail
cd "$(dirname "$0")/.."

MAKE=${MAKE:-make}
state=${CLUSTER_STATE:-$PWD/bin/cluster-state}
image_tag=${IMAGE_TAG:-e2e}
image_tar=${IMAGE_TAR:-$PWD/bin/images/timesheets-$image_tag.tar}
t0=$SECONDS

echo "e2e-cluster: building the cluster's binaries, Helm and the project image (cached under bin/)"
$MAKE --no-print-directory k8s-cluster-binaries helm image-tar IMAGE_TAG="$image_tag" IMAGE_TAR="$image_tar"
hack/cluster/deps.sh
# Paths exported by hack/tools.mk, printed so this script needs no copy of them.
eval "$($MAKE --no-print-directory -s print-tool-paths)"
t_build=$((SECONDS - t0))

# A previous run killed half-way may have left a cluster behind.
hack/cluster/down.sh "$state" >/dev/null 2>&1 || true
trap 'echo "e2e-cluster: tearing the cluster down"; hack/cluster/down.sh "$state"' EXIT

t1=$SECONDS
CLUSTER_IMAGES="$image_tar" hack/cluster/up.sh "$state"
# A pod runs, the restricted profile is enforced, TLS to the API server verifies.
hack/cluster/smoke.sh "$state"
t_start=$((SECONDS - t1))

t2=$SECONDS
status=0
CLUSTER_KUBECONFIG="$state/admin.kubeconfig" CLUSTER_NODE_IP=10.244.0.1 IMAGE_TAG="$image_tag" \
	KUBECTL="$KUBECTL" HELM="$HELM" \
	go test -tags cluster -count=1 -v -timeout 30m -run TestClusterScenario ./test/e2e/ || status=$?
t_scenario=$((SECONDS - t2))

echo "e2e-cluster: build ${t_build}s, cluster start ${t_start}s, scenario ${t_scenario}s, total $((SECONDS - t0))s (teardown follows)"
exit $status
