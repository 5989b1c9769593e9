#!/usr/bin/env bash
# Tests the Helm chart (charts/timesheets) and the kustomize base (config/manifests):
#
#   - helm lint and helm template with the default values, with every option on
#     (charts/timesheets/ci/all-on-values.yaml) and with a few variants;
#   - every rendered object parses and has apiVersion, kind and metadata.name,
#     and no two objects share kind, namespace and name (no kubeconform offline);
#   - the pods follow the restricted Pod Security profile, the importer has no
#     API rights and no token, the API's args match its storage;
#   - the chart's CRD copy equals config/crd/bases and its Role rules equal
#     config/rbac/role.yaml (the same for the copies in config/manifests);
#   - values the chart must refuse (SQLite with replicas > 1, wrong types,
#     unknown keys, ...) make helm fail, with the expected message;
#   - kubectl kustomize config/manifests builds (when a kubectl is at hand);
#   - with the envtest binaries (make test-assets), against a real kube-apiserver:
#     helm install, upgrade, uninstall (CRD and PVC kept) and reinstall work;
#     every rendered object passes a strict server-side dry run, the ScopePolicy
#     its CRD's schema and CEL rules, and Pod Security (restricted) warns of nothing.
#
# Usage: hack/chart-test.sh           run the tests
#        hack/chart-test.sh --sync    refresh the copies of the generated CRD and Role, then test
#
# Helm: $HELM, else bin/helm-v3.22.0, else built with go install into bin/.
# Needs only Go and Helm; YAML is checked by small Go programs (below) built
# inside this module, so they use the module's dependencies.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

helm_version=v3.22.0
chart=charts/timesheets
crd_src=config/crd/bases/auth.timesheets.dev_scopepolicies.yaml
role_src=config/rbac/role.yaml
crd_copies=("$chart/files/crds/auth.timesheets.dev_scopepolicies.yaml" config/manifests/crd/auth.timesheets.dev_scopepolicies.yaml)
role_copies=("$chart/files/rbac/role.yaml" config/manifests/rbac/role.yaml)

failures=0
pass() { printf 'ok    %s\n' "$*"; }
fail() { printf 'FAIL  %s\n' "$*" >&2; failures=$((failures + 1)); }
skip() { printf 'skip  %s\n' "$*"; }

if [[ ${1:-} == --sync ]]; then
	for f in "${crd_copies[@]}"; do cp "$crd_src" "$f" && echo "copied $crd_src -> $f"; done
	if [[ -f $role_src ]]; then
		for f in "${role_copies[@]}"; do cp "$role_src" "$f" && echo "copied $role_src -> $f"; done
	fi
