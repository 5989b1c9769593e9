package policy

import "github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"

// Sample is the sample ScopePolicy of config/samples for one issuer and
// audience: each endpoint of the Timesheets API with its scope. The dev mode
// and the tests use it, so they enforce what operators are shown.
func Sample(issuer, audience string) v1alpha1.ScopePolicySpec {
	route := func(method, path, scope string) v1alpha1.Route {
		return v1alpha1.Route{Path: path, Methods: []string{method}, Scopes: []string{scope}}
	}
	return v1alpha1.ScopePolicySpec{
		Issuers:   []v1alpha1.Issuer{{URL: issuer}},
		Audiences: []string{audience},
		Routes: []v1alpha1.Route{
			route("POST", "/timesheets", "create:timesheets"),
			route("POST", "/timesheets/upload", "batch:upload"),
			{Path: "/timesheets/upload/checkpoint", Methods: []string{"GET", "PUT"}, Scopes: []string{"batch:upload"}},
			route("POST", "/timesheets/upload/prune", "batch:upload"),
			route("GET", "/timesheets", "read:timesheets"),
			route("GET", "/timesheets/{id}", "read:timesheets"),
			route("DELETE", "/timesheets/{id}", "delete:timesheets"),
			route("PATCH", "/timesheets/{id}", "update:timesheets"),
			route("POST", "/timesheets/{id}/approve", "approve:timesheets"),
		},
	}
}
