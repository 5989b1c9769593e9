package certfile

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/abc-inc/timesheets/pkg/devissuer"
)

// mount lays files out as the kubelet mounts a Secret: DIR/NAME is a
// symlink to ..data/NAME, and ..data to a timestamped directory that an
// update replaces in one rename.
func mount(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	ts, err := os.MkdirTemp(dir, "..ts-")
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(ts, name), b, 0o400); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(dir, name)
		if _, err := os.Lstat(link); os.IsNotExist(err) {
			if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
				t.Fatal(err)
			}
		}
	}
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
}

func pair(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	c, k, _, err := devissuer.ThrowawayCert("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return c, k
}

func serial(t *testing.T, c *tls.Certificate) string {
	t.Helper()
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf.SerialNumber.String()
}

func TestReloadsReplacedFiles(t *testing.T) {
	dir := t.TempDir()
	c1, k1 := pair(t)
	mount(t, dir, map[string][]byte{"tls.crt": c1, "tls.key": k1})
	r, err := New(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Now()
	r.now = func() time.Time { return clock }
	first, _ := r.GetCertificate(nil)

	c2, k2 := pair(t)
	mount(t, dir, map[string][]byte{"tls.crt": c2, "tls.key": k2})
	if got, _ := r.GetCertificate(nil); serial(t, got) != serial(t, first) {
		t.Fatal("files looked at again before CheckInterval")
	}
	clock = clock.Add(CheckInterval)
	second, _ := r.GetCertificate(nil)
	if serial(t, second) == serial(t, first) {
		t.Fatal("the replaced certificate was not loaded")
	}

	// A broken replacement (a key that does not match) keeps the last good one.
	_, k3 := pair(t)
	mount(t, dir, map[string][]byte{"tls.crt": c2, "tls.key": k3})
	clock = clock.Add(CheckInterval)
	if got, _ := r.GetCertificate(nil); serial(t, got) != serial(t, second) {
		t.Fatal("a broken replacement displaced the good certificate")
	}
}

func TestNewRefuses(t *testing.T) {
	dir := t.TempDir()
	c1, _ := pair(t)
	_, k2 := pair(t)
	mount(t, dir, map[string][]byte{"tls.crt": c1, "tls.key": k2})
	for name, files := range map[string][2]string{
		"missing file":      {filepath.Join(dir, "nope.crt"), filepath.Join(dir, "tls.key")},
		"key of other cert": {filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")},
	} {
		_, err := New(files[0], files[1], nil)
		if err == nil || !strings.Contains(err.Error(), "TLS") {
			t.Errorf("%s: New = %v, want an error naming TLS", name, err)
		}
	}
}