elif [[ $# -gt 0 ]]; then
	echo "usage: $0 [--sync]" >&2
	exit 2
fi

# --- Helm -------------------------------------------------------------------
HELM=${HELM:-}
if [[ -z $HELM ]]; then
	HELM=$root/bin/helm-$helm_version
	if [[ ! -x $HELM ]]; then
		echo "building Helm $helm_version into bin/ (about a minute, once)"
		tmpbin=$(mktemp -d)
		GOBIN=$tmpbin go install "helm.sh/helm/v3/cmd/helm@$helm_version"
		mkdir -p "$root/bin"
		mv "$tmpbin/helm" "$HELM"
		rmdir "$tmpbin"
	fi
fi
"$HELM" version --short >/dev/null || { echo "cannot run Helm at $HELM" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- the YAML checker ---------------------------------------------------------
cat >"$work/check.go" <<'GO'
// check validates rendered manifests for hack/chart-test.sh.
//
//	check objects FILE              each document parses and names apiVersion, kind, metadata.name; no duplicates
//	check restricted FILE           pod templates follow the restricted Pod Security profile
//	check api FILE                  the API Deployment's env, args, probes and storage agree
//	check importer FILE             the importer CronJob has no API rights, no token, read-only 0400 credentials
//	check rules FILE ROLE_FILE      the Role in FILE has the same rules as the Role in ROLE_FILE
//	check crd FILE CRD_FILE [keep]  the CRD in FILE has CRD_FILE's spec (and helm.sh/resource-policy: keep)
//	check kinds FILE KIND...        FILE holds at least one object of each KIND (!KIND: none)
//	check values VALUES README      README's values table lists every value, and nothing else
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

type obj = map[string]any

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: check COMMAND FILE [ARGS]")
		os.Exit(2)
	}
	objs, err := load(os.Args[2])
	if err != nil {
		fail(err.Error())
	}
	var errs []string
	switch cmd, args := os.Args[1], os.Args[3:]; cmd {
	case "objects":
		errs = checkObjects(objs)
	case "restricted":
		errs = checkRestricted(objs)
	case "api":
		errs = checkAPI(objs)
	case "importer":
		errs = checkImporter(objs)
	case "rules":
		errs = checkRules(objs, args[0])
	case "crd":
		errs = checkCRD(objs, args[0], len(args) > 1 && args[1] == "keep")
	case "kinds":
		errs = checkKinds(objs, args)
	case "values":
		errs = checkValuesTable(objs[0], args[0])
	default:
		fail("unknown command " + cmd)
	}
	if len(errs) > 0 {
		fail(strings.Join(errs, "\n  "))
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "  "+msg)
	os.Exit(1)
}

var docSep = regexp.MustCompile(`(?m)^---[ \t]*(#.*)?$`)

// load reads a multi-document YAML stream; documents holding only comments are dropped.
func load(path string) ([]obj, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []obj
	for i, doc := range docSep.Split(string(data), -1) {
		var o obj
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			return nil, fmt.Errorf("%s: document %d does not parse: %v", path, i, err)
		}
		if o != nil {
			out = append(out, o)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no objects", path)
	}
	return out, nil
}

// get walks a path of map keys.
func get(o any, path ...string) any {
	for _, k := range path {
		m, ok := o.(obj)
		if !ok {
			return nil
		}
		o = m[k]
	}
	return o
}

func str(o any, path ...string) string { s, _ := get(o, path...).(string); return s }
func list(o any, path ...string) []any { l, _ := get(o, path...).([]any); return l }
func id(o obj) string                  { return str(o, "kind") + "/" + str(o, "metadata", "name") }

func byKind(objs []obj, kind string) []obj {
	var out []obj
	for _, o := range objs {
		if str(o, "kind") == kind {
			out = append(out, o)
		}
	}
	return out
}

func checkObjects(objs []obj) []string {
	var errs []string
	seen := map[string]bool{}
	for i, o := range objs {
		for _, p := range [][]string{{"apiVersion"}, {"kind"}, {"metadata", "name"}} {
			if str(o, p...) == "" {
				errs = append(errs, fmt.Sprintf("object %d (%s): no %s", i, id(o), strings.Join(p, ".")))
			}
		}
		key := str(o, "apiVersion") + " " + id(o) + " in " + str(o, "metadata", "namespace")
		if seen[key] {
			errs = append(errs, "duplicate "+key)
		}
		seen[key] = true
		if n := str(o, "metadata", "name"); len(n) > 253 || (str(o, "kind") == "CronJob" && len(n) > 52) {
			errs = append(errs, id(o)+": name too long")
		}
	}
	return errs
}

type podTemplate struct {
	owner string
	spec  obj
}

func podTemplates(objs []obj) []podTemplate {
	var out []podTemplate
	for _, o := range objs {
		var spec any
		switch str(o, "kind") {
		case "Deployment", "StatefulSet", "DaemonSet", "Job":
			spec = get(o, "spec", "template", "spec")
		case "CronJob":
			spec = get(o, "spec", "jobTemplate", "spec", "template", "spec")
		default:
			continue
		}
		m, _ := spec.(obj)
		out = append(out, podTemplate{id(o), m})
	}
	return out
}

// checkRestricted checks what the restricted Pod Security profile requires, plus
// a numeric non-root user and a read-only root filesystem.
func checkRestricted(objs []obj) []string {
	var errs []string
	pts := podTemplates(objs)
	if len(pts) == 0 {
		return []string{"no pod templates"}
	}
	for _, pt := range pts {
		bad := func(format string, args ...any) { errs = append(errs, pt.owner+": "+fmt.Sprintf(format, args...)) }
		psc, _ := get(pt.spec, "securityContext").(obj)
		for _, k := range []string{"hostNetwork", "hostPID", "hostIPC"} {
			if get(pt.spec, k) == true {
				bad("%s", k)
			}
		}
		for _, v := range list(pt.spec, "volumes") {
			if get(v, "hostPath") != nil {
				bad("hostPath volume %s", str(v, "name"))
			}
		}
		if uid, ok := get(psc, "runAsUser").(float64); !ok || uid == 0 {
			bad("pod securityContext.runAsUser must be a non-zero number")
		}
		if _, ok := get(psc, "runAsGroup").(float64); !ok {
			bad("pod securityContext.runAsGroup must be a number")
		}
		for _, c := range append(list(pt.spec, "initContainers"), list(pt.spec, "containers")...) {
			name := str(c, "name")
			csc := get(c, "securityContext")
			either := func(k ...string) any {
				if v := get(csc, k...); v != nil {
					return v
				}
				return get(psc, k...)
			}
			if either("runAsNonRoot") != true {
				bad("container %s: runAsNonRoot is not true", name)
			}
			if sp := str(either("seccompProfile"), "type"); sp != "RuntimeDefault" && sp != "Localhost" {
				bad("container %s: seccompProfile.type is %q", name, sp)
			}
			if get(csc, "allowPrivilegeEscalation") != false {
				bad("container %s: allowPrivilegeEscalation is not false", name)
			}
			if get(csc, "readOnlyRootFilesystem") != true {
				bad("container %s: readOnlyRootFilesystem is not true", name)
			}
			if get(csc, "privileged") == true {
				bad("container %s: privileged", name)
			}
			drop := list(csc, "capabilities", "drop")
			if !contains(drop, "ALL") {
				bad("container %s: capabilities.drop lacks ALL", name)
			}
			for _, a := range list(csc, "capabilities", "add") {
				if a != "NET_BIND_SERVICE" {
					bad("container %s: adds capability %v", name, a)
				}
			}
			if get(c, "resources", "requests") == nil || get(c, "resources", "limits", "memory") == nil {
				bad("container %s: needs resource requests and a memory limit", name)
			}
		}
	}
	return errs
}

func contains(l []any, v any) bool {
	for _, x := range l {
		if x == v {
			return true
		}
	}
	return false
}

func containerArgs(c any) []string {
	var out []string
	for _, a := range list(c, "args") {
		out = append(out, fmt.Sprint(a))
	}
	return out
}

func hasArg(args []string, prefix string) bool {
	for _, a := range args {
		if a == prefix || strings.HasPrefix(a, prefix+"=") {
			return true
		}
	}
	return false
}

func argValue(args []string, flag string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v
		}
	}
	return ""
}

