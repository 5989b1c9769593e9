#!/usr/bin/env bash
# Tests the Helm chart (charts/timesheets) and the kustomize base (config/manifests):
#
#   - helm lint and helm template with the default values, with every option on
#     (charts/timesheets/ci/all-on-values.yaml) and with a few variants;
#   - every rendered object parses and has apiVersion, kind and metadata.name,
#     and no two objects share kind, namespace and name (no kubeconform offline);
#   - the pods follow the restricted Pod Security profile, the importer has no
#     API rights and no token, the API's args match its storage;
#   - the importer's source: the kind flag, the tool's credentials Secret mounted
#     read-only 0400 at --source-credentials-dir with the keys its kind reads,
#     the older tokenSecret on its own path, the sync flags;
#   - the importer's client Secret mounted read-only 0400 with the keys of its
#     method (client-secret, or private-key.pem and key-id for private_key_jwt),
#     --dpop and --assertion-audience;
#   - the rendered CRD equals config/crd/bases and the rendered Role's rules equal
#     config/rbac/role.yaml (the chart's copies of them are written by
#     make manifests and checked by make verify);
#   - with monitoring on, the PrometheusRule's alerts each have a summary, a
#     description and a runbook_url to their README heading, and pass
#     promtool check rules; the dashboard ConfigMap's JSON parses and each
#     panel query passes promtool as a recording rule (make promtool);
#   - values the chart must refuse (SQLite with replicas > 1, wrong types,
#     unknown keys, ...) make helm fail, with the expected message;
#   - kubectl kustomize config/manifests builds (when a kubectl is at hand);
#   - with the envtest binaries (make test-assets), against a real kube-apiserver:
#     helm install, upgrade, uninstall (CRD and PVC kept) and reinstall work;
#     every rendered object passes a strict server-side dry run, the ScopePolicy
#     its CRD's schema and CEL rules, and Pod Security (restricted) warns of nothing.
#
# Usage: hack/chart-test.sh
#
# Helm: $HELM, required (make test passes it; by hand: make helm, then
# eval "$(make -s print-tool-paths)"): hack/tools.mk alone names its version.
# Needs only Go and Helm; YAML is checked by two small Go programs of this
# module, hack/chartcheck and hack/chartserver.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

chart=charts/timesheets
crd_src=config/crd/bases/auth.timesheets.dev_scopepolicies.yaml
role_src=config/rbac/role.yaml

failures=0
pass() { printf 'ok    %s\n' "$*"; }
fail() { printf 'FAIL  %s\n' "$*" >&2; failures=$((failures + 1)); }
skip() { printf 'skip  %s\n' "$*"; }

