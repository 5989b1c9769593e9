package importer

import (
	"bytes"
	"io"
	"sync"
)

// Redactor writes to W with every secret it was given replaced by
// "[REDACTED]": the last line of defence that keeps a client secret or token
// out of logs, whatever message carries it. Each Write is redacted on its
// own, so the writer should get whole lines (slog handlers and fmt.Fprintln
// do).
type Redactor struct {
	W io.Writer

	mu      sync.Mutex
	secrets [][]byte
}

// Add registers a secret. Short strings are ignored, so as not to garble
// output with replacements of common words.
func (r *Redactor) Add(secret string) {
	if len(secret) < 4 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets = append(r.secrets, []byte(secret))
}

var redacted = []byte("[REDACTED]")

func (r *Redactor) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := p
	for _, s := range r.secrets {
		if bytes.Contains(out, s) {
			out = bytes.ReplaceAll(out, s, redacted)
		}
	}
	if _, err := r.W.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}