// checkAPI checks the API Deployment (the one running /api).
func checkAPI(objs []obj) []string {
	var errs []string
	var dep obj
	var ctr any
	for _, d := range byKind(objs, "Deployment") {
		for _, c := range list(d, "spec", "template", "spec", "containers") {
			if cmd := list(c, "command"); len(cmd) > 0 && cmd[0] == "/api" {
				dep, ctr = d, c
			}
		}
	}
	if dep == nil {
		return []string{"no Deployment runs /api"}
	}
	bad := func(format string, args ...any) { errs = append(errs, id(dep)+": "+fmt.Sprintf(format, args...)) }
	args := containerArgs(ctr)
	policy := argValue(args, "--policy")
	if ns, name, ok := strings.Cut(policy, "/"); !ok || ns == "" || name == "" {
		bad("--policy=%q is not NAMESPACE/NAME", policy)
	}
	var podNS bool
	for _, e := range list(ctr, "env") {
		if str(e, "name") == "POD_NAMESPACE" && str(e, "valueFrom", "fieldRef", "fieldPath") == "metadata.namespace" {
			podNS = true
		}
	}
	if !podNS {
		bad("env POD_NAMESPACE does not come from metadata.namespace")
	}
	ports := map[string]float64{}
	for _, p := range list(ctr, "ports") {
		ports[str(p, "name")], _ = get(p, "containerPort").(float64)
	}
	for flag, port := range map[string]string{"--listen-address": "http", "--health-probe-bind-address": "probes", "--metrics-bind-address": "metrics"} {
		if want := fmt.Sprintf(":%v", ports[port]); argValue(args, flag) != want {
			bad("%s=%s but port %s is %s", flag, argValue(args, flag), port, want)
		}
	}
	for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
		if str(ctr, probe, "httpGet", "path") != path || str(ctr, probe, "httpGet", "port") != "probes" {
			bad("%s is not GET %s on the probes port", probe, path)
		}
	}
	db := argValue(args, "--database-url")
	replicas, fixed := get(dep, "spec", "replicas").(float64)
	mounts := map[string]string{}
	for _, m := range list(ctr, "volumeMounts") {
		mounts[str(m, "mountPath")] = str(m, "name")
	}
	switch {
	case strings.HasPrefix(db, "sqlite:///data/"):
		if !fixed || replicas != 1 {
			bad("SQLite needs exactly one replica")
		}
		if str(dep, "spec", "strategy", "type") != "Recreate" {
			bad("SQLite needs the Recreate strategy")
		}
		if mounts["/data"] == "" {
			bad("SQLite needs a volume at /data")
		}
		if len(byKind(objs, "HorizontalPodAutoscaler")) > 0 {
			bad("an autoscaler with SQLite")
		}
	case db == "":
		var fromSecret bool
		for _, e := range list(ctr, "env") {
			if str(e, "name") == "DATABASE_URL" && str(e, "valueFrom", "secretKeyRef", "name") != "" {
				fromSecret = true
			}
		}
		if !fromSecret {
			bad("no --database-url and DATABASE_URL does not come from a Secret")
		}
		if !hasArg(args, "--leader-elect") {
			bad("several pods may run at once but --leader-elect is missing")
		}
	default:
		bad("unexpected --database-url=%q", db)
	}
	if mounts["/tmp"] == "" {
		bad("no writable /tmp")
	}
	return errs
}

