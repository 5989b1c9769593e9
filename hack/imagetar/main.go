// Command imagetar builds a single-layer container image from files on the
// host and writes it as a docker-archive tarball (manifest.json, the config
// JSON and one layer), the format `ctr -n k8s.io images import` and
// `docker load` accept. No engine, registry or network is involved.
//
//	go run ./hack/imagetar --tag registry.k8s.io/pause:3.6 --out pause.tar \
//	    --entrypoint /pause --user 65532:65532 --file /pause=bin/pause:0755
//
// Every file is owned by uid/gid 0 and gets the given octal mode (default: the
// host file's permission bits); its parent directories are added with mode
// 0755, and an empty /tmp with mode 1777 is always present. Timestamps are
// fixed, so the same inputs give the same image digest.
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// epoch is the modification and creation time of everything in the image.
var epoch = time.Unix(0, 0).UTC()

// fileSpec is one --file DEST=SRC[:MODE].
type fileSpec struct {
	dest, src string
	mode      int64 // -1: the source file's permission bits
}

// dirSpec is one --dir DEST[:MODE].
type dirSpec struct {
	dest string
	mode int64
}

type options struct {
	tags       []string
	out        string
	entrypoint []string
	cmd        []string
	user       string
	workdir    string
	env        []string
	labels     map[string]string
	files      []fileSpec
	dirs       []dirSpec
	arch       string
}

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "imagetar:", err)
		os.Exit(1)
	}
}

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("imagetar", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var tags, files, dirs, env, labels listFlag
	var o options
	var entrypoint, cmd string
	fs.Var(&tags, "tag", "image reference to tag the image with, e.g. timesheets:dev (repeatable, at least one)")
	fs.StringVar(&o.out, "out", "", "docker-archive tarball to write (required)")
	fs.StringVar(&entrypoint, "entrypoint", "", "entrypoint, split on spaces, e.g. '/api --dev'")
	fs.StringVar(&cmd, "cmd", "", "default arguments, split on spaces")
	fs.StringVar(&o.user, "user", "", "user[:group] the process runs as, e.g. 65532:65532")
	fs.StringVar(&o.workdir, "workdir", "", "working directory")
	fs.Var(&env, "env", "KEY=VALUE environment variable (repeatable)")
	fs.Var(&labels, "label", "KEY=VALUE image label (repeatable)")
	fs.Var(&files, "file", "DEST=SRC[:MODE]: host file SRC at absolute path DEST, octal MODE (repeatable)")
	fs.Var(&dirs, "dir", "DEST[:MODE]: an empty directory, default mode 0755 (repeatable)")
	fs.StringVar(&o.arch, "arch", runtime.GOARCH, "image architecture")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if len(tags) == 0 || o.out == "" {
		return errors.New("--tag and --out are required")
	}
	o.tags = tags
	o.entrypoint = strings.Fields(entrypoint)
	o.cmd = strings.Fields(cmd)
	o.env = env
	o.labels = map[string]string{}
	for _, l := range labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return fmt.Errorf("--label %q: want KEY=VALUE", l)
		}
		o.labels[k] = v
	}
	for _, e := range env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return fmt.Errorf("--env %q: want KEY=VALUE", e)
		}
	}
	for _, f := range files {
		spec, err := parseFile(f)
		if err != nil {
			return err
		}
		o.files = append(o.files, spec)
	}
	for _, d := range dirs {
		spec, err := parseDir(d)
		if err != nil {
			return err
		}
		o.dirs = append(o.dirs, spec)
	}
	return write(o)
}

// parseFile parses DEST=SRC[:MODE]; a trailing ":" plus octal digits is the mode.
func parseFile(s string) (fileSpec, error) {
	dest, src, ok := strings.Cut(s, "=")
	if !ok || src == "" {
		return fileSpec{}, fmt.Errorf("--file %q: want DEST=SRC[:MODE]", s)
	}
	spec := fileSpec{src: src, mode: -1}
	if i := strings.LastIndex(src, ":"); i >= 0 {
		if m, err := strconv.ParseInt(src[i+1:], 8, 32); err == nil {
			spec.src, spec.mode = src[:i], m
		}
	}
	var err error
	if spec.dest, err = cleanDest(dest); err != nil {
		return fileSpec{}, fmt.Errorf("--file %q: %w", s, err)
	}
	return spec, nil
}

