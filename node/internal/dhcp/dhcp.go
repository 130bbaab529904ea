// Package dhcp runs the CNI dhcp daemon (containernetworking/plugins plugins/ipam/dhcp) that
// dhcp-IPAM networks need on every node. The plugin is a main package and cannot be imported,
// so the installed binary is run as `dhcp daemon` with its own flags.
package dhcp

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// DefaultSocket is where the dhcp plugin (on the host) dials the daemon unless a network's
// ipam.daemonSocketPath says otherwise (plugins/ipam/dhcp/main.go, defaultSocketPath).
const DefaultSocket = "/run/cni/dhcp.sock"

// Options are the daemon's flags (plugins/ipam/dhcp/main.go v1.9.1). Zero durations leave the
// daemon's defaults (timeout 10s, resendmax 62s, resendtimeout 208s).
type Options struct {
	Binary        string // the dhcp plugin binary
	SocketPath    string // -socketpath: the socket path as the plugin on the host sees it
	HostPrefix    string // -hostprefix: where the host's / is mounted in this container
	PidFile       string // -pidfile (absolute), optional
	Broadcast     bool   // -broadcast
	Timeout       time.Duration
	ResendMax     time.Duration
	ResendTimeout time.Duration
	Extra         []string // passed after the flags above, unchanged
}

// Args is the daemon's command line (argv[1:]).
func Args(o Options) []string {
	socket := o.SocketPath
	if socket == "" {
		socket = DefaultSocket
	}
	args := []string{"daemon", "-socketpath", socket}
	if o.HostPrefix != "" {
		args = append(args, "-hostprefix", o.HostPrefix)
	}
	if o.PidFile != "" {
		args = append(args, "-pidfile", o.PidFile)
	}
	if o.Broadcast {
		args = append(args, "-broadcast")
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"-timeout", o.Timeout}, {"-resendmax", o.ResendMax}, {"-resendtimeout", o.ResendTimeout}} {
		if d.v > 0 {
			args = append(args, d.flag, d.v.String())
		}
	}
	return append(args, o.Extra...)
}

// ListenPath is where the daemon creates its socket: the daemon joins -hostprefix and
// -socketpath (daemon.go: getListener(hostPrefix + socketPath)).
func ListenPath(o Options) string {
	socket := o.SocketPath
	if socket == "" {
		socket = DefaultSocket
	}
	return o.HostPrefix + socket
}

// CleanStaleSocket removes a socket left by a daemon that is gone (the daemon's listen would
// fail on it). A socket someone still listens on, or a path that is not a socket, is an error.
func CleanStaleSocket(path string) error {
	st, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket (%v); not removing it", path, st.Mode())
	}
	conn, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		conn.Close()
		return fmt.Errorf("a dhcp daemon already listens on %s", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("probing %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Run cleans a stale socket, runs the daemon in the foreground with stdout/stderr passed
// through and SIGTERM/SIGINT/SIGHUP/SIGQUIT forwarded, and returns its exit status. Restarts
// are the kubelet's business.
func Run(o Options, stdout, stderr io.Writer) (int, error) {
	if err := CleanStaleSocket(ListenPath(o)); err != nil {
		return 1, err
	}
	if _, err := os.Stat(o.Binary); err != nil {
		return 1, fmt.Errorf("dhcp plugin binary: %w", err)
	}
	cmd := exec.Command(o.Binary, Args(o)...)
	cmd.Args[0] = filepath.Base(o.Binary)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return 1, err
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
	err := cmd.Wait()
	close(done)
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), fmt.Errorf("dhcp daemon killed by %v", ws.Signal())
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return 1, err
	}
	code := cmd.ProcessState.ExitCode()
	if code != 0 {
		return code, errors.New("dhcp daemon exited with status " + strconv.Itoa(code))
	}
	return 0, nil
}