// checkImporter checks the importer CronJob (the one running /importer).
func checkImporter(objs []obj) []string {
	var errs []string
	var cj obj
	for _, o := range byKind(objs, "CronJob") {
		for _, c := range list(o, "spec", "jobTemplate", "spec", "template", "spec", "containers") {
			if cmd := list(c, "command"); len(cmd) > 0 && cmd[0] == "/importer" {
				cj = o
			}
		}
	}
	if cj == nil {
		return []string{"no CronJob runs /importer"}
	}
	bad := func(format string, args ...any) { errs = append(errs, id(cj)+": "+fmt.Sprintf(format, args...)) }
	if str(cj, "spec", "concurrencyPolicy") != "Forbid" {
		bad("concurrencyPolicy is not Forbid")
	}
	job := get(cj, "spec", "jobTemplate", "spec")
	for _, k := range []string{"backoffLimit", "activeDeadlineSeconds"} {
		if get(job, k) == nil {
			bad("no %s", k)
		}
	}
	for _, k := range []string{"successfulJobsHistoryLimit", "failedJobsHistoryLimit"} {
		if get(cj, "spec", k) == nil {
			bad("no %s", k)
		}
	}
	pod := get(job, "template", "spec")
	if get(pod, "automountServiceAccountToken") != false {
		bad("pod mounts a ServiceAccount token")
	}
	sa := str(pod, "serviceAccountName")
	if sa == "" || sa == "default" {
		bad("no ServiceAccount of its own")
	}
	for _, o := range byKind(objs, "ServiceAccount") {
		if str(o, "metadata", "name") == sa && get(o, "automountServiceAccountToken") != false {
			bad("ServiceAccount %s automounts its token", sa)
		}
	}
	for _, kind := range []string{"RoleBinding", "ClusterRoleBinding"} {
		for _, b := range byKind(objs, kind) {
			for _, s := range list(b, "subjects") {
				if str(s, "kind") == "ServiceAccount" && str(s, "name") == sa {
					bad("%s binds the importer's ServiceAccount", id(b))
				}
			}
		}
	}
	ctr := list(pod, "containers")[0]
	args := containerArgs(ctr)
	if api := argValue(args, "--api-url"); api == "" {
		bad("no --api-url")
	} else if strings.HasPrefix(api, "http://") && !hasArg(args, "--allow-http-api") {
		bad("--api-url=%s is plain HTTP but --allow-http-api is missing (the importer would refuse it)", api)
	}
	if argValue(args, "--source") == "" {
		bad("no --source")
	}
	credDir := argValue(args, "--credentials-dir")
	if credDir == "" {
		credDir = "/var/run/secrets/timesheets/importer"
	}
	var credVolume string
	for _, m := range list(ctr, "volumeMounts") {
		if str(m, "mountPath") == credDir {
			credVolume = str(m, "name")
			if get(m, "readOnly") != true {
				bad("credentials are not mounted read-only")
			}
		}
	}
	var found bool
	for _, v := range list(pod, "volumes") {
		if str(v, "name") != credVolume {
			continue
		}
		found = true
		if str(v, "secret", "secretName") == "" {
			bad("credentials do not come from a Secret")
		}
		if m, _ := get(v, "secret", "defaultMode").(float64); m != 0o400 {
			bad("credentials defaultMode is %o, not 0400", int(m))
		}
		paths := map[string]bool{}
		for _, it := range list(v, "secret", "items") {
			paths[str(it, "path")] = true
		}
		if len(paths) > 0 && (!paths["client-id"] || !paths["client-secret"]) {
			bad("credentials volume lacks client-id or client-secret")
		}
	}
	if !found {
		bad("no credentials volume at %s", credDir)
	}
	// The kubelet gives the 0400 files to fsGroup (mode 0440); the process must be in that group.
	psc := get(pod, "securityContext")
	fsGroup, _ := get(psc, "fsGroup").(float64)
	runAsGroup, _ := get(psc, "runAsGroup").(float64)
	if fsGroup == 0 || fsGroup != runAsGroup {
		bad("fsGroup (%v) must be set and equal runAsGroup (%v) so the non-root importer can read the 0400 credentials", fsGroup, runAsGroup)
	}
	return errs
}

