// Package atomicfile replaces a file in one step, so a reader (the container runtime reading
// its CNI configs, a plugin reading its kubeconfig) sees the old content or the new, never a
// part: the new content goes to a temp file in the same directory, which is synced, given
// its mode and renamed over the target; the directory is synced after the rename.
package atomicfile

import (
	"io"
	"os"
	"path/filepath"
)

// Write makes path hold what fill writes, with mode. The temp file is named tmpPrefix plus
// path's base name and a random suffix, so a caller can find and remove leftovers of a crash
// by that prefix. An error from fill (a checksum that does not match, say) leaves path as it
// was and removes the temp file.
func Write(path, tmpPrefix string, mode os.FileMode, fill func(io.Writer) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, tmpPrefix+filepath.Base(path)+"-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // nothing to remove after the rename
	if err := fill(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// WriteBytes is Write with content known up front.
func WriteBytes(path, tmpPrefix string, mode os.FileMode, content []byte) error {
	return Write(path, tmpPrefix, mode, func(w io.Writer) error {
		_, err := w.Write(content)
		return err
	})
}

// SyncDir flushes dir's entries (a rename or a removal in it) to disk.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
