// Package install places the pinned CNI plugins (and the shim that measures them) into the
// node's CNI bin dir: checksums verified first, every file written to a temp file in the same
// directory, synced and renamed into place, files someone else put there left alone.
package install

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// ManifestName is the checksum manifest shipped beside the plugins, in the format of
// sha256sum(1): one "<64 hex digits><space><space or *><file name>" line per file.
const ManifestName = "SHA256SUMS"

var manifestLine = regexp.MustCompile(`^([0-9a-f]{64}) [ *](.+)$`)

// Manifest maps a file name in the source dir to its expected sha256 (hex).
type Manifest map[string]string

// ReadManifest parses the manifest at path. Blank lines and lines starting with # are ignored.
func ReadManifest(path string) (Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := Manifest{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		g := manifestLine.FindStringSubmatch(line)
		if g == nil {
			return nil, fmt.Errorf("%s:%d: not a sha256sum line: %q", path, n, line)
		}
		name := g[2]
		if !validName(name) {
			return nil, fmt.Errorf("%s:%d: %q is not a plain file name", path, n, name)
		}
		if _, dup := m[name]; dup {
			return nil, fmt.Errorf("%s:%d: %s listed twice", path, n, name)
		}
		m[name] = g[1]
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("%s lists no files", path)
	}
	return m, nil
}

// validName accepts plain file names: no directories, nothing hidden.
func validName(name string) bool {
	return name != "" && !strings.ContainsAny(name, "/\x00") && !strings.HasPrefix(name, ".")
}

// FileSHA256 is the hex sha256 of a file's content.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// WriteManifest writes a manifest for the named files of dir (what an image build runs).
func WriteManifest(dir string, names []string, w io.Writer) error {
	for _, name := range names {
		sum, err := FileSHA256(dir + "/" + name)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "%s  %s\n", sum, name); err != nil {
			return err
		}
	}
	return nil
}
