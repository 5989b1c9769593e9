// Command chartcheck validates rendered manifests for hack/chart-test.sh,
// which builds it as "check":
//
//	check objects FILE              each document parses and names apiVersion, kind, metadata.name; no duplicates
//	check restricted FILE           pod templates follow the restricted Pod Security profile
//	check api FILE                  the API Deployment's env, args, probes and storage agree
//	check importer FILE             the importer CronJob has no API rights, no token, read-only 0400 credentials
//	check rules FILE ROLE_FILE      the Role in FILE has the same rules as the Role in ROLE_FILE
//	check crd FILE CRD_FILE [keep]  the CRD in FILE has CRD_FILE's spec (and helm.sh/resource-policy: keep)
//	check kinds FILE KIND...        FILE holds at least one object of each KIND (!KIND: none)
//	check values VALUES README      README's values table lists every value, and nothing else
//	check prometheusrule FILE OUT README  alerts have summary, description, runbook_url (a README heading); rules to OUT
//	check dashboard FILE OUT        the Grafana dashboard ConfigMap's JSON parses; its panel queries to OUT as rules
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
	case "prometheusrule":
		errs = checkPrometheusRule(objs, args[0], args[1])
	case "dashboard":
		errs = checkDashboard(objs, args[0])
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
		// client-id, and client-secret or (private_key_jwt) private-key.pem, not both.
		if len(paths) > 0 && (!paths["client-id"] || paths["client-secret"] == paths["private-key.pem"]) {
			bad("credentials volume lacks client-id, or has not exactly one of client-secret and private-key.pem")
		}
		if paths["key-id"] && !paths["private-key.pem"] {
			bad("credentials volume has key-id without private-key.pem")
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
