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
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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
	stdin, _ := readAll(os.Stdin)
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
	res := result{start: time.Now()}
	pid, stdout, err := start(real, argv, stdin)
	if err != nil {
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
	res.stdout = relay(stdout)
	var ws syscall.WaitStatus
	for {
		_, err = syscall.Wait4(pid, &ws, 0, nil)
		if err != syscall.EINTR {
			break
		}
	}
	res.elapsed = time.Since(res.start)
	switch {
	case err != nil:
		res.exit = 1
	case ws.Signaled():
		res.signal = ws.Signal()
		res.exit = 128 + int(ws.Signal())
	default:
		res.exit = ws.ExitStatus()
	}
	return res
}

// smallStdin is written into the plugin's stdin pipe before the plugin starts (the pipe holds
// at least 64 KiB on Linux); larger configs are fed by a goroutine.
const smallStdin = 32 << 10

// start runs the plugin with stdin from a pipe holding stdin, stdout into a pipe returned to
// the caller, and stderr, argv and the environment exactly as the shim got them. It uses
// syscall.ForkExec rather than os.StartProcess, which probes pidfd support with an extra
// fork the first time a process starts one.
func start(real string, argv []string, stdin []byte) (pid, stdout int, err error) {
	var in, out [2]int
	if err := syscall.Pipe2(in[:], syscall.O_CLOEXEC); err != nil {
		return 0, 0, err
	}
	if err := syscall.Pipe2(out[:], syscall.O_CLOEXEC); err != nil {
		syscall.Close(in[0])
		syscall.Close(in[1])
		return 0, 0, err
	}
	feed := func() {
		for rest := stdin; len(rest) > 0; {
			n, err := syscall.Write(in[1], rest)
			if err == syscall.EINTR {
				continue
			}
			if err != nil {
				break
			}
			rest = rest[n:]
		}
		syscall.Close(in[1])
	}
	small := len(stdin) <= smallStdin
	if small {
		feed()
	}
	pid, err = syscall.ForkExec(real, argv, &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{uintptr(in[0]), uintptr(out[1]), 2},
		// A signal that ends the shim (a runtime giving up on the operation) ends the plugin
		// too, as it would have ended the plugin run bare: the shim does not catch signals, so
		// SIGTERM, SIGINT, SIGHUP end it as they end a Go plugin, and the kernel then sends
		// the plugin SIGKILL. (Pdeathsig fires when the forking thread ends; the Go runtime
		// ends threads only with the process, as long as nothing locks one.) Forwarding
		// signals instead would cost a goroutine and a thread per operation.
		Sys: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	})
	syscall.Close(in[0])
	syscall.Close(out[1])
	if err != nil {
		if !small {
			syscall.Close(in[1])
		}
		syscall.Close(out[0])
		return 0, 0, err
	}
	if !small {
		go feed()
	}
	return pid, out[0], nil
}

// relay copies the plugin's stdout to the shim's stdout until EOF and returns the first
// maxCapture bytes. When the shim's stdout breaks, the pipe is closed so the plugin sees the
// same broken pipe it would have seen.
func relay(fd int) []byte {
	defer syscall.Close(fd)
	var captured []byte
	buf := make([]byte, 32<<10)
	for {
		n, err := syscall.Read(fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if n > 0 {
			if room := maxCapture - len(captured); room > 0 {
				captured = append(captured, buf[:min(room, n)]...)
			}
			if _, werr := os.Stdout.Write(buf[:n]); werr != nil {
				return captured
			}
		}
		if err != nil || n <= 0 {
			return captured
		}
	}
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

// readAll reads stdin to EOF (like io.ReadAll, without its import cost being the point: a
// regular file's size sizes the buffer at once).
func readAll(f *os.File) ([]byte, error) {
	size := 4096
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > 0 {
		size = int(st.Size()) + 1
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			return buf, nil
		}
	}
}
