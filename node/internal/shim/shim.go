// Package shim is the CNI plugin wrapper that `netplumb-node install` puts in the CNI bin dir
// under each managed plugin's name. It runs the real plugin (kept in the private dir beside
// it), passes stdin, stdout, stderr, environment, arguments and exit status through unchanged,
// and afterwards spools one record of the operation for the metrics daemon.
//
// The shim never waits for the metrics daemon: recording is a few non-blocking file system
// calls after the plugin has finished and its output has been passed on; any error there is
// swallowed. It does not import Prometheus, so it starts as fast as a small Go program can.
package shim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"
	"unsafe"
)

// Names inside the CNI bin dir.
const (
	// PrivateDir holds the real plugins and the shim's own files: <bindir>/.netplumb/.
	PrivateDir = ".netplumb"
	// StateLink is a symlink in PrivateDir to the state directory on the node
	// (default /var/lib/netplumb); install writes it.
	StateLink = "state"
	// maxCapture bounds how much of the plugin's stdout is kept for parsing an error.
	maxCapture = 1 << 20
)

// Main runs the shim for argv (os.Args) and returns the exit status, or, when the plugin was
// killed by a signal, kills the shim with the same signal.
func Main() int {
	argv := os.Args
	dir, name := locate(argv[0])
	real := filepath.Join(dir, PrivateDir, name)
	op := os.Getenv("CNI_COMMAND")
	if op == "" {
		// Not a CNI operation (for example `dhcp daemon`): become the real plugin.
		err := syscall.Exec(real, argv, os.Environ())
		fmt.Fprintf(os.Stderr, "netplumb-cni-shim: exec %s: %v\n", real, err)
		return 127
	}
	stdin, _ := io.ReadAll(os.Stdin)
	res := run(real, argv, stdin)
	stateDir := filepath.Join(dir, PrivateDir, StateLink)
	record(stateDir, name, op, stdin, res)
	if res.signal != 0 {
		reraise(res.signal)
	}
	return res.exit
}

// locate finds the directory the shim was run from and the plugin name it stands for.
func locate(argv0 string) (dir, name string) {
	if filepath.IsAbs(argv0) {
		return filepath.Dir(argv0), filepath.Base(argv0)
	}
	if exe, err := os.Executable(); err == nil {
		name := filepath.Base(argv0)
		if name == "" || name == "." {
			name = filepath.Base(exe)
		}
		return filepath.Dir(exe), name
	}
	return filepath.Dir(argv0), filepath.Base(argv0)
}

// result is what the real plugin did.
type result struct {
	start   time.Time
	elapsed time.Duration
	exit    int
	signal  syscall.Signal // non-zero when the plugin died of a signal
	stdout  []byte         // captured copy (up to maxCapture)
	missing bool           // the real plugin could not be started
}

func run(real string, argv []string, stdin []byte) result {
	capture := &capped{w: os.Stdout}
	cmd := &exec.Cmd{
		Path:   real,
		Args:   argv,
		Stdin:  bytes.NewReader(stdin),
		Stdout: capture,
		Stderr: os.Stderr,
		// The plugin dies with the shim (a runtime that kills the shim on timeout would have
		// killed the plugin itself). Pdeathsig fires when the forking thread exits: lock it.
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	}
	runtime.LockOSThread()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	res := result{start: time.Now()}
	if err := cmd.Start(); err != nil {
		res.elapsed = time.Since(res.start)
		res.missing = true
		res.exit = 1
		// What the caller would have got if it had not found the plugin: a CNI error.
		msg := fmt.Sprintf("netplumb-cni-shim: cannot run plugin %s: %v", real, err)
		out := missingPluginError(stdin, msg)
		_, _ = os.Stdout.Write(out)
		res.stdout = out
		return res
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				_ = cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	_ = cmd.Wait()
	close(done)
	res.elapsed = time.Since(res.start)
	res.stdout = capture.buf
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		res.signal = ws.Signal()
		res.exit = 128 + int(ws.Signal())
	} else {
		res.exit = cmd.ProcessState.ExitCode()
	}
	return res
}

func missingPluginError(stdin []byte, msg string) []byte {
	var conf struct {
		CNIVersion string `json:"cniVersion"`
	}
	_ = json.Unmarshal(stdin, &conf)
	if conf.CNIVersion == "" {
		conf.CNIVersion = "1.0.0"
	}
	out, _ := json.Marshal(struct {
		CNIVersion string `json:"cniVersion"`
		Code       uint   `json:"code"`
		Msg        string `json:"msg"`
	}{conf.CNIVersion, 999, msg})
	return append(out, '\n')
}

// reraise ends the shim with the signal that killed the plugin, so the caller sees the same
// wait status. The Go runtime catches most signals, so the default disposition is restored
// with a raw rt_sigaction first. If the signal still does not end the process, exit 128+n.
func reraise(sig syscall.Signal) {
	signal.Reset(sig)
	var dfl sigaction // zero: SIG_DFL, no flags, empty mask
	_, _, _ = syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&dfl)), 0, 8, 0, 0)
	_ = syscall.Kill(os.Getpid(), sig)
	time.Sleep(100 * time.Millisecond)
	os.Exit(128 + int(sig))
}

// sigaction is the kernel's struct sigaction on Linux (x86-64 and arm64 layout).
type sigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

// capped passes writes through to w and keeps the first maxCapture bytes. A failed write to w
// is returned, so the plugin sees the same broken pipe it would have seen.
type capped struct {
	w   io.Writer
	buf []byte
}

func (c *capped) Write(p []byte) (int, error) {
	if room := maxCapture - len(c.buf); room > 0 {
		c.buf = append(c.buf, p[:min(room, len(p))]...)
	}
	return c.w.Write(p)
}