type rule struct {
	APIGroups       []string `json:"apiGroups,omitempty"`
	Resources       []string `json:"resources,omitempty"`
	ResourceNames   []string `json:"resourceNames,omitempty"`
	NonResourceURLs []string `json:"nonResourceURLs,omitempty"`
	Verbs           []string `json:"verbs,omitempty"`
}

// normRules sorts every list and the rules, so that order does not matter.
func normRules(o obj) []string {
	var out []string
	for _, r := range list(o, "rules") {
		var nr rule
		b, _ := json.Marshal(r)
		_ = json.Unmarshal(b, &nr)
		for _, l := range [][]string{nr.APIGroups, nr.Resources, nr.ResourceNames, nr.NonResourceURLs, nr.Verbs} {
			sort.Strings(l)
		}
		b, _ = json.Marshal(nr)
		out = append(out, string(b))
	}
	sort.Strings(out)
	return out
}

func onlyRole(objs []obj, where string) (obj, error) {
	roles := byKind(objs, "Role")
	if len(roles) != 1 {
		return nil, fmt.Errorf("%s: want exactly one Role, found %d", where, len(roles))
	}
	return roles[0], nil
}

func checkRules(objs []obj, roleFile string) []string {
	got, err := onlyRole(objs, "rendered")
	if err != nil {
		return []string{err.Error()}
	}
	ref, err := load(roleFile)
	if err != nil {
		return []string{err.Error()}
	}
	want, err := onlyRole(ref, roleFile)
	if err != nil {
		return []string{err.Error()}
	}
	g, w := normRules(got), normRules(want)
	if !reflect.DeepEqual(g, w) {
		return []string{fmt.Sprintf("Role rules differ from %s:\n    rendered: %s\n    %s: %s", roleFile, strings.Join(g, "\n              "), roleFile, strings.Join(w, "\n              "))}
	}
	return nil
}

func checkCRD(objs []obj, crdFile string, keep bool) []string {
	ref, err := load(crdFile)
	if err != nil {
		return []string{err.Error()}
	}
	want := ref[0]
	for _, o := range byKind(objs, "CustomResourceDefinition") {
		if str(o, "metadata", "name") != str(want, "metadata", "name") {
			continue
		}
		var errs []string
		if !reflect.DeepEqual(jsonRound(get(o, "spec")), jsonRound(get(want, "spec"))) {
			errs = append(errs, "rendered CRD spec differs from "+crdFile)
		}
		if keep && str(o, "metadata", "annotations", "helm.sh/resource-policy") != "keep" {
			errs = append(errs, "rendered CRD lacks helm.sh/resource-policy: keep")
		}
		return errs
	}
	return []string{"no CRD " + str(want, "metadata", "name") + " rendered"}
}

