package install

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"netplumb.dev/node/internal/atomicfile"
	"netplumb.dev/node/internal/shim"
)

// Names inside the CNI bin dir and the source dir.
const (
	ShimName  = "netplumb-cni-shim" // the shim binary in the source dir and in the private dir
	StateFile = "installed.json"    // in the private dir: what install placed, with checksums
	lockFile  = "lock"
	tmpPrefix = ".netplumb-tmp-"
)

// Options say what to install where.
type Options struct {
	Src      string   // directory holding the plugins and ManifestName
	BinDir   string   // the node's CNI bin dir
	Plugins  []string // plugins to install; empty: every file in the manifest but the shim
	Shim     bool     // put the shim in front of each plugin (the real one goes to BinDir/.netplumb/)
	StateDir string   // with Shim: the node's state directory, linked as BinDir/.netplumb/state
	Force    bool     // replace files in BinDir that install did not put there
	Log      io.Writer
}

// Action is what happened to one file.
type Action string

// Actions.
const (
	Installed Action = "installed" // file was absent
	Updated   Action = "updated"   // install's own older file replaced
	Replaced  Action = "replaced"  // someone else's file replaced (--force)
	Unchanged Action = "unchanged" // already the wanted content
	LeftAlone Action = "left alone"
	Removed   Action = "removed"
)

// Change is one line of the report.
type Change struct {
	Path   string // relative to BinDir
	Action Action
	Note   string
}

// state records the files install placed, so it never mistakes someone else's file for its own.
type state struct {
	Version int              `json:"version"`
	Files   map[string]owned `json:"files"` // path relative to BinDir
}

type owned struct {
	SHA256 string `json:"sha256"`
	Role   string `json:"role"` // "plugin" or "shim"
}

// Run installs. It verifies every source file against the manifest before it writes anything:
// one mismatch and nothing is installed.
func Run(o Options) ([]Change, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	manifest, err := ReadManifest(filepath.Join(o.Src, ManifestName))
	if err != nil {
		return nil, err
	}
	plugins, err := selectPlugins(manifest, o.Plugins)
	if err != nil {
		return nil, err
	}
	verify := slices.Clone(plugins)
	if o.Shim {
		if _, ok := manifest[ShimName]; !ok {
			return nil, fmt.Errorf("%s: the shim %s is not listed", filepath.Join(o.Src, ManifestName), ShimName)
		}
		verify = append(verify, ShimName)
	}
	if err := verifySources(o.Src, manifest, verify); err != nil {
		return nil, err
	}

	private := filepath.Join(o.BinDir, shim.PrivateDir)
	if err := os.MkdirAll(private, 0o755); err != nil {
		return nil, err
	}
	unlock, err := lock(filepath.Join(private, lockFile))
	if err != nil {
		return nil, err
	}
	defer unlock()
	removeStaleTemps(o.BinDir)
	removeStaleTemps(private)

	in := &installer{o: o, manifest: manifest, private: private}
	if err := in.loadState(); err != nil {
		return nil, err
	}
	err = in.run(plugins)
	if serr := in.saveState(); err == nil {
		err = serr
	}
	counts := map[Action]int{}
	for _, c := range in.changes {
		counts[c.Action]++
		line := fmt.Sprintf("%-10s %s", c.Action, c.Path)
		if c.Note != "" {
			line += " (" + c.Note + ")"
		}
		fmt.Fprintln(o.Log, line)
	}
	var summary []string
	for _, a := range []Action{Installed, Updated, Replaced, Removed, Unchanged, LeftAlone} {
		if counts[a] > 0 {
			summary = append(summary, fmt.Sprintf("%d %s", counts[a], a))
		}
	}
	fmt.Fprintf(o.Log, "%s: %s\n", o.BinDir, strings.Join(summary, ", "))
	return in.changes, err
}

