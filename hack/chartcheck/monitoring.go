package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"

	"sigs.k8s.io/yaml"
)

// checkPrometheusRule: FILE holds one PrometheusRule; every alert has a
// severity, a summary, a description and a runbook_url whose anchor is a
// heading of README; its spec.groups are written to OUT as a Prometheus
// rules file, for promtool check rules.
func checkPrometheusRule(objs []obj, out, readme string) []string {
	rules := byKind(objs, "PrometheusRule")
	if len(rules) != 1 {
		return []string{fmt.Sprintf("want one PrometheusRule, got %d", len(rules))}
	}
	doc, err := os.ReadFile(readme)
	if err != nil {
		return []string{err.Error()}
	}
	anchors := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#+ +(.+)$`).FindAllStringSubmatch(string(doc), -1) {
		anchors[strings.ToLower(strings.ReplaceAll(strings.TrimSpace(m[1]), " ", "-"))] = true
	}
	var errs []string
	n := 0
	for _, g := range list(rules[0], "spec", "groups") {
		for _, r := range list(g, "rules") {
			name := str(r, "alert")
			if name == "" {
				continue
			}
			n++
			for _, k := range []string{"summary", "description", "runbook_url"} {
				if str(r, "annotations", k) == "" {
					errs = append(errs, name+": no annotation "+k)
				}
			}
			if str(r, "labels", "severity") == "" {
				errs = append(errs, name+": no severity label")
			}
			_, anchor, _ := strings.Cut(str(r, "annotations", "runbook_url"), "#")
			if !anchors[anchor] || anchor != strings.ToLower(name) {
				errs = append(errs, fmt.Sprintf("%s: runbook_url anchor #%s is not its heading in %s", name, anchor, readme))
			}
		}
	}
	if n == 0 {
		errs = append(errs, "no alerts")
	}
	b, err := yaml.Marshal(obj{"groups": get(rules[0], "spec", "groups")})
	if err == nil {
		err = os.WriteFile(out, b, 0o644)
	}
	if err != nil {
		errs = append(errs, err.Error())
	}
	return errs
}

// checkDashboard: FILE holds one ConfigMap labelled grafana_dashboard: "1"
// whose one key is a dashboard: the JSON parses, has panels, and each panel
// but a row queries Prometheus with at least one expr. The exprs are written
// to OUT as recording rules (promtool has no expression checker of its own).
func checkDashboard(objs []obj, out string) []string {
	var cms []obj
	for _, o := range byKind(objs, "ConfigMap") {
		if str(o, "metadata", "labels", "grafana_dashboard") == "1" {
			cms = append(cms, o)
		}
	}
	if len(cms) != 1 {
		return []string{fmt.Sprintf("want one ConfigMap labelled grafana_dashboard: \"1\", got %d", len(cms))}
	}
	data, _ := get(cms[0], "data").(map[string]any)
	if len(data) != 1 {
		return []string{fmt.Sprintf("want one dashboard in the ConfigMap, got %d keys", len(data))}
	}
	var errs []string
	var rules []any
	for key, v := range data {
		var d struct {
			Title  string `json:"title"`
			UID    string `json:"uid"`
			Panels []struct {
				ID      int    `json:"id"`
				Type    string `json:"type"`
				Title   string `json:"title"`
				Targets []struct {
					RefID string `json:"refId"`
					Expr  string `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
		}
		s, _ := v.(string)
		if err := json.Unmarshal([]byte(s), &d); err != nil {
			return []string{key + ": " + err.Error()}
		}
		if d.Title == "" || d.UID == "" || len(d.Panels) == 0 {
			errs = append(errs, key+": no title, uid or panels")
		}
		for _, p := range d.Panels {
			if p.Type == "row" {
				continue
			}
			if len(p.Targets) == 0 {
				errs = append(errs, fmt.Sprintf("panel %q: no query", p.Title))
			}
			for _, t := range p.Targets {
				if strings.TrimSpace(t.Expr) == "" {
					errs = append(errs, fmt.Sprintf("panel %q %s: empty expr", p.Title, t.RefID))
					continue
				}
				rules = append(rules, obj{"record": fmt.Sprintf("dashboard:panel_%d_%s", p.ID, t.RefID), "expr": t.Expr})
			}
		}
	}
	b, err := yaml.Marshal(obj{"groups": []any{obj{"name": "dashboard", "rules": rules}}})
	if err == nil {
		err = os.WriteFile(out, b, 0o644)
	}
	if err != nil {
		errs = append(errs, err.Error())
	}
	return errs
}
