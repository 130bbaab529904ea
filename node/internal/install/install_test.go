package install

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"netplumb.dev/node/internal/spool"
	"netplumb.dev/node/internal/testbin"
)

func TestMain(m *testing.M) { testbin.Main(m) }

type fixture struct {
	src, bin, state string
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	root := t.TempDir()
	f := fixture{src: filepath.Join(root, "src"), bin: filepath.Join(root, "bin"), state: filepath.Join(root, "state")}
	for _, d := range []string{f.src, f.bin, f.state} { // state: the DaemonSet's hostPath mount
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// put writes a source file and rewrites the manifest for every file in src.
func (f fixture) put(t *testing.T, name string, body []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(f.src, name), body, 0o755); err != nil {
		t.Fatal(err)
	}
	f.writeManifest(t)
}

func (f fixture) writeManifest(t *testing.T) {
	t.Helper()
	entries, err := os.ReadDir(f.src)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.Name() != ManifestName {
			names = append(names, e.Name())
		}
	}
	var buf bytes.Buffer
	if err := WriteManifest(f.src, names, &buf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.src, ManifestName), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (f fixture) opts() Options {
	return Options{Src: f.src, BinDir: f.bin, StateDir: f.state}
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func actions(changes []Change) map[string]Action {
	out := map[string]Action{}
	for _, c := range changes {
		out[c.Path] = c.Action
	}
	return out
}

func TestInstallPlainPlugins(t *testing.T) {
	f := newFixture(t)
	alpha, beta := randomBytes(t, 1<<20), randomBytes(t, 4096)
	f.put(t, "alpha", alpha)
	f.put(t, "beta", beta)
	changes, err := Run(f.opts())
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(changes); got["alpha"] != Installed || got["beta"] != Installed || len(got) != 2 {
		t.Fatalf("changes %v", changes)
	}
	for name, want := range map[string][]byte{"alpha": alpha, "beta": beta} {
		path := filepath.Join(f.bin, name)
		if !bytes.Equal(readFile(t, path), want) {
			t.Fatalf("%s content differs", name)
		}
		if st, _ := os.Stat(path); st.Mode().Perm() != 0o755 {
			t.Fatalf("%s mode %v", name, st.Mode())
		}
	}
	var st state
	if err := json.Unmarshal(readFile(t, filepath.Join(f.bin, ".netplumb", StateFile)), &st); err != nil {
		t.Fatal(err)
	}
	if st.Files["alpha"].SHA256 != sha(alpha) || st.Files["beta"].SHA256 != sha(beta) {
		t.Fatalf("state %+v", st)
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestChecksumMismatchInstallsNothing(t *testing.T) {
	f := newFixture(t)
	f.put(t, "alpha", []byte("alpha v1"))
	f.put(t, "beta", []byte("beta v1"))
	// the file changes after the manifest was written
	if err := os.WriteFile(filepath.Join(f.src, "beta"), []byte("tampered"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Run(f.opts())
	if err == nil || !strings.Contains(err.Error(), "beta") || !strings.Contains(err.Error(), "checksums do not match") {
		t.Fatalf("err = %v", err)
	}
	for _, name := range []string{"alpha", "beta"} {
		if _, err := os.Stat(filepath.Join(f.bin, name)); !os.IsNotExist(err) {
			t.Fatalf("%s was installed despite the mismatch (stat err %v)", name, err)
		}
	}
}

func TestManifestErrors(t *testing.T) {
	good := strings.Repeat("a", 64)
	for name, body := range map[string]string{
		"not sha256sum": "abc  alpha\n",
		"path":          good + "  ../alpha\n",
		"hidden":        good + "  .alpha\n",
		"duplicate":     good + "  alpha\n" + good + " *alpha\n",
		"empty":         "# nothing\n",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), ManifestName)
			if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := ReadManifest(path); err == nil {
				t.Fatalf("%q accepted", body)
			}
		})
	}
	path := filepath.Join(t.TempDir(), ManifestName)
	if err := os.WriteFile(path, []byte("# sums\n\n"+good+"  alpha\n"+good+" *beta\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := ReadManifest(path)
	if err != nil || m["alpha"] != good || m["beta"] != good || len(m) != 2 {
		t.Fatalf("%v %v", m, err)
	}
}

func TestForeignBinaryLeftAloneUnlessForced(t *testing.T) {
	f := newFixture(t)
	f.put(t, "alpha", []byte("ours"))
	foreign := filepath.Join(f.bin, "alpha")
	if err := os.WriteFile(foreign, []byte("theirs"), 0o755); err != nil {
		t.Fatal(err)
	}
	changes, err := Run(f.opts())
	if err != nil {
		t.Fatal(err)
	}
	if actions(changes)["alpha"] != LeftAlone || string(readFile(t, foreign)) != "theirs" {
		t.Fatalf("changes %v, content %q", changes, readFile(t, foreign))
	}
	o := f.opts()
	o.Force = true
	changes, err = Run(o)
	if err != nil {
		t.Fatal(err)
	}
	if actions(changes)["alpha"] != Replaced || string(readFile(t, foreign)) != "ours" {
		t.Fatalf("changes %v, content %q", changes, readFile(t, foreign))
	}
}

func TestOwnFileChangedBySomeoneElseCountsAsForeign(t *testing.T) {
	f := newFixture(t)
	f.put(t, "alpha", []byte("v1"))
	if _, err := Run(f.opts()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.bin, "alpha"), []byte("hand-patched"), 0o755); err != nil {
		t.Fatal(err)
	}
	f.put(t, "alpha", []byte("v2"))
	changes, err := Run(f.opts())
	if err != nil {
		t.Fatal(err)
	}
	if actions(changes)["alpha"] != LeftAlone || string(readFile(t, filepath.Join(f.bin, "alpha"))) != "hand-patched" {
		t.Fatalf("changes %v", changes)
	}
}

func TestUpdateOwnFile(t *testing.T) {
	f := newFixture(t)
	f.put(t, "alpha", []byte("v1"))
	if _, err := Run(f.opts()); err != nil {
		t.Fatal(err)
	}
	f.put(t, "alpha", []byte("v2"))
	changes, err := Run(f.opts())
	if err != nil {
		t.Fatal(err)
	}
	if actions(changes)["alpha"] != Updated || string(readFile(t, filepath.Join(f.bin, "alpha"))) != "v2" {
		t.Fatalf("changes %v", changes)
	}
}

// snapshot maps every path under dir to its mtime and inode.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.Name() == lockFile {
			return nil
		}
		ino := info.Sys().(*syscall.Stat_t).Ino
		out[path] = fmt.Sprintf("%d/%d", info.ModTime().UnixNano(), ino)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSecondRunChangesNothing(t *testing.T) {
	for _, withShim := range []bool{false, true} {
		t.Run(fmt.Sprintf("shim=%v", withShim), func(t *testing.T) {
			f := newFixture(t)
			f.put(t, "alpha", randomBytes(t, 1<<16))
			f.put(t, "beta", randomBytes(t, 1<<16))
			if withShim {
				f.put(t, ShimName, randomBytes(t, 1<<16))
			}
			o := f.opts()
			o.Shim = withShim
			if _, err := Run(o); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, f.bin)
			time.Sleep(20 * time.Millisecond) // a rewrite would show in the mtime
			changes, err := Run(o)
			if err != nil {
				t.Fatal(err)
			}
			want := 2 // alpha, beta
			if withShim {
				want = 2*2 + 2 // shim + private plugin each, the shim master, the state link
			}
			if len(changes) != want {
				t.Errorf("second run reported %d files, want %d: %+v", len(changes), want, changes)
			}
			for _, c := range changes {
				if c.Action != Unchanged {
					t.Errorf("second run: %+v", c)
				}
			}
			after := snapshot(t, f.bin)
			if fmt.Sprint(before) != fmt.Sprint(after) {
				t.Fatalf("second run touched files:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

func TestStaleTempsRemoved(t *testing.T) {
	f := newFixture(t)
	f.put(t, "alpha", []byte("v1"))
	stale := filepath.Join(f.bin, tmpPrefix+"alpha-123")
	if err := os.WriteFile(stale, []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(f.opts()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale temp still there (%v)", err)
	}
}

// watch reads path in a loop while during runs and returns how many reads it made and the
// first read that accept refused.
func watch(t *testing.T, path string, accept func([]byte) bool, during func()) (reads int64, bad string) {
	t.Helper()
	var stop atomic.Bool
	var n atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				b, err := os.ReadFile(path)
				n.Add(1)
				if err != nil || !accept(b) {
					mu.Lock()
					if bad == "" {
						if err != nil {
							bad = err.Error()
						} else {
							bad = fmt.Sprintf("%d bytes matching neither version", len(b))
						}
					}
					mu.Unlock()
				}
			}
		}()
	}
	during()
	stop.Store(true)
	wg.Wait()
	return n.Load(), bad
}

func TestReaderNeverSeesPartialBinary(t *testing.T) {
	f := newFixture(t)
	v1, v2 := randomBytes(t, 8<<20), randomBytes(t, 8<<20)
	f.put(t, "alpha", v1)
	if _, err := Run(f.opts()); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(f.bin, "alpha")
	accept := func(b []byte) bool { return bytes.Equal(b, v1) || bytes.Equal(b, v2) }
	replacements := 0
	reads, bad := watch(t, target, accept, func() {
		for i := 0; i < 6; i++ {
			next := v2
			if i%2 == 1 {
				next = v1
			}
			f.put(t, "alpha", next)
			changes, err := Run(f.opts())
			if err != nil {
				t.Error(err)
				return
			}
			if actions(changes)["alpha"] == Updated {
				replacements++
			}
		}
	})
	if bad != "" {
		t.Fatalf("a reader saw a partial binary: %s", bad)
	}
	if replacements != 6 || reads < 6 {
		t.Fatalf("%d replacements, %d reads: the test did not exercise anything", replacements, reads)
	}
	t.Logf("%d reads during %d replacements, all whole", reads, replacements)
}

// The same reader catches a writer that is not atomic: the check above can fail.
func TestReaderCatchesNonAtomicWriter(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "alpha")
	v1, v2 := randomBytes(t, 1<<20), randomBytes(t, 1<<20)
	if err := os.WriteFile(target, v1, 0o755); err != nil {
		t.Fatal(err)
	}
	accept := func(b []byte) bool { return bytes.Equal(b, v1) || bytes.Equal(b, v2) }
	_, bad := watch(t, target, accept, func() {
		w, err := os.OpenFile(target, os.O_WRONLY|os.O_TRUNC, 0o755)
		if err != nil {
			t.Error(err)
			return
		}
		defer w.Close()
		w.Write(v2[:len(v2)/2])
		time.Sleep(50 * time.Millisecond)
		w.Write(v2[len(v2)/2:])
	})
	if bad == "" {
		t.Fatal("a truncate-and-write replacement went unnoticed")
	}
}

func TestConcurrentInstallsSerialize(t *testing.T) {
	f := newFixture(t)
	f.put(t, "alpha", randomBytes(t, 1<<20))
	f.put(t, "beta", randomBytes(t, 1<<20))
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := Run(f.opts())
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	changes, err := Run(f.opts())
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 2 {
		t.Fatalf("after concurrent installs: %+v", changes)
	}
	for _, c := range changes {
		if c.Action != Unchanged {
			t.Fatalf("after concurrent installs: %+v", c)
		}
	}
}

// With the shim: the installed layout is the one the real shim expects, end to end.
func TestShimLayoutRunsThePlugin(t *testing.T) {
	f := newFixture(t)
	testbin.CopyFile(t, testbin.Build(t, testbin.Shim), filepath.Join(f.src, ShimName))
	testbin.CopyFile(t, testbin.Build(t, testbin.FakePlugin), filepath.Join(f.src, "fake"))
	f.writeManifest(t)
	o := f.opts()
	o.Shim = true
	changes, err := Run(o)
	if err != nil {
		t.Fatal(err)
	}
	got := actions(changes)
	for _, p := range []string{"fake", ".netplumb/fake", ".netplumb/" + ShimName, ".netplumb/state"} {
		if got[p] != Installed {
			t.Fatalf("%s: %q in %v", p, got[p], changes)
		}
	}
	shimSt, _ := os.Stat(filepath.Join(f.bin, "fake"))
	masterSt, _ := os.Stat(filepath.Join(f.bin, ".netplumb", ShimName))
	if !os.SameFile(shimSt, masterSt) {
		t.Fatal("bin/fake is not the shim")
	}
	if link, _ := os.Readlink(filepath.Join(f.bin, ".netplumb", "state")); link != f.state {
		t.Fatalf("state link -> %q", link)
	}
	cmd := exec.Command(filepath.Join(f.bin, "fake"))
	cmd.Env = []string{"CNI_COMMAND=ADD", "CNI_CONTAINERID=c1", "CNI_IFNAME=net1", "CNI_ARGS=K8S_POD_NAMESPACE=ns"}
	cmd.Stdin = strings.NewReader(`{"cniVersion":"1.0.0","name":"n1","type":"fake","fake":{"stdout":"{\"ok\":1}"}}`)
	out, err := cmd.Output()
	if err != nil || string(out) != `{"ok":1}` {
		t.Fatalf("shimmed plugin: %q %v", out, err)
	}
	if a := spool.ListAttachments(f.state); len(a) != 1 || a[0].Network != "n1" || a[0].Namespace != "ns" {
		t.Fatalf("attachments %+v", a)
	}
	if n := spool.Backlog(f.state); n != 1 {
		t.Fatalf("spool backlog %d", n)
	}

	// back to plain plugins: the plugin replaces the shim, the private copy goes
	o.Shim = false
	changes, err = Run(o)
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(changes); got["fake"] != Updated || got[".netplumb/fake"] != Removed {
		t.Fatalf("changes %v", changes)
	}
}