func jsonRound(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

var tableKey = regexp.MustCompile("(?m)^\\| `([^`]+)` \\|")

// checkValuesTable: every leaf of values.yaml is in the README table, or one of
// its parents is (a value documented as a whole, like resources); every key in
// the table is in values.yaml.
func checkValuesTable(values obj, readme string) []string {
	data, err := os.ReadFile(readme)
	if err != nil {
		return []string{err.Error()}
	}
	documented := map[string]bool{}
	for _, m := range tableKey.FindAllStringSubmatch(string(data), -1) {
		documented[m[1]] = true
	}
	var errs []string
	seen := map[string]bool{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		seen[prefix] = true
		if documented[prefix] {
			return
		}
		if m, ok := v.(obj); ok && len(m) > 0 {
			for k, c := range m {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				walk(p, c)
			}
			return
		}
		errs = append(errs, readme+": value "+prefix+" is not in the table")
	}
	walk("", values)
	for k := range documented {
		// Keys inside a parent documented as a whole were not walked; they must still exist.
		if !seen[k] && !hasPath(values, strings.Split(k, ".")) {
			errs = append(errs, readme+": table lists "+k+", which is not in values.yaml")
		}
	}
	sort.Strings(errs)
	return errs
}

func hasPath(o any, parts []string) bool {
	for _, p := range parts {
		m, ok := o.(obj)
		if !ok {
			return false
		}
		if o, ok = m[p]; !ok {
			return false
		}
	}
	return true
}

func checkKinds(objs []obj, kinds []string) []string {
	var errs []string
	for _, k := range kinds {
		if none, ok := strings.CutPrefix(k, "!"); ok {
			if n := len(byKind(objs, none)); n > 0 {
				errs = append(errs, fmt.Sprintf("want no %s, found %d", none, n))
			}
		} else if len(byKind(objs, k)) == 0 {
			errs = append(errs, "want a "+k+", found none")
		}
	}
	return errs
}
GO
go build -o "$work/check" "$work/check.go"
check() { "$work/check" "$@"; }

# --- generated files and their copies ---------------------------------------------
for f in "${crd_copies[@]}"; do
	if cmp -s "$crd_src" "$f"; then
		pass "$f equals $crd_src"
	else
		fail "$f differs from $crd_src: run 'hack/chart-test.sh --sync' and commit"
	fi
done
if [[ -f $role_src ]]; then
	for f in "${role_copies[@]}"; do
		if check rules "$f" "$role_src"; then
			pass "$f has the rules of $role_src"
		else
			fail "$f: rules differ from $role_src: run 'hack/chart-test.sh --sync' and commit"
		fi
	done
else
	skip "$role_src does not exist yet (make manifests): RBAC parity not checked"
fi

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
if render importer-claim "${importer_base[@]}" --set importer.source.existingClaim.name=exports \
	--set importer.source.existingClaim.path=contractors/ --set persistence.existingClaim=timesheets-db; then
	expect importer-claim objects
	expect importer-claim importer
	expect importer-claim kinds '!PersistentVolumeClaim'
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
refuse "trusted CA ConfigMap name that is not a DNS name" "at '/trustedCA/configMap'" --set trustedCA.configMap=Issuer_CA
refuse "credentials templated from values" "additional properties 'clientSecret' not allowed" \
	--set importer.credentials.clientSecret=hunter2

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
	cat >"$work/server/main.go" <<'GO'
// server checks the chart against a real kube-apiserver (envtest): with -helm,
// it installs, upgrades, uninstalls and reinstalls the chart; then it creates
// every object of the given files with dryRun=All and strict field validation,
// so the API server checks each field, the ScopePolicy against its CRD's
// schema and CEL rules, and Pod Security (restricted) warnings.
//
//	server -assets DIR -crds DIR [-helm HELM -chart DIR -all-on FILE] FILE...
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

const (
	release   = "timesheets"
	namespace = "timesheets"
	crdName   = "scopepolicies.auth.timesheets.dev"
)

var (
	gvrCRD         = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	gvrNamespace   = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	gvrPVC         = schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"}
	gvrDeployment  = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	gvrCronJob     = schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "cronjobs"}
	gvrHPA         = schema.GroupVersionResource{Group: "autoscaling", Version: "v2", Resource: "horizontalpodautoscalers"}
	gvrScopePolicy = schema.GroupVersionResource{Group: "auth.timesheets.dev", Version: "v1alpha1", Resource: "scopepolicies"}
)

