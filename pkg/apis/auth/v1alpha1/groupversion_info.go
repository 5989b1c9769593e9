// Package v1alpha1 holds the ScopePolicy API: which issuers, audiences and
// scopes the Timesheets API accepts, per route.
//
// +kubebuilder:object:generate=true
// +groupName=auth.timesheets.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the API group and version of ScopePolicy.
	GroupVersion = schema.GroupVersion{Group: "auth.timesheets.dev", Version: "v1alpha1"}

	// SchemeBuilder adds the types of this group-version to a scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this group-version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
