package main

import (
	"crypto/tls"
	"log/slog"
	"net/http"

	"github.com/abc-inc/timesheets/pkg/activation"
	"github.com/abc-inc/timesheets/pkg/auth"
	"github.com/abc-inc/timesheets/pkg/certfile"
	"github.com/abc-inc/timesheets/pkg/policy"
	"github.com/abc-inc/timesheets/pkg/server"
	"github.com/abc-inc/timesheets/pkg/timesheets"
)

// apiHandler is the API as served: CORS (outermost, so preflights are
// answered before authentication and refusals carry CORS headers), then
// instrumented, then guarded by the policy, then routed.
func apiHandler(st timesheets.Store, holder *policy.Holder, keys *auth.Keys, cacheSize int, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	(&timesheets.API{Store: st, Logger: logger, Caller: auth.Caller, Client: auth.Client, Employee: auth.Employee}).Register(mux)
	guard := &auth.Middleware{Policy: holder, Verifier: auth.NewVerifier(keys, cacheSize), Logger: logger, Realm: "timesheets"}
	return (&auth.CORS{Policy: holder}).Wrap(server.Instrument(mux, guard.Wrap(mux)))
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
