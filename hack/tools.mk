# Tools and test assets, built reproducibly into $(LOCALBIN) from the Go module
# proxy and Debian's mirror only (no release tarballs, no setup-envtest).
# Included by the root Makefile; also usable alone:
#   make -f hack/tools.mk test-assets helm controller-gen
#
# Every tool lives at a path that carries its version, so bumping a version
# builds the new one and a second `make` with nothing to do does nothing.
# All variables use ?= so callers (or the environment) can override them.

TOOLS_MK_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))

GO ?= go

## Locations and versions.
LOCALBIN ?= $(CURDIR)/bin
# The one place the tools' versions are written: the Makefile exports them
# (and the paths built from them) to the scripts, and `make -s print-tool-paths`
# prints them for a shell; the scripts and tests have no defaults of their own.
#
# Kubernetes release whose components are built. The staging modules of release
# 1.x.y are v0.x.y, so go.mod's k8s.io/{api,apiextensions-apiserver,apimachinery,
# client-go} must be v0.37.2 (controller-runtime v0.25.x): envtest then runs the
# same kube-apiserver release that the client and the API types were built
# against. Bump both together.
K8S_VERSION ?= 1.37.2
KUBEBUILDER_ASSETS ?= $(LOCALBIN)/k8s/$(K8S_VERSION)-linux-amd64
HELM_VERSION ?= v3.22.0
# controller-tools v0.23.0 is built against k8s.io/* v0.37 (go.mod), matching
# controller-runtime v0.25 / Kubernetes 1.37.
CONTROLLER_TOOLS_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION ?= v2.15.0
COREDNS_VERSION ?= v1.15.0
# helm-docs writes the chart README's values table from values.yaml's "# --" comments.
HELM_DOCS_VERSION ?= v1.14.2

## Binaries.
KUBE_APISERVER ?= $(KUBEBUILDER_ASSETS)/kube-apiserver
KUBECTL ?= $(KUBEBUILDER_ASSETS)/kubectl
ETCD ?= $(KUBEBUILDER_ASSETS)/etcd
HELM ?= $(LOCALBIN)/helm-$(HELM_VERSION)
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
COREDNS ?= $(LOCALBIN)/coredns-$(COREDNS_VERSION)
HELM_DOCS ?= $(LOCALBIN)/helm-docs-$(HELM_DOCS_VERSION)
# The other components of a real single-node cluster, next to the envtest ones.
K8S_CLUSTER_COMPONENTS ?= kubelet kube-controller-manager kube-scheduler kube-proxy

export LOCALBIN K8S_VERSION KUBEBUILDER_ASSETS HELM CONTROLLER_GEN KUBECTL ETCD \
	KUBE_APISERVER COREDNS HELM_DOCS

## Targets.
.PHONY: test-assets
test-assets: $(KUBE_APISERVER) $(ETCD) $(KUBECTL) ## kube-apiserver, etcd and kubectl for envtest in $(KUBEBUILDER_ASSETS).

.PHONY: helm
helm: $(HELM) ## Helm CLI, built from the module proxy.

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## controller-gen (controller-tools).

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT) ## golangci-lint, built from the module proxy (about 3 minutes once).

.PHONY: coredns
coredns: $(COREDNS)

.PHONY: helm-docs
helm-docs: $(HELM_DOCS) ## helm-docs (the chart README's values table).

.PHONY: k8s-cluster-binaries
k8s-cluster-binaries: test-assets $(addprefix $(KUBEBUILDER_ASSETS)/,$(K8S_CLUSTER_COMPONENTS)) $(COREDNS) ## Everything for a real single-node cluster (built only, never started).

.PHONY: tools
tools: test-assets helm controller-gen helm-docs golangci-lint

# Kubernetes components: one static, version-stamped binary each (see
# hack/build-k8s.sh). kube-apiserver alone takes ~5 minutes from a cold cache;
# later components reuse the Go build cache.
$(sort $(KUBE_APISERVER) $(KUBECTL) $(addprefix $(KUBEBUILDER_ASSETS)/,$(K8S_CLUSTER_COMPONENTS))):
	$(TOOLS_MK_DIR)/build-k8s.sh $(K8S_VERSION) $(@D) $(@F)

$(ETCD):
	$(TOOLS_MK_DIR)/install-etcd.sh $(@D)

# go-install-tool: $(1) target file, $(2) package, $(3) version, $(4) extra
# go flags. Installs into a temporary GOBIN under $(LOCALBIN), then renames to
# the versioned path, so an interrupted build leaves nothing behind.
define go-install-tool
@set -e; mkdir -p "$(LOCALBIN)"; \
tmp=$$(mktemp -d "$(LOCALBIN)/.install.XXXXXX"); trap 'rm -rf "$$tmp"' EXIT; \
echo "installing $(2)@$(3) -> $(1)"; \
GOBIN="$$tmp" GOWORK=off CGO_ENABLED=0 $(GO) install -trimpath $(4) $(2)@$(3); \
mv -f "$$tmp/$(notdir $(2))" "$(1)"
endef

# Helm's own release build stamps its version and the Kubernetes version it
# assumes for `helm template`/`helm lint` (default otherwise: v1.20).
HELM_K8S_MINOR ?= $(word 2,$(subst ., ,$(K8S_VERSION)))
HELM_LDFLAGS ?= -s -w -X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
	-X helm.sh/helm/v3/internal/version.gitTreeState=clean \
	-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 \
	-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$(HELM_K8S_MINOR) \
	-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 \
	-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$(HELM_K8S_MINOR)

$(HELM):
	$(call go-install-tool,$@,helm.sh/helm/v3/cmd/helm,$(HELM_VERSION),-ldflags '$(HELM_LDFLAGS)')

$(CONTROLLER_GEN):
	$(call go-install-tool,$@,sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION),-ldflags '-s -w')

$(GOLANGCI_LINT):
	$(call go-install-tool,$@,github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION),-ldflags '-s -w')

$(COREDNS):
	$(call go-install-tool,$@,github.com/coredns/coredns,$(COREDNS_VERSION),-ldflags '-s -w')

$(HELM_DOCS):
	$(call go-install-tool,$@,github.com/norwoodj/helm-docs/cmd/helm-docs,$(HELM_DOCS_VERSION),-ldflags '-s -w')

# print-tool-paths prints the tools' paths as shell assignments, for scripts.
.PHONY: print-tool-paths
print-tool-paths:
	@echo 'K8S_VERSION=$(K8S_VERSION) KUBEBUILDER_ASSETS=$(KUBEBUILDER_ASSETS) KUBECTL=$(KUBECTL) HELM=$(HELM) COREDNS=$(COREDNS) HELM_DOCS=$(HELM_DOCS); export K8S_VERSION KUBEBUILDER_ASSETS KUBECTL HELM COREDNS HELM_DOCS'
