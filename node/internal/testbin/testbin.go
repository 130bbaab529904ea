// Package testbin builds the module's commands (and test stand-ins) once per test process, for
// tests that must run the real binaries.
package testbin

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	mu    sync.Mutex
	built = map[string]string{}
	dir   string
)

// Build compiles the main package pkg (an import path inside this module, e.g.
// "netplumb.dev/node/cmd/netplumb-cni-shim") statically and returns the binary's path. Builds
// are cached for the life of the test process (the Go build cache makes repeats cheap).
func Build(t testing.TB, pkg string) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if p, ok := built[pkg]; ok {
		return p
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "netplumb-testbin-")
		if err != nil {
			t.Fatal(err)
		}
		dir = d
	}
	trackSources(t)
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command(goTool(), "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, msg)
	}
	built[pkg] = out
	return out
}

// Main runs a package's tests and then removes the binaries built for them: the body of a
// TestMain.
func Main(m *testing.M) {
	code := m.Run()
	Cleanup()
	os.Exit(code)
}

var tracked bool

// trackSources opens every Go source of the module once. go test caches a passing result
// keyed on the test binary and on the files the test opened: the binaries built here come from
// sources the test binary may not contain (a command's main package), so opening them makes a
// change to any of them rerun the tests.
func trackSources(t testing.TB) {
	if tracked {
		return
	}
	tracked = true
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() || !(filepath.Ext(name) == ".go" || name == "go.mod" || name == "go.sum") {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		return f.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}

// Cleanup removes the built binaries.
func Cleanup() {
	mu.Lock()
	defer mu.Unlock()
	if dir != "" {
		_ = os.RemoveAll(dir)
	}
}

func goTool() string {
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return "go"
}

// Package paths of the binaries tests use.
const (
	Shim       = "netplumb.dev/node/cmd/netplumb-cni-shim"
	Node       = "netplumb.dev/node/cmd/netplumb-node"
	FakePlugin = "netplumb.dev/node/internal/testbin/fakeplugin"
)

// CopyFile copies src to dst with mode 0755.
func CopyFile(t testing.TB, src, dst string) {
	t.Helper()
	body, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, body, 0o755); err != nil {
		t.Fatal(err)
	}
}

// ToolBinary finds a binary built by the project's tool cache (harness/tools.py:
// $NETPLUMB_TOOLS_CACHE or ~/.cache/netplumb/tools, builds/<tool>-<hash>/<name> with a .stamp),
// or returns "" when there is none. Tests that need a real upstream plugin skip without it.
func ToolBinary(name string) string {
	root := os.Getenv("NETPLUMB_TOOLS_CACHE")
	if root == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		root = filepath.Join(home, ".cache", "netplumb", "tools")
	}
	matches, _ := filepath.Glob(filepath.Join(root, "builds", "*", name))
	for _, m := range matches {
		if _, err := os.Stat(filepath.Join(filepath.Dir(m), ".stamp")); err == nil {
			return m
		}
	}
	return ""
}

// ShimLayout lays out a CNI bin dir the way `netplumb-node install --shim` does for one plugin:
// bin/<name> is the shim, bin/.netplumb/<name> a copy of real, bin/.netplumb/state a symlink to
// state, which it creates (on a node the DaemonSet's hostPath mount does). It returns the
// shim's path.
func ShimLayout(t testing.TB, bin, state, name, real string) string {
	t.Helper()
	private := filepath.Join(bin, ".netplumb")
	for _, d := range []string{private, state} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	shim := filepath.Join(bin, name)
	CopyFile(t, Build(t, Shim), shim)
	CopyFile(t, real, filepath.Join(private, name))
	link := filepath.Join(private, "state")
	if _, err := os.Lstat(link); os.IsNotExist(err) {
		if err := os.Symlink(state, link); err != nil {
			t.Fatal(err)
		}
	}
	return shim
}
