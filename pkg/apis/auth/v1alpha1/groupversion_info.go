// Package v1alpha1 holds the ScopePolicy API: which issuers, audiences and
// scopes the Timesheets API accepts, per route.
//
// +kubebuilder:object:generate=true
// +groupName=auth.timesheets.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The scheme registration is apimachinery's, as in k8s.io/api's packages,
// not controller-runtime's scheme.Builder: an API package stays importable
// without controller-runtime (the policy and auth packages import it).
var (
	// GroupVersion is the API group and version of ScopePolicy.
	GroupVersion = schema.GroupVersion{Group: "auth.timesheets.dev", Version: "v1alpha1"}

	// SchemeBuilder adds the types of this group-version to a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types of this group-version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &ScopePolicy{}, &ScopePolicyList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
