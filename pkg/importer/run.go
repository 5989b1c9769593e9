package importer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/abc-inc/timesheets/pkg/dpop"
	"github.com/abc-inc/timesheets/pkg/timesheets"
	"github.com/abc-inc/timesheets/pkg/tracing"
)

// Run imports every record of the source and returns what it did. It never
// panics on bad input and always returns a Summary; Summary.Err says why the
// run stopped early, and Summary.ExitCode how the command should exit.
//
// Cancelling ctx (SIGTERM) stops the run: requests in flight are abandoned.
// The API stores a batch in one transaction, so a batch is either stored
// whole or not at all, and the next run uploads what is missing.
func Run(ctx context.Context, cfg Config) Summary {
	start := time.Now()
	cfg = cfg.withDefaults()
	// One trace per run: every upload is a child, and carries traceparent
	// to the API, which continues it.
	ctx, span := tracing.Tracer().Start(ctx, "import", trace.WithAttributes(attribute.Bool("timesheets.import.dry_run", cfg.DryRun)))
	defer span.End()
	r := &run{cfg: cfg, log: cfg.Logger}
	if cfg.Prune {
		r.keys = keys{}
	}
	s := r.run(ctx)
	s.Duration = time.Since(start)
	s.DryRun = cfg.DryRun
	if !s.DryRun {
		s.Failed = max(0, s.Valid-s.Created-s.Duplicates-s.Updated-r.uploadConflicts.Load()-r.apiRejected.Load())
	}
	if n := r.unlisted.Load(); n > 0 {
		r.log.Warn("more rejected entries were not listed", "count", n, "report_limit", cfg.ReportLimit)
	}
	r.recordCheckpoint(ctx, s)
	r.finish(ctx, &s)
	traceSummary(span, s)
	return s
}

type run struct {
	cfg Config
	log *slog.Logger
	c   counters

	apiRejected     atomic.Int64 // valid entries the API rejected nonetheless
	uploadConflicts atomic.Int64 // uploaded entries the API could not change (of Summary.Conflicts)
	keys            keys         // with Prune: the keys read in the window
	// up, name and checkpointed are what recording a checkpoint needs;
	// newest is the newest modification time of the entries read (Unix ns).
	up           *Uploader
	name         string
	checkpointed bool
	newest       int64
	listed       atomic.Int64 // rejected entries logged one by one
	unlisted     atomic.Int64
}

