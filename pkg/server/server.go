// Package server runs an HTTP server with the limits and shutdown behaviour
// every listener of the platform needs, and instruments requests.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/abc-inc/timesheets/pkg/metrics"
)

// Server is an HTTP server that stops gracefully when its context ends. It
// is a controller-runtime Runnable that every replica runs.
type Server struct {
	Name    string
	Addr    string
	Handler http.Handler
	Logger  *slog.Logger
	// ShutdownTimeout bounds how long in-flight requests may take to finish.
	ShutdownTimeout time.Duration
	// Listening, if set, receives the bound address once listening (tests use :0).
	Listening func(addr net.Addr)
	// TLS, if set, makes the server speak https (HTTP/2 included) with it.
	TLS *tls.Config
}

// NeedLeaderElection is false: every replica serves.
func (s *Server) NeedLeaderElection() bool { return false }

// Start serves until ctx ends, then lets in-flight requests finish.
func (s *Server) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("%s server: listen on %s: %w", s.Name, s.Addr, err)
	}
	if s.Listening != nil {
		s.Listening(ln.Addr())
	}
	srv := &http.Server{
		Handler:           s.Handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn),
		TLSConfig:         s.TLS,
	}
	s.Logger.Info("serving", "server", s.Name, "address", ln.Addr().String(), "tls", s.TLS != nil)
	errc := make(chan error, 1)
	go func() {
		if s.TLS != nil {
			errc <- srv.ServeTLS(ln, "", "") // the certificate comes from TLSConfig
			return
		}
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("%s server: %w", s.Name, err)
	case <-ctx.Done():
	}
	timeout := s.ShutdownTimeout
	if timeout <= 0 {
		timeout = 25 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("%s server: shutdown: %w", s.Name, err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Instrument counts and times requests by the route pattern mux would pick,
// never by raw path, and makes a server span of each: continuing the
// caller's trace when it sends a W3C traceparent.
func Instrument(mux *http.ServeMux, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		_, pattern := mux.Handler(r)
		if pattern == "" {
			pattern = metrics.RouteUnmatched
		}
		method := MethodLabel(r.Method)
		ctx, span := startSpan(r, method, pattern)
		defer span.End()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r.WithContext(ctx))
		endSpan(span, sw.code)
		metrics.HTTPRequests.WithLabelValues(pattern, method, strconv.Itoa(sw.code)).Inc()
		metrics.HTTPDuration.WithLabelValues(pattern, method).Observe(time.Since(start).Seconds())
	})
}

// MethodLabel keeps a method, as a metric label or in a log line, to a
// fixed set: the methods the API knows, else "other".
func MethodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

type statusWriter struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.code, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