if [[ $# -gt 0 ]]; then
	echo "usage: $0" >&2
	exit 2
fi

# --- Helm -------------------------------------------------------------------
if [[ -z ${HELM:-} ]]; then
	echo "chart-test: HELM is not set: run 'make helm' and then this script through make, or" \
		"eval \"\$(make -s print-tool-paths)\" first (hack/tools.mk names the Helm version)" >&2
	exit 2
fi
"$HELM" version --short >/dev/null || { echo "cannot run Helm at $HELM" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- the YAML checker ---------------------------------------------------------
# The checks of rendered manifests: "check KIND FILE..." (see hack/chartcheck).
go build -o "$work/check" ./hack/chartcheck
check() { "$work/check" "$@"; }

# --- the values table ---------------------------------------------------------------
if check values "$chart/values.yaml" "$chart/README.md"; then
	pass "$chart/README.md lists every value"
else
	fail "$chart/README.md: values table out of date"
fi

# --- render cases -------------------------------------------------------------
# render NAME [helm args...]: lint and template into $work/NAME.yaml, check the objects.
render() {
	local name=$1
	shift
	if ! "$HELM" lint --strict "$chart" "$@" >"$work/$name.lint" 2>&1; then
		fail "$name: helm lint"
		sed 's/^/      /' "$work/$name.lint" >&2
		return 1
	fi
	if ! "$HELM" template timesheets "$chart" --namespace timesheets "$@" >"$work/$name.yaml" 2>"$work/$name.err"; then
		fail "$name: helm template"
		sed 's/^/      /' "$work/$name.err" >&2
		return 1
	fi
	pass "$name: lint and template"
}

# expect NAME CHECK [args...]: run a check on $work/NAME.yaml.
expect() {
	local name=$1 what=$2
	shift 2
	if check "$what" "$work/$name.yaml" "$@"; then
		pass "$name: $what $*"
	else
		fail "$name: $what $*"
	fi
}

# item CASE NAME: the list items "- name: NAME" of $work/CASE.yaml with what they hold
# (a container's volume mount and the pod's volume, one after the other).
item() {
	awk -v name="$2" '
		{ match($0, /^ */); lead = RLENGTH }
		on && lead <= d { on = 0 }
		!on && $0 ~ /^ *- name: / && substr($0, lead + 9) == name { on = 1; d = lead; print; next }
		on { print }
	' "$work/$1.yaml"
}

# has TEXT LINE...: TEXT has every LINE (a whole line, without its indentation); !LINE: none.
has() {
	local text=$1 line
	shift
	for line in "$@"; do
		if [[ $line == '!'* ]]; then
			if grep -qxE -- " *${line#!}" <<<"$text"; then return 1; fi
		elif ! grep -qxE -- " *$line" <<<"$text"; then
			return 1
		fi
	done
}

all_kinds=(CustomResourceDefinition ServiceAccount Role RoleBinding Deployment Service PodDisruptionBudget
	HorizontalPodAutoscaler ServiceMonitor NetworkPolicy ScopePolicy CronJob)

if render defaults; then
	expect defaults objects
	expect defaults restricted
	expect defaults api
	expect defaults kinds CustomResourceDefinition ServiceAccount Role RoleBinding Deployment Service \
		PersistentVolumeClaim PodDisruptionBudget '!HorizontalPodAutoscaler' '!ScopePolicy' '!CronJob' '!Secret'
	expect defaults crd "$crd_src" keep
	if [[ -f $role_src ]]; then expect defaults rules "$role_src"; fi
fi

if render all-on -f "$chart/ci/all-on-values.yaml"; then
	expect all-on objects
	expect all-on restricted
	expect all-on api
	expect all-on importer
	expect all-on kinds "${all_kinds[@]}" '!PersistentVolumeClaim' '!Secret'
	expect all-on crd "$crd_src" keep
	if [[ -f $role_src ]]; then expect all-on rules "$role_src"; fi
	if has "$(cat "$work/all-on.yaml")" 'dpop: Required' 'maxAge: "2m"' 'requireNonce: true'; then
		pass "all-on: the ScopePolicy's dpop and dpopProofs"
	else
		fail "all-on: the ScopePolicy lacks dpop or dpopProofs"
	fi
	if grep -q 'path: /timesheets/{id}/approve' "$work/all-on.yaml"; then
		pass "all-on: ScopePolicy has the default routes"
	else
		fail "all-on: ScopePolicy lacks the default routes"
	fi
	# trustedCA: the API and the importer each get the env, the mount and the volume.
	env=$(grep -c -- '- name: SSL_CERT_DIR' "$work/all-on.yaml" || true)
	mounts=$(grep -c -- 'mountPath: /etc/timesheets/trusted-ca' "$work/all-on.yaml" || true)
	volumes=$(grep -c -- 'name: issuer-ca' "$work/all-on.yaml" || true)
	if [[ $env == 2 && $mounts == 2 && $volumes == 2 ]] && ! grep -q SSL_CERT_DIR "$work/defaults.yaml"; then
		pass "all-on: trustedCA reaches the API and the importer (env, mount, volume); defaults have none"
	else
		fail "all-on: trustedCA: $env SSL_CERT_DIR env, $mounts mounts, $volumes volumes (want 2 each)"
	fi
fi

importer_base=(--set importer.enabled=true --set importer.credentials.existingSecret=importer-credentials
	--set importer.oauth.issuer=https://abc-inc.eu.auth0.com/)
if render importer-configmap "${importer_base[@]}" --set importer.source.configMap.name=entries \
	--set importer.source.configMap.key=week24.csv --set persistence.enabled=false; then
	expect importer-configmap objects
	expect importer-configmap restricted
	expect importer-configmap api
	expect importer-configmap importer
	expect importer-configmap kinds CronJob '!PersistentVolumeClaim'
	if grep -q -- '--api-url=http://timesheets.timesheets.svc:8080' "$work/importer-configmap.yaml" &&
		grep -q -- '--source=/var/run/timesheets/source/week24.csv' "$work/importer-configmap.yaml"; then
		pass "importer-configmap: API URL defaults to the Service, source is the mounted file"
	else
		fail "importer-configmap: --api-url or --source"
	fi
fi
if render importer-tls "${importer_base[@]}" --set importer.source.configMap.name=entries \
	--set tls.existingSecret=timesheets-tls --set trustedCA.configMap=api-ca; then
	expect importer-tls objects
	expect importer-tls restricted
	expect importer-tls api
	expect importer-tls importer
	if grep -q -- '--api-url=https://timesheets.timesheets.svc:8080' "$work/importer-tls.yaml" &&
		! grep -q -- '--allow-http-api' "$work/importer-tls.yaml" &&
		grep -q -- '--tls-cert-file=/etc/timesheets/tls/tls.crt' "$work/importer-tls.yaml" &&
		grep -q -- 'secretName: timesheets-tls' "$work/importer-tls.yaml" &&
		grep -q -- 'appProtocol: https' "$work/importer-tls.yaml"; then
		pass "importer-tls: the API serves https from the Secret; the importer calls https:// without --allow-http-api"
	else
		fail "importer-tls: TLS flags, Secret volume, appProtocol or the importer's https URL"
	fi
fi
if grep -q -- '--allow-http-api' "$work/importer-configmap.yaml"; then
	pass "importer-configmap: plain http to the Service is an explicit --allow-http-api"
else
	fail "importer-configmap: an http:// API URL without --allow-http-api"
fi
if render importer-claim "${importer_base[@]}" --set importer.source.existingClaim.name=exports \
	--set importer.source.existingClaim.path=contractors/ --set persistence.existingClaim=timesheets-db; then
	expect importer-claim objects
	expect importer-claim importer
	expect importer-claim kinds '!PersistentVolumeClaim'
fi
# The importer's source: a tool's connector, its credentials Secret, the sync flags.
creds_dir=/var/run/secrets/timesheets/source
if ! has "$(cat "$work/importer-configmap.yaml")" '!- --source-kind=.*' '!- --source-credentials-dir=.*' \
	'!- --source-token-file=.*' '!- --(full|prune|window=.*|overlap=.*)' "!mountPath: $creds_dir"; then
	fail "importer-configmap: a file source with the defaults has a kind, credentials or sync flag"
else
	pass "importer-configmap: a file source with the defaults has no kind, credentials or sync flag"
fi
if render importer-harvest "${importer_base[@]}" --set importer.source.url=https://api.harvestapp.com/v2 \
	--set importer.source.credentials.existingSecret=harvest --set importer.sync.prune=true \
	--set importer.sync.window=35d --set importer.sync.overlap=15m; then
	expect importer-harvest objects
	expect importer-harvest restricted
	expect importer-harvest importer
	if has "$(item importer-harvest source-credentials)" "mountPath: $creds_dir" 'readOnly: true' \
		'secretName: harvest' 'defaultMode: 0400' '- key: token' 'path: token' '- key: account-id' 'path: account-id' \
		'!path: workspace-id' '!path: user-id'; then
		pass "importer-harvest: the credentials Secret is mounted read-only 0400 at $creds_dir, token and account-id only"
	else
		fail "importer-harvest: the credentials mount or volume (read-only, 0400, token and account-id):"
		item importer-harvest source-credentials | sed 's/^/      /' >&2
	fi
	if has "$(cat "$work/importer-harvest.yaml")" "- --source-credentials-dir=$creds_dir" \
		'- --source=https://api.harvestapp.com/v2' '!- --source-kind=.*' '!- --source-token-file=.*' \
		'- --prune' '- --window=35d' '- --overlap=15m' '!- --full'; then
		pass "importer-harvest: --source-credentials-dir, no --source-kind for auto, --prune --window=35d --overlap=15m"
	else
		fail "importer-harvest: the importer's args (--source-credentials-dir, kind, sync flags)"
	fi
fi
if render importer-clockify "${importer_base[@]}" --set importer.source.url=https://clockify-proxy.example/api/v1 \
	--set importer.source.kind=clockify --set importer.source.credentials.existingSecret=clockify \
	--set importer.source.credentials.tokenKey=api-key --set importer.source.credentials.userIDKey=user \
	--set importer.sync.full=true; then
	expect importer-clockify importer
	if has "$(item importer-clockify source-credentials)" "mountPath: $creds_dir" 'readOnly: true' 'defaultMode: 0400' \
		'- key: api-key' 'path: token' '- key: workspace-id' 'path: workspace-id' '- key: user' 'path: user-id' \
		'!path: account-id' &&
		has "$(cat "$work/importer-clockify.yaml")" '- --source-kind=clockify' "- --source-credentials-dir=$creds_dir" \
			'- --full' '!- --prune' '!- --window=.*' '!- --overlap=.*'; then
		pass "importer-clockify: --source-kind=clockify; token (from key api-key), workspace-id and user-id mounted; --full"
	else
		fail "importer-clockify: --source-kind, the credentials items or --full"
		item importer-clockify source-credentials | sed 's/^/      /' >&2
	fi
fi
# The older way, for http-json: one token file, on its own path beside the credentials directory.
if render importer-token-file "${importer_base[@]}" --set importer.source.url=https://tool.example/entries \
	--set importer.source.tokenSecret.name=tool-token --set importer.source.itemsPath=results \
	--set importer.source.nextPath=links.next; then
	expect importer-token-file importer
	if has "$(item importer-token-file source-token)" 'mountPath: /var/run/secrets/timesheets/source-token' \
		'readOnly: true' 'secretName: tool-token' 'defaultMode: 0400' 'path: token' &&
		has "$(cat "$work/importer-token-file.yaml")" '- --source-token-file=/var/run/secrets/timesheets/source-token/token' \
			'!- --source-credentials-dir=.*' "!mountPath: $creds_dir" '- --items-path=results' '- --next-path=links.next'; then
		pass "importer-token-file: the older tokenSecret is mounted read-only 0400 at its own path (--source-token-file); --items-path, --next-path"
	else
		fail "importer-token-file: the tokenSecret's mount, volume or --source-token-file, or the http-json paths"
		item importer-token-file source-token | sed 's/^/      /' >&2
	fi
fi
# The client's Secret: client-id and client-secret by default; private_key_jwt mounts its key instead, DPoP is a flag.
client_dir=/var/run/secrets/timesheets/importer
if has "$(item importer-configmap credentials)" "mountPath: $client_dir" 'readOnly: true' 'secretName: importer-credentials' \
	'defaultMode: 0400' '- key: client-id' 'path: client-id' '- key: client-secret' 'path: client-secret' \
	'!path: private-key.pem' '!path: key-id' &&
	has "$(cat "$work/importer-configmap.yaml")" '!- --dpop' '!- --assertion-audience=.*'; then
	pass "importer-configmap: client-id and client-secret mounted read-only 0400 at $client_dir; no --dpop, no --assertion-audience"
else
	fail "importer-configmap: the client credentials mount or volume, or a DPoP or assertion flag:"
	item importer-configmap credentials | sed 's/^/      /' >&2
fi
if render importer-key "${importer_base[@]}" --set importer.source.url=https://tool.example/entries \
	--set importer.credentials.method=private_key_jwt --set importer.credentials.privateKeyKey=tls.key \
	--set importer.credentials.keyIDKey=kid --set importer.oauth.assertionAudience=https://abc-inc.eu.auth0.com/ \
	--set importer.dpop=true; then
	expect importer-key objects
	expect importer-key restricted
	expect importer-key importer
	if has "$(item importer-key credentials)" "mountPath: $client_dir" 'readOnly: true' 'defaultMode: 0400' \
		'- key: client-id' 'path: client-id' '- key: tls.key' 'path: private-key.pem' '- key: kid' 'path: key-id' \
		'!path: client-secret' '!- key: client-secret' &&
		has "$(cat "$work/importer-key.yaml")" '- --dpop' '- --assertion-audience=https://abc-inc.eu.auth0.com/' \
			"- --credentials-dir=$client_dir"; then
		pass "importer-key: private_key_jwt mounts client-id, private-key.pem (from key tls.key) and key-id 0400, no client-secret; --dpop, --assertion-audience"
	else
		fail "importer-key: the private_key_jwt items, --dpop or --assertion-audience:"
		item importer-key credentials | sed 's/^/      /' >&2
	fi
fi
if render importer-key-no-kid "${importer_base[@]}" --set importer.source.url=https://tool.example/entries \
	--set importer.credentials.method=private_key_jwt &&
	has "$(item importer-key-no-kid credentials)" '- key: private-key.pem' 'path: private-key.pem' '!path: key-id' '!path: client-secret'; then
	pass "importer-key-no-kid: private_key_jwt without keyIDKey mounts no key-id"
else
	fail "importer-key-no-kid: private_key_jwt's default items"
fi
if has "$(item all-on credentials)" 'path: private-key.pem' 'path: key-id' '!path: client-secret' &&
	has "$(cat "$work/all-on.yaml")" '- --dpop' '- --assertion-audience=https://abc-inc.eu.auth0.com/'; then
	pass "all-on: private_key_jwt with a key-id, --dpop, --assertion-audience"
else
	fail "all-on: the private_key_jwt items, --dpop or --assertion-audience"
fi
if has "$(item all-on source-credentials)" "mountPath: $creds_dir" 'defaultMode: 0400' 'path: token' '!path: account-id' &&
	has "$(cat "$work/all-on.yaml")" '- --source-kind=http-json' "- --source-credentials-dir=$creds_dir" \
		'- --items-path=results' '- --next-path=links.next' '- --prune' '- --window=35d' '- --overlap=15m'; then
	pass "all-on: http-json with the credentials Secret (token only), its paths and the sync flags"
else
	fail "all-on: --source-kind, the credentials Secret, --items-path/--next-path or the sync flags"
fi

if render postgres --set database.existingSecret=timesheets-postgres --set replicaCount=2; then
	expect postgres objects
	expect postgres restricted
	expect postgres api
	expect postgres kinds Deployment '!PersistentVolumeClaim' '!HorizontalPodAutoscaler'
fi
if render minimal --set crds.enabled=false --set rbac.create=false --set serviceAccount.create=false \
	--set podDisruptionBudget.enabled=false --set metrics.service.enabled=false; then
	expect minimal objects
	expect minimal api
	expect minimal kinds Deployment Service '!CustomResourceDefinition' '!Role' '!RoleBinding' '!ServiceAccount' '!PodDisruptionBudget'
fi

# --- dashboards and alerts -----------------------------------------------------------
PROMTOOL=${PROMTOOL:-$(command -v promtool || true)}
if render monitoring "${importer_base[@]}" --set importer.source.url=https://tool.example/entries \
	--set monitoring.grafanaDashboard.enabled=true --set monitoring.prometheusRule.enabled=true \
	--set monitoring.prometheusRule.labels.release=kube-prometheus-stack; then
	expect monitoring objects
	expect monitoring kinds PrometheusRule ConfigMap
	expect monitoring prometheusrule "$work/alerts.yaml" "$chart/README.md"
	expect monitoring dashboard "$work/dashboard-queries.yaml"
	if [[ -z $PROMTOOL ]]; then
		fail "monitoring: no promtool (make promtool, or set PROMTOOL)"
	else
		for f in alerts dashboard-queries; do
			if "$PROMTOOL" check rules "$work/$f.yaml" >"$work/$f.promtool" 2>&1; then
				pass "monitoring: promtool check rules ($f)"
			else
				fail "monitoring: promtool check rules ($f)"
				sed 's/^/      /' "$work/$f.promtool" >&2
			fi
		done
	fi
	if grep -q 'alert: TimesheetsImporterNoRecentSuccess' "$work/monitoring.yaml" &&
		grep -q -- '> 7200$' "$work/monitoring.yaml" &&
		! grep -q 'kind: PrometheusRule' "$work/defaults.yaml" && ! grep -q 'grafana_dashboard' "$work/defaults.yaml"; then
		pass "monitoring: the importer alert waits twice its interval; defaults render neither rule nor dashboard"
	else
		fail "monitoring: importer alert threshold, or defaults render monitoring objects"
	fi
fi

# NOTES.txt is not rendered by helm template: render it as a ConfigMap in a copy of the chart.
notes_chart=$work/notes-chart
cp -r "$chart" "$notes_chart"
{
	echo '{{- define "timesheets.notesCheck" -}}'
	cat "$chart/templates/NOTES.txt"
	echo '{{- end }}'
} >"$notes_chart/templates/_notes-check.tpl"
rm "$notes_chart/templates/NOTES.txt"
cat >"$notes_chart/templates/notes-check.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata:
  name: notes-check
data:
  notes: {{ include "timesheets.notesCheck" . | quote }}
EOF
# notes NAME WANT [helm args...]: NOTES.txt renders and mentions WANT.
notes() {
	local name=$1 want=$2
	shift 2
	if ! "$HELM" template timesheets "$notes_chart" --namespace timesheets --show-only templates/notes-check.yaml "$@" \
		>"$work/notes-$name.yaml" 2>&1; then
		fail "NOTES.txt ($name) does not render"
		sed 's/^/      /' "$work/notes-$name.yaml" >&2
	elif grep -qF -- "$want" "$work/notes-$name.yaml"; then
		pass "NOTES.txt ($name) renders and says: $want"
	else
		fail "NOTES.txt ($name) does not say: $want"
	fi
}
notes defaults "kubectl apply -n timesheets -f -"
notes all-on "kubectl create secret generic timesheets-importer" -f "$chart/ci/all-on-values.yaml"
notes all-on "svc/timesheets-metrics 9090:9090" -f "$chart/ci/all-on-values.yaml"
notes all-on "kubectl create secret generic contractor-tool-credentials -n timesheets --from-file=token=./source-token" \
	-f "$chart/ci/all-on-values.yaml"
notes all-on "deletes this client's entries in that window" -f "$chart/ci/all-on-values.yaml"
notes all-on "--from-file=private-key.pem=./private-key.pem --from-literal=key-id=KEY_ID" -f "$chart/ci/all-on-values.yaml"
notes all-on "Its tokens are DPoP-bound" -f "$chart/ci/all-on-values.yaml"
notes harvest "--from-literal=account-id=ACCOUNT_ID" "${importer_base[@]}" \
	--set importer.source.url=https://api.harvestapp.com/v2 --set importer.source.credentials.existingSecret=harvest
notes token-file "the older way" "${importer_base[@]}" --set importer.source.url=https://tool.example/entries \
	--set importer.source.tokenSecret.name=tool-token

# --- values the chart must refuse -------------------------------------------------------
# refuse WHY MESSAGE_REGEX [helm args...]: helm template must fail and say MESSAGE_REGEX.
refuse() {
	local why=$1 want=$2
	shift 2
	if "$HELM" template timesheets "$chart" --namespace timesheets "$@" >/dev/null 2>"$work/refuse.err"; then
		fail "refused: $why: helm template succeeded"
	elif grep -Eq -- "$want" "$work/refuse.err"; then
		pass "refused: $why"
	else
		fail "refused: $why: the error does not say /$want/:"
		sed 's/^/      /' "$work/refuse.err" >&2
	fi
}

refuse "2 replicas with SQLite" 'replicaCount is 2, but the API uses SQLite' --set replicaCount=2
refuse "autoscaling with SQLite" 'autoscaling.enabled is true, but the API uses SQLite' --set autoscaling.enabled=true
refuse "SQLite file off the data volume" 'root filesystem is read-only' --set database.url=sqlite://./data/timesheets.db
refuse "a PostgreSQL URL in values" "at '/database/url'" --set database.url=postgres://u:p@db/timesheets
refuse "unknown key replicas" "additional properties 'replicas' not allowed" --set replicas=2
refuse "replicaCount not a number" "at '/replicaCount': got string, want integer" --set replicaCount=two
refuse "pullPolicy not an enum value" "at '/image/pullPolicy'" --set image.pullPolicy=Sometimes
refuse "service type not an enum value" "at '/service/type'" --set service.type=ExternalName
refuse "issuer not a URL" "at '/scopePolicy/issuers/0/url'" --set scopePolicy.create=true --set 'scopePolicy.issuers[0].url=abc-inc.auth0.com' \
	--set 'scopePolicy.audiences[0]=https://timesheets.example/'
refuse "ScopePolicy without issuers" 'set scopePolicy.issuers' --set scopePolicy.create=true
refuse "route method not an enum value" "at '/scopePolicy/routes/0/methods/0'" --set 'scopePolicy.routes[0].path=/x' --set 'scopePolicy.routes[0].methods[0]=FETCH'
refuse "scope with a space" "at '/scopePolicy/routes/0/scopes/0'" --set 'scopePolicy.routes[0].path=/x' \
	--set 'scopePolicy.routes[0].scopes[0]=read timesheets'
refuse "clock skew not a duration" "at '/scopePolicy/clockSkew'" --set scopePolicy.clockSkew=5
refuse "max token age not a duration" "at '/scopePolicy/maxTokenAge'" --set scopePolicy.maxTokenAge=24
refuse "token type with a space" "at '/scopePolicy/requireTokenType'" --set 'scopePolicy.requireTokenType=at jwt'
refuse "dpop not a mode" "at '/scopePolicy/dpop'" --set scopePolicy.dpop=Maybe
refuse "CORS wildcard origin" "at '/scopePolicy/cors/allowedOrigins/0'" --set 'scopePolicy.cors.allowedOrigins[0]=*'
refuse "ServiceMonitor without metrics Service" 'metrics.service.enabled' --set metrics.serviceMonitor.enabled=true \
	--set metrics.service.enabled=false
refuse "importer without credentials Secret" 'importer.credentials.existingSecret' --set importer.enabled=true
refuse "importer without token endpoint" 'importer.oauth.tokenURL' --set importer.enabled=true \
	--set importer.credentials.existingSecret=c
refuse "importer with two sources" 'exactly one of importer.source' "${importer_base[@]}" \
	--set importer.source.url=https://tool.example/entries --set importer.source.configMap.name=entries
refuse "importer with no source" 'exactly one of importer.source' "${importer_base[@]}"
refuse "importer source over plain HTTP" "at '/importer/source/url'" "${importer_base[@]}" --set importer.source.url=http://tool.example/entries
refuse "importer audienceParam not an enum value" "at '/importer/oauth/audienceParam'" "${importer_base[@]}" \
	--set importer.source.url=https://tool.example/entries --set importer.oauth.audienceParam=aud
refuse "importer batch larger than an upload may be" "at '/importer/batchSize'" --set importer.batchSize=10000
refuse "TLS Secret name that is not a DNS name" "at '/tls/existingSecret'" --set tls.existingSecret=API_TLS
refuse "trusted CA ConfigMap name that is not a DNS name" "at '/trustedCA/configMap'" --set trustedCA.configMap=Issuer_CA
refuse "5xx ratio above 1" "at '/monitoring/prometheusRule/errorRatio'" --set monitoring.prometheusRule.errorRatio=5
refuse "importer interval not a number" "at '/monitoring/prometheusRule/importerIntervalSeconds'" \
	--set monitoring.prometheusRule.importerIntervalSeconds=1h
refuse "unknown monitoring key" "additional properties 'serviceMonitor' not allowed" --set monitoring.serviceMonitor.enabled=true
refuse "credentials templated from values" "additional properties 'clientSecret' not allowed" \
	--set importer.credentials.clientSecret=hunter2
refuse "private key templated from values" "additional properties 'privateKey' not allowed" \
	--set importer.credentials.privateKey=hunter2
refuse "importer credentials method not an enum value" "at '/importer/credentials/method'" --set importer.credentials.method=mtls
refuse "private_key_jwt without credentials Secret" 'client-id, private-key.pem and optionally key-id' --set importer.enabled=true \
	--set importer.credentials.method=private_key_jwt
refuse "assertion audience with a client secret" 'importer.oauth.assertionAudience is the aud of a private_key_jwt client assertion' \
	"${importer_base[@]}" --set importer.source.url=https://tool.example/entries --set importer.oauth.assertionAudience=https://x.example/
refuse "dpop not a boolean" "at '/importer/dpop'" --set importer.dpop=yes
refuse "source token templated from values" "additional properties 'token' not allowed" \
	--set importer.source.credentials.token=hunter2
harvest=("${importer_base[@]}" --set importer.source.url=https://api.harvestapp.com/v2)
refuse "importer with both source Secrets" 'tokenSecret \(old\) and importer.source.credentials.existingSecret \(new\) are both set' \
	"${importer_base[@]}" --set importer.source.url=https://tool.example/entries \
	--set importer.source.tokenSecret.name=old --set importer.source.credentials.existingSecret=new
refuse "prune without a window" 'importer.sync.prune is true but importer.sync.window is empty' "${harvest[@]}" \
	--set importer.source.credentials.existingSecret=harvest --set importer.sync.prune=true
refuse "prune with full" 'importer.sync.prune and importer.sync.full are both true' "${harvest[@]}" \
	--set importer.source.credentials.existingSecret=harvest --set importer.sync.prune=true \
	--set importer.sync.window=35d --set importer.sync.full=true
refuse "Harvest (inferred from the URL) without credentials" \
	'harvest connector.*set importer.source.credentials.existingSecret.*keys token .* and account-id' "${harvest[@]}"
refuse "Tempo without credentials" 'kind is tempo: set importer.source.credentials.existingSecret.*keys token ' \
	"${importer_base[@]}" --set importer.source.url=https://tempo-proxy.example/4 --set importer.source.kind=tempo
refuse "Toggl without credentials" 'kind is toggl: set importer.source.credentials.existingSecret.*keys token .* and workspace-id' \
	"${importer_base[@]}" --set importer.source.url=https://api.track.toggl.com/api/v9 --set importer.source.kind=toggl
refuse "Clockify without credentials" 'clockify connector.*keys token .*, workspace-id' \
	"${importer_base[@]}" --set importer.source.url=https://api.clockify.me/api/v1
refuse "a connector with the older tokenSecret" 'tokenSecret is the older way for an http-json source only.*keys token .* and account-id' \
	"${harvest[@]}" --set importer.source.tokenSecret.name=old
refuse "a connector without a URL" 'kind is harvest, read over HTTPS: set importer.source.url' "${importer_base[@]}" \
	--set importer.source.configMap.name=entries --set importer.source.kind=harvest --set importer.source.credentials.existingSecret=h
refuse "source credentials for a file source" 'importer.source.credentials is for a source read over HTTPS' "${importer_base[@]}" \
	--set importer.source.configMap.name=entries --set importer.source.credentials.existingSecret=h
refuse "a file kind with a URL" 'kind is csv, a file' "${importer_base[@]}" \
	--set importer.source.url=https://tool.example/entries.csv --set importer.source.kind=csv
refuse "a file kind that contradicts format" 'kind is csv but importer.format is json' "${importer_base[@]}" \
	--set importer.source.configMap.name=entries --set importer.source.kind=csv --set importer.format=json
refuse "itemsPath for a connector" 'itemsPath and nextPath are for an http-json source; the source is harvest' "${harvest[@]}" \
	--set importer.source.credentials.existingSecret=harvest --set importer.source.itemsPath=time_entries
refuse "source kind not an enum value" "at '/importer/source/kind'" --set importer.source.kind=jira
refuse "sync window not in days" "at '/importer/sync/window'" --set importer.sync.window=5w
refuse "sync window of 0 days" "at '/importer/sync/window'" --set importer.sync.window=0d
refuse "sync overlap not a duration" "at '/importer/sync/overlap'" --set importer.sync.overlap=10
refuse "sync prune not a boolean" "at '/importer/sync/prune'" --set-string importer.sync.prune=yes

# --- the kustomize base -----------------------------------------------------------
kubectl=""
for k in "${KUBECTL:-}" "$(command -v kubectl || true)" "$root"/bin/k8s/*/kubectl; do
	if [[ -n $k && -x $k ]]; then
		kubectl=$k
		break
	fi
done
if [[ -z $kubectl ]]; then
	skip "config/manifests: no kubectl found (set KUBECTL): kustomize build not checked"
elif "$kubectl" kustomize config/manifests >"$work/kustomize.yaml" 2>"$work/kustomize.err"; then
	pass "config/manifests: kubectl kustomize"
	expect kustomize objects
	expect kustomize restricted
	expect kustomize api
	expect kustomize importer
	expect kustomize kinds Namespace CustomResourceDefinition ServiceAccount Role RoleBinding Deployment Service \
		PersistentVolumeClaim PodDisruptionBudget ScopePolicy CronJob
	expect kustomize crd "$crd_src"
	if [[ -f $role_src ]]; then expect kustomize rules "$role_src"; fi
else
	fail "config/manifests: kubectl kustomize"
	sed 's/^/      /' "$work/kustomize.err" >&2
fi

# --- a real kube-apiserver --------------------------------------------------------
# With the envtest binaries (make test-assets): install, upgrade (ScopePolicy on,
# every option on), uninstall (the CRD and the data claim stay) and reinstall the
# chart; then create every rendered object with dryRun=All and strict field
# validation: the API server checks each field, the ScopePolicy against its CRD
# (schema and CEL rules), and warns about anything the restricted Pod Security
# profile forbids. No controllers run, so no pod starts.
assets=${KUBEBUILDER_ASSETS:-}
if [[ -z $assets ]]; then
	for d in "$root"/bin/k8s/*-linux-amd64; do [[ -d $d ]] && assets=$d; done
fi
if [[ -z $assets || ! -x $assets/kube-apiserver || ! -x $assets/etcd ]]; then
	skip "no kube-apiserver and etcd in ${assets:-KUBEBUILDER_ASSETS} (make test-assets): server-side dry run not done"
else
	mkdir -p "$work/server"
	go build -o "$work/server/server" ./hack/chartserver
	server_files=()
	for f in defaults all-on importer-configmap importer-harvest importer-token-file importer-key postgres kustomize; do
		[[ -f $work/$f.yaml ]] && server_files+=("$work/$f.yaml")
	done
	if "$work/server/server" -assets "$assets" -crds config/crd/bases -helm "$HELM" -chart "$chart" \
		-all-on "$chart/ci/all-on-values.yaml" "${server_files[@]}"; then
		pass "kube-apiserver $(basename "$assets"): helm install/upgrade/uninstall/reinstall; every object passes a strict dry-run create, no Pod Security warnings"
	else
		fail "kube-apiserver $(basename "$assets"): dry-run create"
	fi
fi

if ((failures > 0)); then
	echo "chart-test: $failures failure(s)" >&2
	exit 1
fi
echo "chart-test: all passed"
