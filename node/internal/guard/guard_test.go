package guard

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

var good = []byte(`{"cniVersion":"0.3.1","name":"multus-cni-network","type":"multus-shim","daemonSocketDir":"/run/multus/"}` + "\n")

func TestNameSortsBetweenMultusAndClusterNetworks(t *testing.T) {
	names := []string{"10-flannel.conflist", "05-cilium.conflist", "10-calico.conflist", FileName,
		MultusFile, "00-multus.conflist", "10-ovn-kubernetes.conf", "99-loopback.conf"}
	sort.Strings(names) // the runtime's order (libcni: sorted paths of one dir)
	want := []string{MultusFile, "00-multus.conflist", FileName, "05-cilium.conflist"}
	if !slices.Equal(names[:4], want) {
		t.Fatalf("order %v, want %v first", names, want)
	}
	// Multus' search for the cluster network skips names with this prefix
	if !strings.HasPrefix(FileName, "00-multus") {
		t.Fatalf("%s would be taken for the cluster network by Multus", FileName)
	}
	if filepath.Ext(FileName) != ".conf" {
		t.Fatalf("%s: the runtime reads .conf, .conflist and .json only", FileName)
	}
}

func TestCheckRefusesAnythingButAStopSign(t *testing.T) {
	for _, bad := range []string{
		`not json`,
		`{"cniVersion":"0.3.1","name":"x","type":"flannel"}`,
		`{"cniVersion":"0.3.1","type":"multus-shim"}`,
		`{"name":"x","type":"multus-shim"}`,
		`{"cniVersion":"0.3.1","name":"x","type":"multus-shim","clusterNetwork":"/host/etc/cni/net.d/10-flannel.conflist"}`,
		`{"cniVersion":"0.3.1","name":"x","type":"multus-shim","delegates":[]}`,
	} {
		if err := Check([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
	if err := Check(good); err != nil {
		t.Fatal(err)
	}
}

func TestEnsureWritesOnceAndRemoveCleans(t *testing.T) {
	dir := t.TempDir()
	wrote, err := Ensure(dir, good)
	if err != nil || !wrote {
		t.Fatalf("first Ensure: wrote %v, %v", wrote, err)
	}
	path := filepath.Join(dir, FileName)
	st1, _ := os.Stat(path)
	if st1.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", st1.Mode())
	}
	// a second Ensure writes nothing (the runtime reloads on every change of the dir)
	wrote, err = Ensure(dir, good)
	if err != nil || wrote {
		t.Fatalf("second Ensure: wrote %v, %v", wrote, err)
	}
	st2, _ := os.Stat(path)
	if !os.SameFile(st1, st2) {
		t.Error("file replaced although unchanged")
	}
	// changed content is rewritten
	other := bytes.Replace(good, []byte("0.3.1"), []byte("1.0.0"), 1)
	if wrote, err = Ensure(dir, other); err != nil || !wrote {
		t.Fatalf("changed Ensure: wrote %v, %v", wrote, err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, other) {
		t.Errorf("content %s", got)
	}
	// nothing else is left in the dir
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("dir holds %d entries", len(entries))
	}
	// a refused config is not written
	if _, err := Ensure(dir, []byte(`{"type":"flannel"}`)); err == nil {
		t.Error("wrote a config that is not a guard")
	}
	removed, err := Remove(dir)
	if err != nil || !removed {
		t.Fatalf("Remove: %v, %v", removed, err)
	}
	if removed, err = Remove(dir); err != nil || removed {
		t.Fatalf("second Remove: %v, %v", removed, err)
	}
}

func keepUntilStopped(t *testing.T, dir string, owner OwnerGone) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var log bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- Keep(ctx, dir, good, 10*time.Millisecond, time.Second, owner, &log) }()
	path := filepath.Join(dir, FileName)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("guard never written")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// removed by someone else: put back within an interval
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(path); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("guard not put back")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return log.String()
}

func TestKeepRemovesOnlyWhenTheOwnerGoes(t *testing.T) {
	path := func(dir string) string { return filepath.Join(dir, FileName) }
	for _, c := range []struct {
		name  string
		owner OwnerGone
		stays bool
	}{
		{"owner stays", func(context.Context) (bool, error) { return false, nil }, true},
		{"owner unknown", func(context.Context) (bool, error) { return false, errors.New("API down") }, true},
		{"owner gone", func(context.Context) (bool, error) { return true, nil }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			log := keepUntilStopped(t, dir, c.owner)
			_, err := os.Stat(path(dir))
			if stays := err == nil; stays != c.stays {
				t.Fatalf("guard stays %v, want %v (log %q)", stays, c.stays, log)
			}
		})
	}
}
