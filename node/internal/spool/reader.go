package spool

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// IncompleteGrace is how long a reader leaves a slot whose record is not complete yet (the
// shim creates the file, then writes it); after that the slot is discarded as corrupt.
const IncompleteGrace = 10 * time.Second

// Reader drains the spool. It is not safe for concurrent use.
type Reader struct {
	StateDir string
	// applied remembers records that were applied but whose file could not be removed, so
	// that they are not counted twice.
	applied map[string]fileID
}

type fileID struct {
	ino   uint64
	mtime int64
	size  int64
}

// DrainStats says what one Drain did.
type DrainStats struct {
	Records int // records applied
	Corrupt int // slots discarded: unreadable, or incomplete for longer than IncompleteGrace
	Pending int // slots left for later: still being written
}

// Drain applies every complete record in the spool, oldest first by slot name order, and
// removes its file. Records whose JSON is complete but carries an unknown version are
// discarded as corrupt.
func (r *Reader) Drain(apply func(Record)) (DrainStats, error) {
	var st DrainStats
	dir := filepath.Join(r.StateDir, SpoolDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(dir, name)
		seen[name] = true
		info, err := os.Lstat(path)
		if err != nil {
			continue
		}
		if !info.Mode().IsRegular() {
			// not something a shim writes; leave it alone (and do not open it: a FIFO would block)
			continue
		}
		id := fileID{size: info.Size(), mtime: info.ModTime().UnixNano()}
		if sys, ok := info.Sys().(*syscall.Stat_t); ok {
			id.ino = sys.Ino
		}
		if prev, ok := r.applied[name]; ok && prev == id {
			continue
		}
		body, err := readSmall(path)
		rec, complete := Parse(body)
		switch {
		case err == nil && complete && rec.V == RecordVersion:
			apply(rec)
			st.Records++
			if os.Remove(path) != nil {
				if r.applied == nil {
					r.applied = map[string]fileID{}
				}
				r.applied[name] = id
			}
		case err == nil && !complete && time.Since(info.ModTime()) < IncompleteGrace:
			st.Pending++
		default:
			st.Corrupt++
			_ = os.Remove(path)
		}
	}
	for name := range r.applied {
		if !seen[name] {
			delete(r.applied, name)
		}
	}
	return st, nil
}

// Backlog is the number of files waiting in the spool.
func Backlog(stateDir string) int {
	entries, err := os.ReadDir(filepath.Join(stateDir, SpoolDir))
	if err != nil {
		return 0
	}
	return len(entries)
}

func readSmall(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, MaxRecordSize+1))
}

// Parse decodes a record (one JSON line); complete is false while a writer has not finished
// the line. A complete line that does not decode comes back with V == 0.
func Parse(body []byte) (Record, bool) {
	var rec Record
	if len(body) == 0 || body[len(body)-1] != '\n' || bytes.Count(body, []byte{'\n'}) != 1 {
		return rec, false
	}
	if json.Unmarshal(body, &rec) != nil {
		// a full line that does not decode will never become valid: report it complete so
		// the caller discards it (V stays 0)
		return Record{}, true
	}
	return rec, true
}
