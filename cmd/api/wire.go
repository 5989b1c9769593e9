package main

import (
	"crypto/tls"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/abc-inc/timesheets/pkg/activation"
	"github.com/abc-inc/timesheets/pkg/auth"
	"github.com/abc-inc/timesheets/pkg/certfile"
	"github.com/abc-inc/timesheets/pkg/openapi"
	"github.com/abc-inc/timesheets/pkg/policy"
	"github.com/abc-inc/timesheets/pkg/server"
	"github.com/abc-inc/timesheets/pkg/timesheets"
)

// apiHandler is the API as served: CORS (outermost, so preflights are
// answered before authentication and refusals carry CORS headers), then
// instrumented, then guarded by the policy, then routed.
// publicURL is --public-url (nil: each request's own scheme and host).
func apiHandler(st timesheets.Store, holder *policy.Holder, keys *auth.Keys, cacheSize int, logger *slog.Logger, publicURL *url.URL) http.Handler {
	mux := http.NewServeMux()
	(&timesheets.API{Store: st, Logger: logger, Caller: auth.Caller, Client: auth.Client, Employee: auth.Employee}).Register(mux)
	md := &auth.Metadata{Policy: holder, PublicURL: publicURL, ResourceName: "Timesheets API"}
	guard := &auth.Middleware{Policy: holder, Verifier: auth.NewVerifier(keys, cacheSize), Logger: logger, Realm: "timesheets", Metadata: md}
	// The public routes are served by outside, before the guard; they are
	// also in mux, so Instrument labels them by pattern.
	outside := http.NewServeMux()
	registerPublic(mux, md)
	registerPublic(outside, md)
	outside.Handle("/", guard.Wrap(mux))
	return (&auth.CORS{Policy: holder}).Wrap(server.Instrument(mux, outside))
}

// registerPublic adds the routes served whatever the policy's routes say,
// with no token: documents that tell a client how to call the API.
func registerPublic(mux auth.Mux, md *auth.Metadata) {
	md.Register(mux)
	mux.Handle("GET "+openapi.Path, openapi.Handler())
}

// apiTLS is the API listener's TLS configuration when the flags name a
// certificate (nil otherwise); the pair is read now, so a bad one fails at
// start, before the database is waited for.
func apiTLS(c config, logger *slog.Logger) (*tls.Config, error) {
	if c.tlsCertFile == "" {
		return nil, nil
	}
	certs, err := certfile.New(c.tlsCertFile, c.tlsKeyFile, logger)
	if err != nil {
		return nil, err
	}
	return certs.TLSConfig(), nil
}

// readiness fails while no policy with keys is in force (a pending or
// refused policy only adds a note) and while the database cannot be reached.
func readiness(st timesheets.Store, act *activation.Activator) server.ReadyFunc {
	return func(r *http.Request) (string, error) {
		note, err := act.Readiness()
		if err != nil {
			return "", err
		}
		return note, ping(r.Context(), st)
	}
}
