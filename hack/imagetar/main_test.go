package main

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func TestRunWritesLoadableImage(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "hello")
	if err := os.WriteFile(src, []byte("hello, image\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "image.tar")
	err := run([]string{
		"--tag", "registry.k8s.io/pause:3.6",
		"--out", out,
		"--entrypoint", "/bin/hello --loud",
		"--user", "65532:65532",
		"--workdir", "/work",
		"--env", "A=b",
		"--file", "/bin/hello=" + src + ":0755",
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}

	// The tag, as ctr and docker load read it from manifest.json.
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(out) })
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 || !slices.Equal(m[0].RepoTags, []string{"registry.k8s.io/pause:3.6"}) {
		t.Fatalf("manifest.json = %+v, want one image tagged registry.k8s.io/pause:3.6", m)
	}

	tag, err := name.NewTag("registry.k8s.io/pause:3.6")
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if !slices.Equal(c.Entrypoint, []string{"/bin/hello", "--loud"}) || c.User != "65532:65532" ||
		c.WorkingDir != "/work" || !slices.Equal(c.Env, []string{"A=b"}) || cf.OS != "linux" {
		t.Errorf("config = %+v (os %q), want entrypoint [/bin/hello --loud], user 65532:65532, workdir /work, env [A=b], os linux", c, cf.OS)
	}

	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	type entry struct {
		mode     int64
		uid, gid int
		content  string
	}
	got := map[string]entry{}
	var order []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		got[h.Name] = entry{h.Mode, h.Uid, h.Gid, string(b)}
		order = append(order, h.Name)
	}
	want := map[string]entry{
		"bin/":      {mode: 0o755},
		"tmp/":      {mode: 0o1777},
		"bin/hello": {mode: 0o755, content: "hello, image\n"},
	}
	for n, w := range want {
		if g, ok := got[n]; !ok || g != w {
			t.Errorf("layer entry %q = %+v (present %v), want %+v", n, g, ok, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("layer entries %q, want exactly %d", order, len(want))
	}
	if slices.Index(order, "bin/") > slices.Index(order, "bin/hello") {
		t.Errorf("layer order %q: a directory must come before its files", order)
	}
}

func TestParseFileMode(t *testing.T) {
	for _, tc := range []struct {
		in        string
		dest, src string
		mode      int64
	}{
		{"/pause=/x/pause", "pause", "/x/pause", -1},
		{"/pause=/x/pause:0555", "pause", "/x/pause", 0o555},
		{"/etc/a=/x/a:b", "etc/a", "/x/a:b", -1},
	} {
		got, err := parseFile(tc.in)
		if err != nil || got.dest != tc.dest || got.src != tc.src || got.mode != tc.mode {
			t.Errorf("parseFile(%q) = %+v, %v; want {%s %s %o}", tc.in, got, err, tc.dest, tc.src, tc.mode)
		}
	}
	for _, bad := range []string{"pause=/x", "/=/x", "/pause", "/pause="} {
		if _, err := parseFile(bad); err == nil {
			t.Errorf("parseFile(%q) succeeded, want an error", bad)
		}
	}
}
