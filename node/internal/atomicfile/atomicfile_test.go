package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func entries(t *testing.T, dir string) []string {
	t.Helper()
	list, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range list {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteReplacesWithModeAndLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "conf")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteBytes(path, ".tmp-", 0o600, []byte("new")); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != "new" {
		t.Fatalf("content %q, %v", got, err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", st.Mode().Perm(), err)
	}
	if names := entries(t, dir); len(names) != 1 || names[0] != "conf" {
		t.Fatalf("directory holds %v", names)
	}
}

func TestFailedFillKeepsTheOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bin")
	if err := os.WriteFile(path, []byte("old"), 0o755); err != nil {
		t.Fatal(err)
	}
	refused := errors.New("checksum differs")
	err := Write(path, ".tmp-", 0o755, func(w io.Writer) error {
		if _, err := io.Copy(w, strings.NewReader("half")); err != nil {
			return err
		}
		return refused
	})
	if !errors.Is(err, refused) {
		t.Fatalf("error %v, want %v", err, refused)
	}
	got, _ := os.ReadFile(path)
	if string(got) != "old" {
		t.Fatalf("content %q after a failed write", got)
	}
	if names := entries(t, dir); len(names) != 1 {
		t.Fatalf("temp file left: %v", names)
	}
}

func TestWriteIntoAMissingDirectoryFails(t *testing.T) {
	if err := WriteBytes(filepath.Join(t.TempDir(), "no", "conf"), ".tmp-", 0o644, nil); err == nil {
		t.Fatal("wrote into a directory that does not exist")
	}
}
