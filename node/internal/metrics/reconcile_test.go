package metrics

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"netplumb.dev/node/internal/cri"
)

func sandbox(c byte) string { return strings.Repeat(string(c), 64) }

func write(t *testing.T, path, body string, age time.Duration) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	when := time.Now().Add(-age)
	if err := os.Chtimes(path, when, when); err != nil {
		t.Fatal(err)
	}
}

func exists(path string) bool { _, err := os.Stat(path); return err == nil }

func TestReconcileFreesWhatNoReadySandboxHolds(t *testing.T) {
	tmp := t.TempDir()
	base, cache := filepath.Join(tmp, "networks"), filepath.Join(tmp, "multus")
	net := filepath.Join(base, "net-a")
	ready, stopped, gone := sandbox('a'), sandbox('b'), sandbox('c')
	held := filepath.Join(net, "192.0.2.10")
	write(t, held, ready+"\r\nnet1", 10*time.Minute)
	ofStopped := filepath.Join(net, "192.0.2.11")
	write(t, ofStopped, stopped+"\r\nnet1", 10*time.Minute)
	ofGone := filepath.Join(net, "192.0.2.12")
	write(t, ofGone, gone, 10*time.Minute) // an older host-local wrote the ID alone
	young := filepath.Join(net, "192.0.2.13")
	write(t, young, gone+"\r\nnet1", 10*time.Second)
	write(t, filepath.Join(net, "last_reserved_ip.0"), "192.0.2.13", 10*time.Minute)

	cacheGone := filepath.Join(cache, gone)
	write(t, cacheGone, "{}", 10*time.Minute)
	resultGone := filepath.Join(cache, "results", "net-a-"+gone+"-net1")
	write(t, resultGone, "{}", 10*time.Minute)
	cacheStopped := filepath.Join(cache, stopped)
	write(t, cacheStopped, "{}", 10*time.Minute)
	cacheYoung := filepath.Join(cache, sandbox('d'))
	write(t, cacheYoung, "{}", 10*time.Second)

	d := New(Config{StateDir: filepath.Join(tmp, "state"), HostLocalDirs: []string{base},
		Reconcile: &Reconcile{Grace: time.Minute, MultusCacheDir: cache,
			Sandboxes: func(context.Context) ([]cri.Sandbox, error) {
				return []cri.Sandbox{{ID: ready, Ready: true}, {ID: stopped}}, nil
			}}})
	freed, err := d.ReconcileOnce(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range freed {
		got = append(got, f.Kind+" "+f.Network+" "+f.Item+" "+f.Container[:1])
	}
	sort.Strings(got)
	want := []string{
		"host-local net-a 192.0.2.11 b",
		"host-local net-a 192.0.2.12 c",
		"multus-cache  " + gone + " c",
		"multus-cache  results/net-a-" + gone + "-net1 c",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("freed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, p := range []string{ofStopped, ofGone, cacheGone, resultGone} {
		if exists(p) {
			t.Errorf("%s is still there", p)
		}
	}
	for _, p := range []string{held, young, cacheStopped, cacheYoung, filepath.Join(net, "last_reserved_ip.0")} {
		if !exists(p) {
			t.Errorf("%s was removed", p)
		}
	}
	if n := testutil.ToFloat64(d.rec.freed.WithLabelValues("host-local", "net-a")); n != 2 {
		t.Errorf("host-local freed counted %v, want 2", n)
	}
	if n := testutil.ToFloat64(d.rec.freed.WithLabelValues("multus-cache", "")); n != 2 {
		t.Errorf("multus-cache freed counted %v, want 2", n)
	}
}

func TestReconcileFreesNothingWhenTheRuntimeCannotBeAsked(t *testing.T) {
	for name, answer := range map[string]func(context.Context) ([]cri.Sandbox, error){
		"error": func(context.Context) ([]cri.Sandbox, error) { return nil, errors.New("connection refused") },
		"empty": func(context.Context) ([]cri.Sandbox, error) { return nil, nil },
	} {
		t.Run(name, func(t *testing.T) {
			tmp := t.TempDir()
			base := filepath.Join(tmp, "networks")
			leaked := filepath.Join(base, "net-a", "192.0.2.12")
			write(t, leaked, sandbox('c'), time.Hour)
			d := New(Config{StateDir: filepath.Join(tmp, "state"), HostLocalDirs: []string{base},
				Reconcile: &Reconcile{Grace: time.Minute, Sandboxes: answer}})
			if _, err := d.ReconcileOnce(context.Background(), time.Now()); err == nil {
				t.Fatal("no error")
			}
			if !exists(leaked) {
				t.Fatal("freed while the runtime could not be asked")
			}
			if n := testutil.ToFloat64(d.rec.runs.WithLabelValues("error")); n != 1 {
				t.Errorf("error runs %v, want 1", n)
			}
		})
	}
}

// A host-local dataDir given besides the default one (a NAD's own) is reconciled the same way.
func TestReconcileFreesInEveryHostLocalDir(t *testing.T) {
	tmp := t.TempDir()
	base, other := filepath.Join(tmp, "networks"), filepath.Join(tmp, "pools")
	leaked := filepath.Join(other, "net-b", "198.51.100.7")
	write(t, leaked, sandbox('c')+"\r\nnet1", time.Hour)
	held := filepath.Join(other, "net-b", "198.51.100.8")
	write(t, held, sandbox('a')+"\r\nnet1", time.Hour)
	d := New(Config{StateDir: filepath.Join(tmp, "state"), HostLocalDirs: []string{base, other},
		Reconcile: &Reconcile{Grace: time.Minute,
			Sandboxes: func(context.Context) ([]cri.Sandbox, error) {
				return []cri.Sandbox{{ID: sandbox('a'), Ready: true}}, nil
			}}})
	freed, err := d.ReconcileOnce(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(freed) != 1 || freed[0].Network != "net-b" || freed[0].Item != "198.51.100.7" {
		t.Fatalf("freed %+v, want net-b's 198.51.100.7 alone", freed)
	}
	if exists(leaked) || !exists(held) {
		t.Fatalf("leaked there: %v, held there: %v", exists(leaked), exists(held))
	}
}
