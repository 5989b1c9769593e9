package main

import (
	"context"
	"errors"
	"log/slog"
)

// runInCluster watches a ScopePolicy with controller-runtime.
func runInCluster(ctx context.Context, c config, logger *slog.Logger) error {
	return errors.New("--policy: not built yet")
}