func main() {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	assets := fs.String("assets", "", "directory holding kube-apiserver and etcd")
	crds := fs.String("crds", "", "CRD directory, installed when -helm is not given")
	helm := fs.String("helm", "", "Helm binary: also install, upgrade and uninstall the chart")
	chart := fs.String("chart", "", "chart directory (with -helm)")
	allOn := fs.String("all-on", "", "values file with every option on (with -helm)")
	_ = fs.Parse(os.Args[1:])
	os.Exit(run(*assets, *crds, *helm, *chart, *allOn, fs.Args()))
}

type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.list
	w.list = nil
	return l
}

type checker struct {
	ctx    context.Context
	dyn    dynamic.Interface
	mapper meta.RESTMapper
	warn   *warnings
	failed int
}

func (c *checker) errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "  "+format+"\n", args...)
	c.failed++
}

func run(assets, crds, helm, chart, allOn string, files []string) int {
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "  start kube-apiserver:", err)
		return 1
	}
	var once sync.Once
	stop := func() { once.Do(func() { _ = env.Stop() }) }
	defer stop()
	// Never leave kube-apiserver and etcd behind.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		stop()
		os.Exit(1)
	}()

	w := &warnings{}
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandler = w
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, " ", err)
		return 1
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, " ", err)
		return 1
	}
	c := &checker{
		ctx:    context.Background(),
		dyn:    dyn,
		mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)),
		warn:   w,
	}
	if err := c.ensureNamespace(namespace); err != nil {
		fmt.Fprintln(os.Stderr, " ", err)
		return 1
	}
	if helm != "" {
		if err := c.lifecycle(env, helm, chart, allOn); err != nil {
			c.errorf("helm: %v", err)
			return 1
		}
	} else if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: []string{crds}, ErrorIfPathMissing: true}); err != nil {
		c.errorf("install CRDs: %v", err)
		return 1
	}
	for _, file := range files {
		c.dryRun(file)
	}
	if c.failed > 0 {
		return 1
	}
	return 0
}

