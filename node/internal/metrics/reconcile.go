package metrics

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"netplumb.dev/node/internal/cri"
	"netplumb.dev/node/internal/ipam"
)

// Reconcile is what the daemon frees on its own: host-local reservations no ready sandbox
// holds (host-local has no reconciler, and a DEL lost while Multus was down leaves them) and
// Multus cache entries of sandboxes the runtime no longer has.
type Reconcile struct {
	Sandboxes      func(ctx context.Context) ([]cri.Sandbox, error) // the runtime's view (cri.List)
	Interval       time.Duration                                    // how often (default 1m)
	Grace          time.Duration                                    // never touch anything younger (default 5m)
	MultusCacheDir string                                           // "": leave Multus' cache alone
}

// Freed is one thing a reconcile pass removed.
type Freed struct {
	Kind      string // "host-local" or "multus-cache"
	Network   string // host-local: the network; multus-cache: ""
	Item      string // host-local: the address; multus-cache: the entry (relative path)
	Container string // the sandbox that held it
	Age       time.Duration
}

// sandboxID matches the 64-hex IDs containerd and CRI-O give sandboxes.
var sandboxID = regexp.MustCompile(`[0-9a-f]{64}`)

type reconcileMetrics struct {
	freed *prometheus.CounterVec
	runs  *prometheus.CounterVec
}

func newReconcileMetrics(reg *prometheus.Registry) reconcileMetrics {
	m := reconcileMetrics{
		freed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "netplumb_node_reconcile_freed_total",
			Help: "What the node plugin freed because no sandbox of the runtime held it any more: " +
				"kind=\"host-local\" reservation files (by network), kind=\"multus-cache\" entries.",
		}, []string{"kind", "network"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "netplumb_node_reconcile_runs_total",
			Help: "Reconcile passes by result: ok, or error (the runtime could not be asked: nothing freed).",
		}, []string{"result"}),
	}
	reg.MustRegister(m.freed, m.runs)
	return m
}

// ReconcileOnce frees what no sandbox holds, as of now. It frees nothing when the runtime
// cannot be asked or reports no sandbox at all (the node plugin's own pod has one).
func (d *Daemon) ReconcileOnce(ctx context.Context, now time.Time) ([]Freed, error) {
	r := d.cfg.Reconcile
	if r == nil || r.Sandboxes == nil {
		return nil, fmt.Errorf("reconcile is off")
	}
	boxes, err := r.Sandboxes(ctx)
	if err == nil && len(boxes) == 0 {
		err = fmt.Errorf("the runtime reports no sandbox, not even this pod's: nothing freed")
	}
	if err != nil {
		d.rec.runs.WithLabelValues("error").Inc()
		return nil, err
	}
	ready, known := map[string]bool{}, map[string]bool{}
	for _, b := range boxes {
		known[b.ID] = true
		if b.Ready {
			ready[b.ID] = true
		}
	}
	var out []Freed
	_, dirs := d.hostLocalDirs()
	networks := make([]string, 0, len(dirs))
	for n := range dirs {
		networks = append(networks, n)
	}
	sort.Strings(networks)
	for _, network := range networks {
		freed, err := freeHostLocal(dirs[network], network, ready, r.Grace, now)
		if err != nil {
			d.cfg.Log.Printf("reconcile %s: %v", network, err)
		}
		out = append(out, freed...)
	}
	if r.MultusCacheDir != "" {
		freed, err := freeMultusCache(r.MultusCacheDir, known, r.Grace, now)
		if err != nil {
			d.cfg.Log.Printf("reconcile Multus cache: %v", err)
		}
		out = append(out, freed...)
	}
	for _, f := range out {
		d.rec.freed.WithLabelValues(f.Kind, label(f.Network)).Inc()
		d.cfg.Log.Printf("freed %s %s%s (sandbox %s, %s old): no sandbox holds it",
			f.Kind, prefixed(f.Network), f.Item, short(f.Container), f.Age.Round(time.Second))
	}
	d.rec.runs.WithLabelValues("ok").Inc()
	return out, nil
}

func prefixed(network string) string {
	if network == "" {
		return ""
	}
	return network + " "
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// freeHostLocal removes the reservations in dir older than grace whose sandbox is not ready,
// each under host-local's own lock (the dir's "lock" file, flock: backend/disk), after
// reading it again.
func freeHostLocal(dir, network string, ready map[string]bool, grace time.Duration,
	now time.Time) ([]Freed, error) {
	found, err := ipam.ReservationsIn(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var stale []ipam.Reservation
	for _, r := range found {
		if now.Sub(r.Modified) >= grace && !ready[r.ContainerID] {
			stale = append(stale, r)
		}
	}
	if len(stale) == 0 {
		return nil, nil
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDONLY|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return nil, err
	}
	defer func() { _ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) }()
	var out []Freed
	for _, r := range stale {
		path := filepath.Join(dir, r.Addr.String())
		raw, err := os.ReadFile(path)
		if err != nil {
			continue // released meanwhile
		}
		if id, _ := ipam.Holder(raw); id != r.ContainerID {
			continue // handed out again meanwhile
		}
		if err := os.Remove(path); err != nil {
			return out, err
		}
		out = append(out, Freed{Kind: "host-local", Network: network, Item: r.Addr.String(),
			Container: r.ContainerID, Age: now.Sub(r.Modified)})
	}
	return out, nil
}

// freeMultusCache removes Multus' cache entries (files named by a sandbox ID, at the top or
// in a subdirectory such as libcni's results/) older than grace of sandboxes the runtime
// does not have at all (a stopped one may still get its DEL, which reads the cache).
func freeMultusCache(dir string, known map[string]bool, grace time.Duration,
	now time.Time) ([]Freed, error) {
	var out []Freed
	err := filepath.WalkDir(dir, func(path string, e os.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if e.IsDir() || !e.Type().IsRegular() {
			return nil
		}
		id := sandboxID.FindString(e.Name())
		if id == "" || known[id] {
			return nil
		}
		info, err := e.Info()
		if err != nil || now.Sub(info.ModTime()) < grace {
			return nil
		}
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		out = append(out, Freed{Kind: "multus-cache", Item: rel, Container: id,
			Age: now.Sub(info.ModTime())})
		return nil
	})
	return out, err
}

// runReconcile reconciles every interval until ctx ends (the first pass after one interval:
// a node that just started has sandboxes still being created).
func (d *Daemon) runReconcile(ctx context.Context) {
	r := d.cfg.Reconcile
	t := time.NewTicker(r.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			pass, cancel := context.WithTimeout(ctx, 30*time.Second)
			if _, err := d.ReconcileOnce(pass, time.Now()); err != nil {
				d.cfg.Log.Printf("reconcile: %v", err)
			}
			cancel()
		}
	}
}
