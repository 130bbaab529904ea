// Package spool is the hand-off between the CNI shim and the metrics daemon, through a state
// directory on the node that the shim uses without ever waiting for anyone.
//
// Layout of the state directory (default /run/netplumb: tmpfs on most nodes, and its content
// means nothing after a reboot, when every attachment is gone too):
//
//	metrics.sock          the daemon's unixgram socket: the shim sends each finished operation
//	                      as one datagram (a JSON line, Record) without blocking
//	spool/<slot>          where a record goes when that send fails (no daemon, or its socket
//	                      buffer is full): one file per record, at most Slots, names "000".."fff"
//	attachments/<key>     one file per live attachment (Attachment), created on a successful ADD,
//	                      removed on a successful DEL, pruned by a successful GC
//	dropped               one byte appended per record that neither the socket nor the spool took
//
// The shim side (Deliver, AddAttachment, RemoveAttachment, PruneAttachments) uses non-blocking
// sockets and opens every file with O_NONBLOCK, and gives up on the first error: a missing,
// unwritable, full or hung state directory or daemon costs a few failed system calls, never a
// blocked or failed CNI operation.
package spool

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// Names inside the state directory.
const (
	SpoolDir      = "spool"
	AttachDir     = "attachments"
	DropFile      = "dropped"
	SocketName    = "metrics.sock"
	DefaultState  = "/run/netplumb"
	Slots         = 4096 // bound of the spool: at most this many undelivered records
	probes        = 16   // slots a writer tries before it drops the record
	MaxRecordSize = 64 << 10
	MaxMsgLen     = 1024 // CNI error messages are cut to this many bytes
	MaxIPAMLen    = 8192 // the ipam section is kept only up to this size
	RecordVersion = 1
)

// Record is one finished CNI operation as seen by the shim.
type Record struct {
	V           int             `json:"v"`
	Start       int64           `json:"start"` // unix nanoseconds when the plugin was started
	Seconds     float64         `json:"seconds"`
	Op          string          `json:"op"`     // CNI_COMMAND
	Plugin      string          `json:"plugin"` // binary that ran (the shim's name)
	Type        string          `json:"type"`   // "type" of the config on stdin
	Network     string          `json:"network"`
	Result      string          `json:"result"` // "success" or "error"
	Exit        int             `json:"exit"`
	Signal      string          `json:"signal,omitempty"`
	Code        *uint           `json:"code,omitempty"` // CNI error code from stdout
	Msg         string          `json:"msg,omitempty"`  // CNI error msg from stdout
	Namespace   string          `json:"namespace,omitempty"`
	Pod         string          `json:"pod,omitempty"`
	ContainerID string          `json:"containerID,omitempty"`
	IfName      string          `json:"ifname,omitempty"`
	IPAM        json.RawMessage `json:"ipam,omitempty"`
}

// Result values.
const (
	Success = "success"
	Failure = "error"
)

// Deliver hands one encoded record (a JSON line) to the daemon: a datagram on its socket, or,
// when that fails, a spool file. It never blocks; when both fail it counts a drop.
func Deliver(stateDir string, line []byte, seed uint64) error {
	if Send(stateDir, line) == nil {
		return nil
	}
	return Write(stateDir, line, seed)
}

// maxSocketPath is the room for a path in sockaddr_un.sun_path (108 bytes with the NUL).
const maxSocketPath = 107

// Send sends one record as a datagram to the daemon's socket without blocking: it fails at
// once when nobody listens or the daemon's receive buffer is full.
func Send(stateDir string, line []byte) error {
	path := filepath.Join(stateDir, SocketName)
	if len(path) > maxSocketPath {
		// the link in the bin dir may be long where its target is not
		if target, err := os.Readlink(stateDir); err == nil && filepath.IsAbs(target) {
			path = filepath.Join(target, SocketName)
		}
	}
	if len(path) > maxSocketPath {
		return fmt.Errorf("socket path %s longer than %d bytes", path, maxSocketPath)
	}
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_DGRAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	err = syscall.Sendto(fd, line, 0, &syscall.SockaddrUnix{Name: path})
	_ = syscall.Close(fd)
	return err
}

// SlotName is the file name of spool slot i.
func SlotName(i int) string { return fmt.Sprintf("%03x", i%Slots) }

// Write spools one encoded record (a JSON line) into a free slot. seed picks the first slot
// tried (callers pass something that differs between concurrent writers, e.g. pid ^ time).
// It never blocks: when no free slot is found among a few, when the directory is missing and
// cannot be made, or on any write error, it counts a drop and returns the error.
func Write(stateDir string, line []byte, seed uint64) error {
	err := write(stateDir, line, seed)
	if err != nil {
		countDrop(stateDir)
	}
	return err
}

func write(stateDir string, line []byte, seed uint64) error {
	if len(line) > MaxRecordSize {
		return fmt.Errorf("record of %d bytes is larger than %d", len(line), MaxRecordSize)
	}
	dir := filepath.Join(stateDir, SpoolDir)
	made := false
	start := int(seed % Slots)
	for i := 0; i < probes; i++ {
		path := filepath.Join(dir, SlotName(start+i))
		fd, err := syscall.Open(path, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0o644)
		if errors.Is(err, syscall.EEXIST) {
			continue
		}
		if errors.Is(err, syscall.ENOENT) && !made {
			made = true
			if makeDir(stateDir, SpoolDir) != nil {
				return err
			}
			i--
			continue
		}
		if err != nil {
			return err
		}
		n, werr := syscall.Write(fd, line)
		cerr := syscall.Close(fd)
		if werr == nil && n != len(line) {
			werr = fmt.Errorf("short write to %s: %d of %d bytes", path, n, len(line))
		}
		if werr == nil {
			werr = cerr
		}
		if werr != nil {
			_ = syscall.Unlink(path)
			return werr
		}
		return nil
	}
	return fmt.Errorf("spool %s: no free slot among %d tried", dir, probes)
}

// countDrop appends one byte to the drop counter file; the file's size is the number of drops.
func countDrop(stateDir string) {
	fd, err := syscall.Open(filepath.Join(stateDir, DropFile),
		syscall.O_WRONLY|syscall.O_APPEND|syscall.O_CREAT|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0o644)
	if err != nil {
		return
	}
	_, _ = syscall.Write(fd, []byte{'.'})
	_ = syscall.Close(fd)
}

// Dropped is the number of records shims could not spool so far.
func Dropped(stateDir string) (int64, error) {
	st, err := os.Stat(filepath.Join(stateDir, DropFile))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// makeDir creates stateDir/sub, but not stateDir itself: a state dir that is not there means
// the shim runs where the node's state dir is not mounted (say, in a container without it),
// and records made there would be seen by nobody. stateDir may be a symlink (the shim reaches
// the state dir through a link in the CNI bin dir).
func makeDir(stateDir, sub string) error {
	err := os.Mkdir(filepath.Join(stateDir, sub), 0o755)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	return err
}
