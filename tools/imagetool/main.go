// Command imagetool builds a single-layer OCI image from files on this host and writes it
// as an image tarball (the `docker save` layout) that `ctr images import` reads.
//
// Usage:
//
//	imagetool build -spec spec.json -out image.tar
//
// The spec (JSON) names the references the image is tagged with, its config (entrypoint,
// cmd, env, working dir, labels, user) and every entry of its one layer: regular files
// copied from host paths, directories and symbolic links. Parent directories that are not
// listed are added with mode 0755. The layer is written in path order with zero
// timestamps and root ownership, and the config carries no creation time, so the same
// spec and the same input files always give the same image digest. On success the tool
// prints the image's config digest (the image ID containerd reports) and manifest digest
// as JSON.
package main

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Entry is one path in the image's layer.
type Entry struct {
	// Path is absolute inside the image.
	Path string `json:"path"`
	// Type is "file", "dir" or "symlink".
	Type string `json:"type"`
	// Source is the host file a "file" entry is copied from.
	Source string `json:"source,omitempty"`
	// Target is where a "symlink" entry points.
	Target string `json:"target,omitempty"`
	// Mode holds the permission bits (and sticky bit); 0 means 0644 for files, 0755 for dirs.
	Mode uint32 `json:"mode,omitempty"`
}

// Spec describes one image.
type Spec struct {
	Refs       []string          `json:"refs"`
	Entrypoint []string          `json:"entrypoint,omitempty"`
	Cmd        []string          `json:"cmd,omitempty"`
	Env        []string          `json:"env,omitempty"`
	WorkingDir string            `json:"workingDir,omitempty"`
	User       string            `json:"user,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	Entries    []Entry           `json:"entries"`
}

// Result is what a successful build prints.
type Result struct {
	Config   string   `json:"config"`
	Manifest string   `json:"manifest"`
	Refs     []string `json:"refs"`
	Size     int64    `json:"size"`
}

func main() {
	if len(os.Args) < 2 || os.Args[1] != "build" {
		fmt.Fprintln(os.Stderr, "usage: imagetool build -spec spec.json -out image.tar")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("build", flag.ExitOnError)
	specPath := fs.String("spec", "", "image spec (JSON)")
	out := fs.String("out", "", "image tarball to write")
	_ = fs.Parse(os.Args[2:])
	if *specPath == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "imagetool build: -spec and -out are required")
		os.Exit(2)
	}
	res, err := build(*specPath, *out)
	if err != nil {
		fmt.Fprintf(os.Stderr, "imagetool: %v\n", err)
		os.Exit(1)
	}
	_ = json.NewEncoder(os.Stdout).Encode(res)
}

func readSpec(p string) (*Spec, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var s Spec
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if len(s.Refs) == 0 {
		return nil, fmt.Errorf("%s: no refs", p)
	}
	return &s, nil
}

func build(specPath, out string) (*Result, error) {
	spec, err := readSpec(specPath)
	if err != nil {
		return nil, err
	}
	entries, err := normalise(spec.Entries)
	if err != nil {
		return nil, err
	}
	layerFile, err := os.CreateTemp(path.Dir(out), ".layer-*.tar")
	if err != nil {
		return nil, err
	}
	defer os.Remove(layerFile.Name())
	if err := writeLayer(layerFile, entries); err != nil {
		layerFile.Close()
		return nil, err
	}
	if err := layerFile.Close(); err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromFile(layerFile.Name(), tarball.WithCompressionLevel(gzip.BestSpeed))
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS = "linux"
	cf.Architecture = runtime.GOARCH
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cf.Config.Entrypoint = spec.Entrypoint
	cf.Config.Cmd = spec.Cmd
	cf.Config.Env = spec.Env
	cf.Config.WorkingDir = spec.WorkingDir
	cf.Config.User = spec.User
	cf.Config.Labels = spec.Labels
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	refs := map[name.Reference]v1.Image{}
	for _, r := range spec.Refs {
		tag, err := name.NewTag(r, name.StrictValidation)
		if err != nil {
			return nil, fmt.Errorf("ref %q: %w", r, err)
		}
		refs[tag] = img
	}
	tmp := out + ".tmp"
	if err := tarball.MultiRefWriteToFile(tmp, refs); err != nil {
		os.Remove(tmp)
		return nil, err
	}
	if err := os.Rename(tmp, out); err != nil {
		return nil, err
	}
	cfgDigest, err := img.ConfigName()
	if err != nil {
		return nil, err
	}
	manDigest, err := img.Digest()
	if err != nil {
		return nil, err
	}
	size, err := img.Size()
	if err != nil {
		return nil, err
	}
	return &Result{Config: cfgDigest.String(), Manifest: manDigest.String(), Refs: spec.Refs, Size: size}, nil
}

// normalise checks the entries, adds missing parent directories and sorts by path.
func normalise(in []Entry) ([]Entry, error) {
	byPath := map[string]Entry{}
	for _, e := range in {
		if !path.IsAbs(e.Path) || path.Clean(e.Path) != e.Path || e.Path == "/" {
			return nil, fmt.Errorf("entry path %q: expected a clean absolute path below /", e.Path)
		}
		switch e.Type {
		case "file":
			if e.Source == "" {
				return nil, fmt.Errorf("%s: a file entry needs a source", e.Path)
			}
		case "dir":
		case "symlink":
			if e.Target == "" {
				return nil, fmt.Errorf("%s: a symlink entry needs a target", e.Path)
			}
		default:
			return nil, fmt.Errorf("%s: unknown entry type %q (file, dir, symlink)", e.Path, e.Type)
		}
		if prev, ok := byPath[e.Path]; ok && prev != e {
			return nil, fmt.Errorf("%s: listed twice with different contents", e.Path)
		}
		byPath[e.Path] = e
	}
	for p := range byPath {
		for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
			if prev, ok := byPath[dir]; ok {
				if prev.Type != "dir" {
					return nil, fmt.Errorf("%s: its parent %s is a %s", p, dir, prev.Type)
				}
				continue
			}
			byPath[dir] = Entry{Path: dir, Type: "dir"}
		}
	}
	out := make([]Entry, 0, len(byPath))
	for _, e := range byPath {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func writeLayer(w io.Writer, entries []Entry) error {
	tw := tar.NewWriter(w)
	epoch := time.Unix(0, 0).UTC()
	for _, e := range entries {
		hdr := &tar.Header{
			Name:    strings.TrimPrefix(e.Path, "/"),
			ModTime: epoch,
			Format:  tar.FormatPAX,
		}
		switch e.Type {
		case "dir":
			hdr.Typeflag = tar.TypeDir
			hdr.Name += "/"
			hdr.Mode = int64(orDefault(e.Mode, 0o755))
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
		case "symlink":
			hdr.Typeflag = tar.TypeSymlink
			hdr.Linkname = e.Target
			hdr.Mode = 0o777
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
		case "file":
			if err := writeFile(tw, hdr, e); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

func writeFile(tw *tar.Writer, hdr *tar.Header, e Entry) error {
	f, err := os.Open(e.Source)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: source %s is not a regular file", e.Path, e.Source)
	}
	hdr.Typeflag = tar.TypeReg
	hdr.Size = st.Size()
	hdr.Mode = int64(orDefault(e.Mode, 0o644))
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	n, err := io.Copy(tw, f)
	if err != nil {
		return err
	}
	if n != st.Size() {
		return errors.New(e.Source + ": changed while being read")
	}
	return nil
}

func orDefault(mode, def uint32) uint32 {
	if mode == 0 {
		return def
	}
	return mode
}
