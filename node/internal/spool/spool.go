// Package spool is the hand-off between the CNI shim and the metrics daemon: a directory on the
// node that the shim writes to without ever waiting for anyone, and that the daemon reads.
//
// Layout of the state directory (default /var/lib/netplumb):
//
//	spool/<slot>          one finished CNI operation per file, a single JSON line (Record);
//	                      at most Slots files, names "000".."fff"
//	attachments/<key>     one file per live attachment (Attachment), created on a successful ADD,
//	                      removed on a successful DEL, pruned by a successful GC
//	dropped               one byte appended per record the shim could not spool
//
// The shim side (Write, AddAttachment, RemoveAttachment, PruneAttachments) opens every file
// with O_NONBLOCK and gives up on the first error: a missing, unwritable, full or hung state
// directory costs a few failed system calls, never a blocked or failed CNI operation.
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
	DefaultState  = "/var/lib/netplumb"
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

// makeDir creates stateDir/sub. stateDir may be a symlink to a directory that does not exist
// yet (the shim reaches the state directory through a link in the CNI bin dir), which
// os.MkdirAll alone refuses.
func makeDir(stateDir, sub string) error {
	base := stateDir
	if target, err := os.Readlink(stateDir); err == nil {
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(stateDir), target)
		}
		base = target
	}
	return os.MkdirAll(filepath.Join(base, sub), 0o755)
}