func (r *run) run(ctx context.Context) Summary {
	cfg := r.cfg
	if err := cfg.validate(); err != nil {
		return Summary{Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	client := cfg.HTTPClient
	if client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = cfg.InFlight + 2
		client = &http.Client{Timeout: cfg.RequestTimeout, Transport: tr}
	}
	back := Backoff{MaxAttempts: cfg.MaxAttempts}
	if cfg.Backoff != nil {
		back = *cfg.Backoff
	}
	userOnRetry := back.OnRetry
	back.OnRetry = func(attempt int, wait time.Duration, err error) {
		r.c.retries.Add(1)
		r.log.Warn("retrying", "attempt", attempt, "wait_seconds", wait.Seconds(), "error", err.Error())
		if userOnRetry != nil {
			userOnRetry(attempt, wait, err)
		}
	}

	so := cfg.SourceOptions()
	so.HTTPClient, so.Backoff = client, &back
	src, err := OpenSource(cfg.Source, so)
	if err != nil {
		return Summary{Err: err}
	}
	if hs, ok := src.(*httpSource); ok && cfg.Redact != nil && hs.Secret() != "" {
		cfg.Redact(hs.Secret())
	}
	name := cfg.SourceName
	if name == "" {
		name = src.Name()
	}

	var up *Uploader
	if !cfg.DryRun {
		creds, err := ReadCredentials(cfg.CredentialsDir, cfg.Redact)
		if err != nil {
			return Summary{Err: err}
		}
		var pop *DPoP
		if cfg.DPoP {
			if pop, err = r.dpopKey(); err != nil {
				return Summary{Err: err}
			}
		}
		tokens, err := NewTokenSource(ctx, TokenConfig{
			TokenURL: cfg.TokenURL, Issuer: cfg.Issuer, Credentials: creds,
			Audience: cfg.Audience, AudienceParam: cfg.AudienceParam, Scopes: cfg.Scopes, AssertionAudience: cfg.AssertionAudience,
			AllowHTTP: cfg.AllowHTTPIssuer, HTTPClient: client, Backoff: &back, DPoP: pop,
		})
		if err != nil {
			return Summary{Err: err}
		}
		// Fetch the first token before reading anything: wrong credentials
		// fail at once, not after the first batch is read.
		if err := back.retry(ctx, func() error { _, err := tokens.Token(); return err }); err != nil {
			return Summary{Err: err}
		}
		up = &Uploader{
			Endpoint: strings.TrimSuffix(cfg.APIURL, "/") + UploadPath,
			Client:   client, Tokens: tokens, Backoff: back, UserAgent: cfg.UserAgent, DPoP: pop,
		}
	}

	p := r.plan(ctx, src, name, up)
	r.up, r.name = up, name
	if inc, ok := src.(IncrementalSource); ok && inc.Incremental() && up != nil && cfg.To.IsZero() && !cfg.Prune {
		r.checkpointed = true // it reads all changes since p.since (or all)
	}
	if rs, ok := src.(RangeSetter); ok {
		if err := rs.SetRange(p.since, p.from, p.to); err != nil {
			return Summary{Err: err}
		}
	}
	r.log.Info("import started", "source", redactURL(cfg.Source), "source_name", name, "dry_run", cfg.DryRun,
		"batch_size", cfg.BatchSize, "mapping", cfg.Mapping.String(), "prune", cfg.Prune)
	err = r.pipeline(ctx, src, name, up)
	if err == nil && cfg.Prune && up != nil {
		s := r.c.summary()
		s.Conflicts = r.uploadConflicts.Load()
		if why := mayPrune(s, err); why != nil {
			r.log.Warn("not pruning: "+why.Error()+"; nothing was deleted", "from", cfg.From.Format(time.DateOnly), "to", cfg.To.Format(time.DateOnly))
		} else {
			err = r.prune(ctx, up, name, r.keys)
		}
	}
	s := r.c.summary()
	s.Err = err
	return s
}

// pipeline reads and encodes batches in one goroutine while up to InFlight
// batches upload: reading the next batch overlaps the upload of the last.
func (r *run) pipeline(ctx context.Context, src Source, name string, up *Uploader) error {
	cfg := r.cfg
	g, gctx := errgroup.WithContext(ctx)
	batches := make(chan *batch)
	pool := sync.Pool{New: func() any { return &batch{} }}

	stopProgress := r.progress(gctx)
	defer stopProgress()

	g.Go(func() error {
		defer close(batches)
		mp := &Mapper{Mapping: cfg.Mapping, SourceName: name, UserType: cfg.UserType}
		cur := pool.Get().(*batch)
		cur.reset()
		var scratch []byte
		send := func() error {
			if cur.n == 0 {
				return nil
			}
			cur.body = append(cur.body, ']')
			select {
			case batches <- cur:
			case <-gctx.Done():
				return context.Cause(gctx)
			}
			cur = pool.Get().(*batch)
			cur.reset()
			return nil
		}
		err := src.Each(gctx, func(rec *Record) error {
			if rec.Err != nil {
				r.c.read.Add(1)
				r.reject(rec.Loc, "importer", timesheets.ValidationError{{Message: rec.Err.Error()}})
				return nil
			}
			e, verrs := mp.Map(rec.Fields)
			if verrs == nil && outside(e.Period, cfg.From, cfg.To) {
				return nil // a file's entry outside --from/--to: not read
			}
			r.c.read.Add(1)
			if verrs != nil {
				r.reject(rec.Loc, "importer", verrs)
				return nil
			}
			r.c.valid.Add(1)
			if r.keys != nil {
				r.keys[e.Period] = append(r.keys[e.Period], e.ExternalID)
			}
			if e.SourceUpdatedAt != nil {
				r.newest = max(r.newest, e.SourceUpdatedAt.UnixNano())
			}
			scratch = appendEntry(scratch[:0], &e.Input)
			if cur.n > 0 && len(cur.body)+1+len(scratch)+1 > timesheets.MaxBatchBytes {
				if err := send(); err != nil {
					return err
				}
			}
			cur.add(scratch, rec.Loc, e.ExternalID)
			if cur.n >= cfg.BatchSize {
				return send()
			}
			return nil
		})
		if err != nil {
			return err
		}
		return send()
	})

	for range cfg.InFlight {
		g.Go(func() error {
			for b := range batches {
				r.c.batches.Add(1)
				if up == nil {
					r.log.Debug("dry run: would upload a batch", "entries", b.n, "bytes", len(b.body),
						"first", b.locs[0].String(), "last", b.locs[b.n-1].String())
				} else if err := r.upload(gctx, up, b); err != nil {
					return err
				}
				pool.Put(b)
			}
			return nil
		})
	}
	err := g.Wait()
	if err != nil && ctx.Err() != nil {
		// The deadline or a signal ended the run: say so rather than
		// whichever request noticed first.
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("the run deadline (--timeout %s) passed before every entry was uploaded; run again to upload the rest", cfg.Timeout)
		}
		return fmt.Errorf("interrupted; batches not acknowledged by the API are uploaded by the next run: %w", ctx.Err())
	}
	return err
}