func parseDir(s string) (dirSpec, error) {
	dest, mode, hasMode := strings.Cut(s, ":")
	spec := dirSpec{mode: 0o755}
	if hasMode {
		m, err := strconv.ParseInt(mode, 8, 32)
		if err != nil {
			return dirSpec{}, fmt.Errorf("--dir %q: mode must be octal", s)
		}
		spec.mode = m
	}
	var err error
	if spec.dest, err = cleanDest(dest); err != nil {
		return dirSpec{}, fmt.Errorf("--dir %q: %w", s, err)
	}
	return spec, nil
}

// cleanDest turns an absolute image path into a tar entry name ("/a/b" -> "a/b").
func cleanDest(dest string) (string, error) {
	if !strings.HasPrefix(dest, "/") {
		return "", errors.New("destination must be an absolute path")
	}
	p := strings.TrimPrefix(path.Clean(dest), "/")
	if p == "" {
		return "", errors.New("destination must not be /")
	}
	return p, nil
}

// write builds the image and writes it to o.out through a temporary file.
func write(o options) error {
	layerTar, err := layer(o)
	if err != nil {
		return err
	}
	img, err := image(o, layerTar)
	if err != nil {
		return err
	}
	refs := map[name.Reference]v1.Image{}
	for _, t := range o.tags {
		tag, err := name.NewTag(t)
		if err != nil {
			return fmt.Errorf("--tag %q: %w", t, err)
		}
		refs[tag] = img
	}
	tmp, err := os.CreateTemp(path.Dir(o.out), ".imagetar-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tarball.MultiRefWrite(refs, tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), o.out)
}

// image returns the image with the one layer and the runtime configuration.
func image(o options, layerTar []byte) (v1.Image, error) {
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer:   l,
		History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "hack/imagetar"},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", o.arch
	cf.Created = v1.Time{Time: epoch}
	cf.Config.Entrypoint = o.entrypoint
	cf.Config.Cmd = o.cmd
	cf.Config.User = o.user
	cf.Config.WorkingDir = o.workdir
	cf.Config.Env = o.env
	if len(o.labels) > 0 {
		cf.Config.Labels = o.labels
	}
	return mutate.ConfigFile(img, cf)
}

// layer returns the uncompressed layer tar: directories first (parents before
// children), then files, each in name order.
func layer(o options) ([]byte, error) {
	dirs := map[string]int64{"tmp": 0o1777}
	addParents := func(p string) {
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if _, ok := dirs[d]; !ok {
				dirs[d] = 0o755
			}
		}
	}
	for _, d := range o.dirs {
		addParents(d.dest)
		dirs[d.dest] = d.mode
	}
	seen := map[string]bool{}
	for _, f := range o.files {
		if seen[f.dest] {
			return nil, fmt.Errorf("--file /%s given twice", f.dest)
		}
		if _, ok := dirs[f.dest]; ok {
			return nil, fmt.Errorf("/%s is both a file and a directory", f.dest)
		}
		seen[f.dest] = true
		addParents(f.dest)
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirNames := make([]string, 0, len(dirs))
	for d := range dirs {
		dirNames = append(dirNames, d)
	}
	sort.Strings(dirNames) // "a" sorts before "a/b"
	for _, d := range dirNames {
		if seen[d] {
			return nil, fmt.Errorf("/%s is both a file and a directory", d)
		}
		if err := tw.WriteHeader(header(d+"/", tar.TypeDir, dirs[d], 0)); err != nil {
			return nil, err
		}
	}
	files := append([]fileSpec(nil), o.files...)
	sort.Slice(files, func(i, j int) bool { return files[i].dest < files[j].dest })
	for _, f := range files {
		if err := addFile(tw, f); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func addFile(tw *tar.Writer, f fileSpec) error {
	in, err := os.Open(f.src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", f.src)
	}
	mode := f.mode
	if mode < 0 {
		mode = int64(st.Mode().Perm())
	}
	if err := tw.WriteHeader(header(f.dest, tar.TypeReg, mode, st.Size())); err != nil {
		return err
	}
	if _, err := io.Copy(tw, in); err != nil {
		return fmt.Errorf("%s: %w", f.src, err)
	}
	return nil
}

func header(name string, typ byte, mode, size int64) *tar.Header {
	return &tar.Header{
		Typeflag: typ,
		Name:     name,
		Mode:     mode,
		Size:     size,
		ModTime:  epoch,
		Format:   tar.FormatPAX,
	}
}
