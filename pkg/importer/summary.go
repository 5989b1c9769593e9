package importer

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// Summary is what a run did. Read = Created + Duplicates + Updated +
// Conflicts + Rejected + Failed (in a dry run, Read = Valid + Rejected);
// Deleted counts what a prune deleted, records the source no longer has.
type Summary struct {
	Read  int64 // records read from the source
	Valid int64 // records that mapped to a valid entry
	// Created, Duplicates and Updated are the entries the API stored anew,
	// already had (or had in a newer version: nothing to write), and
	// changed to the source's version.
	Created, Duplicates, Updated int64
	Deleted                      int64 // entries a prune deleted
	// Conflicts are entries the API could not change: approved (locked),
	// or of a key another client owns; a prune's approved entries kept.
	Conflicts int64
	Rejected  int64 // invalid entries, refused by the importer or the API
	Failed    int64 // valid entries not uploaded (the run stopped, or their batch was refused)
	Retries   int64 // upload or page requests repeated
	Batches   int64 // batches uploaded (or, in a dry run, that would be)
	Duration  time.Duration
	DryRun    bool
	Err       error // why the run stopped early, if it did
}

// OK reports whether every entry is stored as the source has it (or, in a
// dry run, valid).
func (s Summary) OK() bool {
	return s.Err == nil && s.Rejected == 0 && s.Failed == 0 && s.Conflicts == 0
}

// Exit codes of cmd/importer.
const (
	ExitOK     = 0 // every entry created, already present, updated or deleted
	ExitFailed = 1 // entries in conflict, rejected or not uploaded
	ExitConfig = 2 // a configuration mistake; the message says what to fix
)

// ExitCode maps a summary to the command's exit status.
func (s Summary) ExitCode() int {
	var ce ConfigError
	switch {
	case errors.As(s.Err, &ce):
		return ExitConfig
	case !s.OK():
		return ExitFailed
	}
	return ExitOK
}

// Line is the one-line summary printed at the end of a run.
func (s Summary) Line() string {
	if s.DryRun {
		return fmt.Sprintf("dry run: read=%d valid=%d rejected=%d batches=%d seconds=%.3f (nothing uploaded)",
			s.Read, s.Valid, s.Rejected, s.Batches, s.Duration.Seconds())
	}
	return fmt.Sprintf("read=%d created=%d duplicates=%d updated=%d deleted=%d conflicts=%d rejected=%d failed=%d retries=%d seconds=%.3f",
		s.Read, s.Created, s.Duplicates, s.Updated, s.Deleted, s.Conflicts, s.Rejected, s.Failed, s.Retries, s.Duration.Seconds())
}

// LogAttrs are the summary's figures for a structured log record.
func (s Summary) LogAttrs() []any {
	return []any{
		slog.Int64("read", s.Read), slog.Int64("valid", s.Valid), slog.Int64("created", s.Created),
		slog.Int64("duplicates", s.Duplicates), slog.Int64("updated", s.Updated), slog.Int64("deleted", s.Deleted),
		slog.Int64("conflicts", s.Conflicts), slog.Int64("rejected", s.Rejected), slog.Int64("failed", s.Failed),
		slog.Int64("retries", s.Retries), slog.Int64("batches", s.Batches),
		slog.Float64("seconds", s.Duration.Seconds()), slog.Bool("dry_run", s.DryRun),
	}
}

// counters are the live figures of a run, shared by its goroutines.
type counters struct {
	read, valid, created, duplicates, updated, deleted, conflicts, rejected, failed, retries, batches atomic.Int64
}

func (c *counters) summary() Summary {
	return Summary{
		Read: c.read.Load(), Valid: c.valid.Load(), Created: c.created.Load(), Duplicates: c.duplicates.Load(),
		Updated: c.updated.Load(), Deleted: c.deleted.Load(), Conflicts: c.conflicts.Load(),
		Rejected: c.rejected.Load(), Failed: c.failed.Load(), Retries: c.retries.Load(), Batches: c.batches.Load(),
	}
}
