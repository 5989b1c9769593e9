package server

import (
	"fmt"
	"net/http"
)

// ReadyFunc reports readiness: a non-nil error answers 503 with it; a note
// on success is added to the 200 body (e.g. a pending policy's problem,
// which must not take the replica out of service).
type ReadyFunc func(*http.Request) (note string, err error)

// Probes serves GET /healthz (the process is alive) and GET /readyz.
func Probes(ready ReadyFunc) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		note, err := ready(r)
		if err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if note != "" {
			fmt.Fprintln(w, "ok; "+note)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}
