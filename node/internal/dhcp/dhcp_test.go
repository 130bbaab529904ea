package dhcp

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"netplumb.dev/node/internal/testbin"
)

func TestMain(m *testing.M) { testbin.Main(m) }

func TestArgs(t *testing.T) {
	cases := []struct {
		o    Options
		want string
	}{
		{Options{}, "daemon -socketpath /run/cni/dhcp.sock"},
		{Options{HostPrefix: "/host", Broadcast: true, PidFile: "/run/dhcp.pid"},
			"daemon -socketpath /run/cni/dhcp.sock -hostprefix /host -pidfile /run/dhcp.pid -broadcast"},
		{Options{SocketPath: "/run/x.sock", Timeout: 5 * time.Second, ResendMax: time.Minute,
			ResendTimeout: 90 * time.Second, Extra: []string{"-extra"}},
			"daemon -socketpath /run/x.sock -timeout 5s -resendmax 1m0s -resendtimeout 1m30s -extra"},
	}
	for _, c := range cases {
		if got := strings.Join(Args(c.o), " "); got != c.want {
			t.Errorf("Args(%+v)\n got %s\nwant %s", c.o, got, c.want)
		}
	}
	if got := ListenPath(Options{HostPrefix: "/host"}); got != "/host/run/cni/dhcp.sock" {
		t.Errorf("ListenPath = %s", got)
	}
}

// staleSocket leaves a unix socket file with nobody listening, as a killed daemon does.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	if st, err := os.Lstat(path); err != nil || st.Mode()&os.ModeSocket == 0 {
		t.Fatalf("no stale socket made: %v", err)
	}
}

func TestCleanStaleSocket(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "stale.sock")
	staleSocket(t, stale)
	if err := CleanStaleSocket(stale); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale socket still there: %v", err)
	}
	if err := CleanStaleSocket(filepath.Join(dir, "absent.sock")); err != nil {
		t.Fatalf("absent socket: %v", err)
	}

	live := filepath.Join(dir, "live.sock")
	l, err := net.Listen("unix", live)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := CleanStaleSocket(live); err == nil || !strings.Contains(err.Error(), "already listens") {
		t.Fatalf("live socket: %v", err)
	}
	if _, err := os.Lstat(live); err != nil {
		t.Fatalf("live socket removed: %v", err)
	}

	file := filepath.Join(dir, "file.sock")
	if err := os.WriteFile(file, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CleanStaleSocket(file); err == nil {
		t.Fatal("a regular file was taken for a socket")
	}
	if b, _ := os.ReadFile(file); string(b) != "keep" {
		t.Fatal("regular file changed")
	}
}

// syncBuffer is a bytes.Buffer safe for the daemon's output goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The real upstream daemon, from the project's tool cache: a stale socket is cleaned, the
// daemon listens where the plugin on the host will dial (prefix + socket path), and SIGTERM
// stops it cleanly.
func TestRunRealDaemon(t *testing.T) {
	bin := testbin.ToolBinary("dhcp")
	if bin == "" {
		t.Skip("no dhcp plugin in the tool cache (make tools builds containernetworking/plugins v1.9.1)")
	}
	prefix := t.TempDir()
	o := Options{Binary: bin, HostPrefix: prefix, SocketPath: "/run/cni/dhcp.sock",
		PidFile: filepath.Join(prefix, "dhcp.pid")}
	listen := ListenPath(o)
	if err := os.MkdirAll(filepath.Dir(listen), 0o755); err != nil {
		t.Fatal(err)
	}
	staleSocket(t, listen)
	var out syncBuffer
	type ended struct {
		code int
		err  error
	}
	done := make(chan ended, 1)
	go func() {
		code, err := Run(o, &out, &out)
		done <- ended{code, err}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.Dial("unix", listen)
		if err == nil {
			conn.Close()
			break
		}
		select {
		case e := <-done:
			t.Fatalf("daemon ended early: %d %v\n%s", e.code, e.err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon not listening on %s: %v\n%s", listen, err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	pid, err := os.ReadFile(o.PidFile)
	if err != nil || len(pid) == 0 {
		t.Fatalf("pidfile: %q %v", pid, err)
	}
	// Run forwards SIGTERM it receives; here the test is the process, so signal the child.
	child, err := strconv.Atoi(strings.TrimSpace(string(pid)))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(child, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-done:
		if e.code != 0 || e.err != nil {
			t.Fatalf("daemon ended with %d %v\n%s", e.code, e.err, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("daemon did not stop on SIGTERM")
	}
	if _, err := os.Lstat(listen); !os.IsNotExist(err) {
		t.Fatalf("socket left behind: %v", err)
	}
}

func TestRunRefusesWhenADaemonListens(t *testing.T) {
	prefix := t.TempDir()
	o := Options{Binary: "/bin/true", HostPrefix: prefix}
	if err := os.MkdirAll(filepath.Dir(ListenPath(o)), 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", ListenPath(o))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if code, err := Run(o, os.Stdout, os.Stderr); code == 0 || err == nil {
		t.Fatalf("Run = %d, %v", code, err)
	}
}

func TestRunPassesArgsAndStatus(t *testing.T) {
	fake := testbin.Build(t, testbin.FakePlugin)
	o := Options{Binary: fake, HostPrefix: t.TempDir(), Broadcast: true, Timeout: 3 * time.Second}
	var out syncBuffer
	t.Setenv("FAKE_ECHO_ARGS", "1")
	t.Setenv("FAKE_EXIT", "7")
	code, err := Run(o, &out, &out)
	want := "daemon -socketpath /run/cni/dhcp.sock -hostprefix " + o.HostPrefix + " -broadcast -timeout 3s\n"
	if code != 7 || err == nil || out.String() != want {
		t.Fatalf("Run = %d %v, output %q, want %q", code, err, out.String(), want)
	}
}