func selectPlugins(m Manifest, want []string) ([]string, error) {
	if len(want) == 0 {
		var all []string
		for name := range m {
			if name != ShimName {
				all = append(all, name)
			}
		}
		slices.Sort(all)
		return all, nil
	}
	var out []string
	for _, name := range want {
		if _, ok := m[name]; !ok || name == ShimName {
			return nil, fmt.Errorf("plugin %q is not in the manifest", name)
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

func verifySources(src string, m Manifest, names []string) error {
	var bad []string
	for _, name := range names {
		sum, err := FileSHA256(filepath.Join(src, name))
		switch {
		case err != nil:
			bad = append(bad, fmt.Sprintf("%s: %v", name, err))
		case sum != m[name]:
			bad = append(bad, fmt.Sprintf("%s: sha256 %s, manifest says %s", name, sum, m[name]))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("refusing to install, checksums do not match:\n  %s", strings.Join(bad, "\n  "))
	}
	return nil
}

type installer struct {
	o        Options
	manifest Manifest
	private  string
	st       state
	saved    []byte
	changes  []Change
}

func (in *installer) note(path string, a Action, format string, args ...any) {
	c := Change{Path: path, Action: a}
	if format != "" {
		c.Note = fmt.Sprintf(format, args...)
	}
	in.changes = append(in.changes, c)
}

func (in *installer) run(plugins []string) error {
	privRel := func(name string) string { return shim.PrivateDir + "/" + name }
	if in.o.Shim {
		if err := in.placeCopy(privRel(ShimName), ShimName, "shim"); err != nil {
			return err
		}
		if err := in.placeStateLink(); err != nil {
			return err
		}
	}
	for _, name := range plugins {
		want := in.manifest[name]
		role := "plugin"
		if in.o.Shim {
			want, role = in.manifest[ShimName], "shim"
		}
		ok, err := in.mayWrite(name, want)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if in.o.Shim {
			// the real plugin first: the shim must find it the moment it appears
			if err := in.placeCopy(privRel(name), name, "plugin"); err != nil {
				return err
			}
			if err := in.placeLink(name, privRel(ShimName)); err != nil {
				return err
			}
			continue
		}
		if err := in.placeCopy(name, name, role); err != nil {
			return err
		}
		if _, mine := in.st.Files[privRel(name)]; mine {
			if err := os.Remove(filepath.Join(in.o.BinDir, privRel(name))); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			delete(in.st.Files, privRel(name))
			in.note(privRel(name), Removed, "plugin installed without the shim")
		}
	}
	return nil
}

// mayWrite decides about a file in the bin dir: true when it is absent, ours, already the
// wanted content, or --force is given. A file someone else put there is left alone.
func (in *installer) mayWrite(rel, want string) (bool, error) {
	cur, err := FileSHA256(filepath.Join(in.o.BinDir, rel))
	if errors.Is(err, os.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if rec, mine := in.st.Files[rel]; mine && rec.SHA256 == cur {
		return true, nil
	}
	if cur == want {
		in.note(rel, Unchanged, "identical file not installed by netplumb; left as it is")
		return false, nil
	}
	if in.o.Force {
		return true, nil
	}
	in.note(rel, LeftAlone, "not installed by netplumb (sha256 %s); --force replaces it", cur[:12])
	return false, nil
}

// placeCopy makes BinDir/rel a copy of Src/srcName, atomically: temp file in the same
// directory, checksum of the bytes written compared with the manifest, fsync, rename.
func (in *installer) placeCopy(rel, srcName, role string) error {
	want := in.manifest[srcName]
	target := filepath.Join(in.o.BinDir, rel)
	prev, action := in.previous(rel, want)
	if action == Unchanged {
		in.own(rel, want, role)
		in.note(rel, Unchanged, "")
		return nil
	}
	src, err := os.Open(filepath.Join(in.o.Src, srcName))
	if err != nil {
		return err
	}
	defer src.Close()
	err = atomicfile.Write(target, tmpPrefix, 0o755, func(w io.Writer) error {
		h := sha256.New()
		if _, err := io.Copy(io.MultiWriter(w, h), src); err != nil {
			return err
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != want {
			return fmt.Errorf("refusing to install %s: %s changed while copying (sha256 %s, manifest says %s)",
				rel, srcName, got, want)
		}
		return nil
	})
	if err != nil {
		return err
	}
	in.own(rel, want, role)
	in.note(rel, action, "%s sha256 %s%s", role, want[:12], prev)
	return nil
}

// placeLink makes BinDir/rel a hard link to BinDir/masterRel (the shim), atomically: a temp
// link in the same directory renamed into place.
func (in *installer) placeLink(rel, masterRel string) error {
	want := in.manifest[ShimName]
	target := filepath.Join(in.o.BinDir, rel)
	prev, action := in.previous(rel, want)
	if action == Unchanged {
		in.own(rel, want, "shim")
		in.note(rel, Unchanged, "")
		return nil
	}
	dir := filepath.Dir(target)
	tmp := filepath.Join(dir, tmpPrefix+filepath.Base(rel)+"-link")
	_ = os.Remove(tmp)
	if err := os.Link(filepath.Join(in.o.BinDir, masterRel), tmp); err != nil {
		// no hard links here: fall back to a copy
		return in.placeCopy(rel, ShimName, "shim")
	}
	if err := os.Rename(tmp, target); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := atomicfile.SyncDir(dir); err != nil {
		return err
	}
	in.own(rel, want, "shim")
	in.note(rel, action, "shim for %s%s", rel, prev)
	return nil
}

// previous classifies what is at rel before writing.
func (in *installer) previous(rel, want string) (string, Action) {
	cur, err := FileSHA256(filepath.Join(in.o.BinDir, rel))
	switch {
	case err != nil:
		return "", Installed
	case cur == want:
		return "", Unchanged
	}
	if rec, mine := in.st.Files[rel]; mine && rec.SHA256 == cur {
		return ", was " + cur[:12], Updated
	}
	return ", was someone else's " + cur[:12], Replaced
}

func (in *installer) own(rel, sum, role string) {
	in.st.Files[rel] = owned{SHA256: sum, Role: role}
}

// placeStateLink points BinDir/.netplumb/state at the node's state directory.
func (in *installer) placeStateLink() error {
	link := filepath.Join(in.private, shim.StateLink)
	if cur, err := os.Readlink(link); err == nil && cur == in.o.StateDir {
		in.note(shim.PrivateDir+"/"+shim.StateLink, Unchanged, "")
		return nil
	}
	tmp := filepath.Join(in.private, tmpPrefix+"state-link")
	_ = os.Remove(tmp)
	if err := os.Symlink(in.o.StateDir, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, link); err != nil {
		os.Remove(tmp)
		return err
	}
	in.note(shim.PrivateDir+"/"+shim.StateLink, Installed, "-> %s", in.o.StateDir)
	return atomicfile.SyncDir(in.private)
}

func (in *installer) loadState() error {
	in.st = state{Version: 1, Files: map[string]owned{}}
	body, err := os.ReadFile(filepath.Join(in.private, StateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, &in.st); err != nil {
		return fmt.Errorf("%s: %v (remove it to start over; files in the bin dir then count as foreign)",
			filepath.Join(in.private, StateFile), err)
	}
	if in.st.Files == nil {
		in.st.Files = map[string]owned{}
	}
	in.saved = body
	return nil
}

func (in *installer) saveState() error {
	body, err := json.MarshalIndent(in.st, "", " ")
	if err != nil {
		return err
	}
	body = append(body, '\n')
	if bytes.Equal(body, in.saved) {
		return nil
	}
	if err := atomicfile.WriteBytes(filepath.Join(in.private, StateFile), tmpPrefix, 0o600, body); err != nil {
		return err
	}
	in.saved = body
	return nil
}

// lock takes an exclusive flock on path (two installs on one node wait for each other).
func lock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// removeStaleTemps deletes temp files an interrupted install left (never a visible name).
func removeStaleTemps(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