// lifecycle installs the chart, turns the ScopePolicy on, turns every option
// on, uninstalls it (the CRD and the data claim stay) and installs it again
// (adopting what stayed).
func (c *checker) lifecycle(env *envtest.Environment, helm, chart, allOn string) error {
	user, err := env.AddUser(envtest.User{Name: "chart-test", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return err
	}
	home, err := os.MkdirTemp("", "chart-test-helm-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(home)
	if err := os.WriteFile(filepath.Join(home, "kubeconfig"), kubeconfig, 0o600); err != nil {
		return err
	}
	helmEnv := append(os.Environ(),
		"KUBECONFIG="+filepath.Join(home, "kubeconfig"),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"))
	run := func(args ...string) error {
		cmd := exec.Command(helm, append(args, "--namespace", namespace)...)
		cmd.Env = helmEnv
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	exists := func(gvr schema.GroupVersionResource, ns, name string) bool {
		var ri dynamic.ResourceInterface = c.dyn.Resource(gvr)
		if ns != "" {
			ri = c.dyn.Resource(gvr).Namespace(ns)
		}
		_, err := ri.Get(c.ctx, name, metav1.GetOptions{})
		return err == nil
	}
	want := func(step string, gvr schema.GroupVersionResource, ns, name string, present bool) {
		if exists(gvr, ns, name) != present {
			c.errorf("after %s: %s %s present=%v, want %v", step, gvr.Resource, name, !present, present)
		}
	}
	failed := c.failed
	done := func(msg string) {
		if c.failed == failed {
			fmt.Println("      " + msg)
		}
		failed = c.failed
	}
	scopePolicy := []string{"--set", "scopePolicy.create=true",
		"--set", "scopePolicy.issuers[0].url=https://abc-inc.eu.auth0.com/",
		"--set", "scopePolicy.audiences[0]=https://timesheets.abc-inc.example/"}

	if err := run("install", release, chart); err != nil {
		return err
	}
	want("install", gvrCRD, "", crdName, true)
	want("install", gvrDeployment, namespace, release, true)
	want("install", gvrPVC, namespace, release+"-data", true)
	done("helm install: CRD, Deployment and PVC created")

	if err := run(append([]string{"upgrade", release, chart}, scopePolicy...)...); err != nil {
		return err
	}
	want("upgrade with scopePolicy.create", gvrScopePolicy, namespace, release, true)
	done("helm upgrade --set scopePolicy.create=true: the ScopePolicy passes the CRD's validation")

	// Without the Prometheus Operator's CRDs a ServiceMonitor cannot be created.
	if err := run("upgrade", release, chart, "-f", allOn, "--set", "metrics.serviceMonitor.enabled=false"); err != nil {
		return err
	}
	want("upgrade with every option", gvrCronJob, namespace, release+"-importer", true)
	want("upgrade with every option", gvrHPA, namespace, release, true)
	done("helm upgrade -f ci/all-on-values.yaml: CronJob and autoscaler created")

	if err := run("uninstall", release); err != nil {
		return err
	}
	want("uninstall", gvrCRD, "", crdName, true)
	want("uninstall", gvrPVC, namespace, release+"-data", true)
	want("uninstall", gvrDeployment, namespace, release, false)
	done("helm uninstall: CRD and PVC kept (helm.sh/resource-policy: keep), the rest deleted")

	if err := run(append([]string{"install", release, chart}, scopePolicy...)...); err != nil {
		return err
	}
	want("reinstall", gvrScopePolicy, namespace, release, true)
	done("helm install again: the kept CRD and PVC are adopted")
	return nil
}

var docSep = regexp.MustCompile(`(?m)^---[ \t]*(#.*)?$`)

// dryRun creates every object of a file with dryRun=All and strict field validation.
func (c *checker) dryRun(file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		c.errorf("%v", err)
		return
	}
	for _, doc := range docSep.Split(string(data), -1) {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil || m == nil {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		name := fmt.Sprintf("%s: %s %s", filepath.Base(file), u.GetKind(), u.GetName())
		gvk := u.GroupVersionKind()
		mapping, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if meta.IsNoMatchError(err) {
			fmt.Printf("      %s: kind unknown to a bare kube-apiserver, not checked\n", name)
			continue
		}
		if err != nil {
			c.errorf("%s: %v", name, err)
			continue
		}
		var ri dynamic.ResourceInterface = c.dyn.Resource(mapping.Resource)
		if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
			ns := u.GetNamespace()
			if ns == "" {
				ns = "default"
			}
			if err := c.ensureNamespace(ns); err != nil {
				c.errorf("namespace %s: %v", ns, err)
				return
			}
			ri = c.dyn.Resource(mapping.Resource).Namespace(ns)
		}
		c.warn.take()
		_, err = ri.Create(c.ctx, u, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"})
		// Objects that exist already (the CRD, the Namespace) were validated before the conflict.
		if err != nil && !apierrors.IsAlreadyExists(err) {
			c.errorf("%s: %v", name, err)
			continue
		}
		if ws := c.warn.take(); len(ws) > 0 {
			c.errorf("%s: warnings: %s", name, strings.Join(ws, "; "))
		}
	}
}

var namespaces = map[string]bool{}

// ensureNamespace creates a namespace that enforces, and warns about, the
// restricted Pod Security profile: workloads that would break it get warnings.
func (c *checker) ensureNamespace(ns string) error {
	if namespaces[ns] {
		return nil
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace",
		"metadata": map[string]any{"name": ns, "labels": map[string]any{
			"pod-security.kubernetes.io/enforce": "restricted",
			"pod-security.kubernetes.io/warn":    "restricted",
		}},
	}}
	_, err := c.dyn.Resource(gvrNamespace).Create(c.ctx, u, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		err = nil
	}
	namespaces[ns] = err == nil
	return err
}
GO
	go build -o "$work/server/server" "$work/server/main.go"
	server_files=()
	for f in defaults all-on importer-configmap postgres kustomize; do
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
