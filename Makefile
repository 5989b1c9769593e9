# Timesheets platform. `make run` tries the API locally; `make test` runs every test.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

include hack/tools.mk

GO ?= go
IMG ?= timesheets:dev
# Go test flags; CI may add -race or -count=1.
TESTFLAGS ?=

.PHONY: build
build: ## Build both binaries into bin/, static and stripped as the Dockerfile builds them.
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags="-s -w" -o $(LOCALBIN)/api ./cmd/api
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags="-s -w" -o $(LOCALBIN)/importer ./cmd/importer

# The image for the test cluster, without a container engine: the same static
# binaries as the Dockerfile's, in one layer (hack/imagetar), user 65532.
IMAGE_REPO ?= ghcr.io/abc-inc/timesheets
IMAGE_TAG ?= e2e
IMAGE_TAR ?= $(LOCALBIN)/images/timesheets-$(IMAGE_TAG).tar

.PHONY: image-tar
image-tar: build ## Build the image as a docker-archive tarball in bin/images/ (no engine needed).
	@mkdir -p $(dir $(IMAGE_TAR))
	$(GO) run ./hack/imagetar --tag $(IMAGE_REPO):$(IMAGE_TAG) --out $(IMAGE_TAR) \
		--entrypoint /api --user 65532:65532 \
		--file /api=$(LOCALBIN)/api:0755 --file /importer=$(LOCALBIN)/importer:0755 \
		--file /etc/ssl/certs/ca-certificates.crt=/etc/ssl/certs/ca-certificates.crt:0644

.PHONY: run
run: ## Run the API on loopback with SQLite and a local development issuer (see README).
	$(GO) run ./cmd/api --dev --listen-address 127.0.0.1:8080 \
		--health-probe-bind-address 127.0.0.1:8081 --metrics-bind-address 127.0.0.1:9090

.PHONY: generate
generate: controller-gen ## Generate deepcopy code from the API types.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./pkg/apis/...

# The chart cannot read files outside its folder, so make manifests also writes
# the chart's copies; config/manifests includes config/crd and config/rbac.
CHART := charts/timesheets

.PHONY: manifests
manifests: controller-gen ## Generate the CRD and RBAC from markers, and the chart's copies of them.
	$(CONTROLLER_GEN) crd paths=./pkg/apis/... output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=timesheets-api paths=./pkg/controller/... output:rbac:artifacts:config=config/rbac
	rm -f $(CHART)/files/crds/*.yaml
	cp config/crd/bases/*.yaml $(CHART)/files/crds/
	cp config/rbac/role.yaml $(CHART)/files/rbac/role.yaml

.PHONY: fmt-check
fmt-check: ## Fail when gofmt would change a file.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi

.PHONY: vet
vet:
	$(GO) vet ./...
	$(GO) vet -tags e2e,cluster ./test/...

# values.yaml's "# --" comments are the chart's documentation: helm-docs writes
# README.md's values table from them (README.md.gotmpl holds the rest), and
# hack/valuesschema values.schema.json (with the "# @schema" constraints).
.PHONY: chart-docs
chart-docs: helm-docs ## Generate the chart's values.schema.json and README values table from values.yaml.
	$(GO) run ./hack/valuesschema -out $(CHART)/values.schema.json $(CHART)/values.yaml
	$(HELM_DOCS) --log-level warning --chart-search-root $(CHART) --sort-values-order file \
		--template-files README.md.gotmpl --output-file README.md

# Every generated file, and every copy of one.
GENERATED := pkg/apis config/crd config/rbac $(CHART)/files/crds $(CHART)/files/rbac \
	$(CHART)/values.schema.json $(CHART)/README.md

.PHONY: lint
lint: golangci-lint ## golangci-lint with .golangci.yml's linters, every package and the tagged e2e tests.
	$(GOLANGCI_LINT) run ./...
	$(GOLANGCI_LINT) run --build-tags e2e,cluster ./test/...

.PHONY: verify
verify: generate manifests chart-docs fmt-check vet lint ## Fail when generated files are stale, code is unformatted, or vet or the linter finds something.
	@git diff --exit-code -- $(GENERATED) && test -z "$$(git status --porcelain --untracked-files=all -- $(GENERATED))" || \
		{ git status --short -- $(GENERATED); echo "generated files are stale: run 'make generate manifests chart-docs' and commit"; exit 1; }

.PHONY: postgres
postgres: ## Install PostgreSQL's server binaries from Debian when absent (tests start their own server).
	hack/postgres.sh

.PHONY: promtool
promtool: ## Install promtool from Debian when absent (the chart test checks the alert rules with it).
	hack/promtool.sh

.PHONY: chromium
chromium: ## Install Chromium from Debian when absent (the browser test calls the API through CORS with it).
	hack/chromium.sh

.PHONY: test
test: verify test-assets helm postgres promtool chromium ## Run every test: unit, envtest, PostgreSQL, chart.
	KUBEBUILDER_ASSETS=$(KUBEBUILDER_ASSETS) HELM=$(HELM) $(GO) test $(TESTFLAGS) ./...
	HELM=$(HELM) hack/chart-test.sh

.PHONY: e2e
e2e: test-assets helm ## helm install on a real kube-apiserver; the API (as the chart's ServiceAccount) and importer binaries against it.
	KUBEBUILDER_ASSETS=$(KUBEBUILDER_ASSETS) HELM=$(HELM) $(GO) test -tags e2e -count=1 -v ./test/e2e/

.PHONY: e2e-cluster
e2e-cluster: ## Build, start a real single-node cluster, run the chart's scenario in it, always tear it down.
	IMAGE_TAG=$(IMAGE_TAG) IMAGE_TAR=$(IMAGE_TAR) MAKE="$(MAKE)" hack/e2e-cluster.sh

.PHONY: bench
bench: postgres ## Print the performance figures (ratios within one run).
	hack/bench.sh

.PHONY: docker-build
docker-build: ## Build the container image (needs a Docker engine).
	docker build -t $(IMG) .

.PHONY: import-dev
import-dev: ## Import FILE into the API of `make run` with the dev importer client.
	$(GO) run ./cmd/importer --source $(FILE) --api-url http://127.0.0.1:8080 \
		--token-url http://127.0.0.1:9443/oauth/token --audience https://timesheets.abc-inc.example/ \
		--credentials-dir data/dev-credentials/importer

.PHONY: clean
clean:
	rm -rf data
