package policy

import (
	"bytes"
	"context"
	"os"
	"time"
)

// WatchFile calls onChange with the newly compiled snapshot, or the error,
// for the file's content at the first poll and whenever it changes after.
// Reporting the first read too means an edit made between the caller's own
// load and the watch's start is never missed. It polls rather than using inotify:
// a mounted ConfigMap changes by a symlink swap that inotify watches miss.
func WatchFile(ctx context.Context, path string, interval time.Duration, onChange func(*Snapshot, error)) {
	var last []byte
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		data, err := os.ReadFile(path)
		if err != nil {
			if last != nil {
				onChange(nil, err) // reported once; the last good policy stays
				last = nil
			}
			continue
		}
		if bytes.Equal(data, last) {
			continue
		}
		last = data
		onChange(compileFile(path, data))
	}
}