// upload sends one batch and accounts for its results.
func (r *run) upload(ctx context.Context, up *Uploader, b *batch) error {
	res, err := up.Upload(ctx, b.body, b.n)
	if err != nil {
		if isFatal(err) {
			return err
		}
		r.log.Error("batch refused; its entries are not uploaded", "first", b.locs[0].String(), "last", b.locs[b.n-1].String(),
			"entries", b.n, "error", err.Error())
		return nil
	}
	r.c.created.Add(int64(res.Created))
	// A stale entry is one the API has in a newer version: nothing to
	// write, as for a duplicate.
	r.c.duplicates.Add(int64(res.Duplicates + res.Stale))
	r.c.updated.Add(int64(res.Updated))
	for _, it := range res.Results {
		if it.Index < 0 || it.Index >= b.n {
			continue
		}
		switch it.Status {
		case timesheets.BatchRejected:
			r.apiRejected.Add(1)
			r.reject(b.locs[it.Index], "api", it.Errors)
		case timesheets.BatchConflict:
			r.uploadConflicts.Add(1)
			r.conflict(b.locs[it.Index].String(), b.keys[it.Index], it.Reason, it.Message)
		case timesheets.BatchUpdated:
			r.log.Debug("entry updated", "at", b.locs[it.Index].String(), "external_id", b.keys[it.Index], "id", it.ID, "revision", it.Revision)
		}
	}
	return nil
}

// reject counts a rejected entry and reports where it came from and why.
func (r *run) reject(loc Location, by string, errs timesheets.ValidationError) {
	r.c.rejected.Add(1)
	if r.listed.Add(1) > int64(r.cfg.ReportLimit) {
		r.unlisted.Add(1)
		return
	}
	r.log.Warn("entry rejected", "at", loc.String(), "rejected_by", by, "reason", errs.Error())
}

// progress logs the figures every ProgressInterval until stopped.
func (r *run) progress(ctx context.Context) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(r.cfg.ProgressInterval)
		defer t.Stop()
		start := time.Now()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case now := <-t.C:
				s := r.c.summary()
				el := now.Sub(start).Seconds()
				r.log.Info("progress", "read", s.Read, "created", s.Created, "duplicates", s.Duplicates,
					"updated", s.Updated, "conflicts", s.Conflicts, "rejected", s.Rejected, "retries", s.Retries, "batches", s.Batches,
					"entries_per_second", float64(s.Read)/el)
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// finish logs the summary and pushes the metrics.
func (r *run) finish(ctx context.Context, s *Summary) {
	attrs := s.LogAttrs()
	switch {
	case s.Err != nil:
		r.log.Error("import stopped", append(attrs, "error", s.Err.Error())...)
	case !s.OK():
		r.log.Warn("import finished with entries not stored", attrs...)
	default:
		r.log.Info("import finished", attrs...)
	}
	if r.cfg.PushgatewayURL == "" || r.cfg.DryRun {
		return
	}
	var ce ConfigError
	if errors.As(s.Err, &ce) && r.cfg.validate() != nil {
		return // the push settings themselves may be what is wrong
	}
	if err := PushMetrics(ctx, r.cfg.HTTPClient, r.cfg.PushgatewayURL, r.cfg.PushJob, *s, time.Now()); err != nil {
		r.log.Error("pushing metrics failed", "error", err.Error())
		return
	}
	r.log.Info("metrics pushed", "pushgateway", r.cfg.PushgatewayURL, "job", r.cfg.PushJob)
}

// dpopKey is the run's DPoP key: the credentials directory's dpop-key.pem,
// or a new key (--dpop-alg, default ES256) that lives as long as the run
// (and its tokens).
func (r *run) dpopKey() (*DPoP, error) {
	key, found, err := ReadDPoPKey(r.cfg.CredentialsDir, r.cfg.Redact)
	if err != nil {
		return nil, err
	}
	from := filepath.Join(r.cfg.CredentialsDir, DPoPKeyFile)
	alg := r.cfg.DPoPAlg
	switch {
	case !found:
		if alg == "" {
			alg = DefaultDPoPAlg
		}
		if key, err = dpop.NewKey(alg); err != nil {
			return nil, err
		}
		from = "generated for this run"
	case alg != "" && key.Alg() != alg:
		return nil, ConfigError{fmt.Errorf("--dpop-alg %s, but %s is a key for %s; drop one", alg, from, key.Alg())}
	}
	r.log.Info("DPoP: tokens are bound to a key, and every call proves it", "jkt", key.Thumbprint(), "alg", key.Alg(), "key", from)
	return NewDPoP(key), nil
}

// redactURL hides user info in a URL-shaped --source for logs.
func redactURL(s string) string {
	if i := strings.Index(s, "://"); i > 0 {
		if at := strings.IndexByte(s[i+3:], '@'); at >= 0 && !strings.ContainsAny(s[i+3:i+3+at], "/?#") {
			return s[:i+3] + "[REDACTED]@" + s[i+3+at+1:]
		}
	}
	return s
}
