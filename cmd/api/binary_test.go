package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/abc-inc/timesheets/pkg/store/pgtest"
)

// apiName is the name the test binary runs under when it stands for the
// api binary: the tests that need the real process run this test binary
// again, through a symlink of that name, and TestMain then runs main.
// Nothing is built: the test binary holds the api's code already, compiled
// with the package under test.
const apiName = "api"

var apiBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == apiName {
		main() // exits
	}
	code := m.Run()
	if apiBin.dir != "" {
		os.RemoveAll(apiBin.dir)
	}
	if err := pgtest.CloseShared(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
	}
	os.Exit(code)
}

// apiBinary returns the path of the api binary for subprocess tests: a
// symlink to this test binary, made once per run.
func apiBinary(t testing.TB) string {
	t.Helper()
	apiBin.once.Do(func() {
		self, err := os.Executable()
		if err != nil {
			apiBin.err = err
			return
		}
		if apiBin.dir, err = os.MkdirTemp("", "api-bin-"); err != nil {
			apiBin.err = err
			return
		}
		apiBin.path = filepath.Join(apiBin.dir, apiName)
		apiBin.err = os.Symlink(self, apiBin.path)
	})
	if apiBin.err != nil {
		t.Fatalf("api binary: %v", apiBin.err)
	}
	return apiBin.path
}
