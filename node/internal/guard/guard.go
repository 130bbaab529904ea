// Package guard keeps a CNI config on the node that stops pod sandboxes from being created
// while the Multus thick daemon is down, instead of letting them come up on the cluster
// network alone.
//
// Multus thick writes its own config, 00-multus.conf, into the runtime's CNI config dir when
// its daemon starts and deletes it when the daemon stops (SIGTERM, or its readiness indicator
// file going away). The runtime uses the first config of the dir in byte order, so while
// 00-multus.conf is gone it falls through to the cluster network's config (10-flannel.conflist,
// say) and the pods it sandboxes then run without the secondary networks they selected.
//
// The guard is a second config naming the multus-shim, placed between the two: it sorts after
// Multus' file and before any cluster network's. While Multus' file is there the runtime never
// reads the guard; while it is gone, an ADD through the guard reaches the shim, which waits for
// the daemon's socket and fails when no daemon answers, so the sandbox is not created and the
// kubelet tries again later. The guard carries neither clusterNetwork nor delegates: should the
// daemon answer before its own file is back, Multus refuses the request as well, so nothing is
// ever attached through the guard (the kubelet's next attempt uses Multus' file).
//
// Multus looks for the cluster network's config (multusConfigFile: auto) in the same dir, as
// the first .conf or .conflist in byte order whose name does not start with "00-multus"; the
// guard's name starts with it, so Multus never takes the guard for the cluster network.
package guard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"netplumb.dev/node/internal/atomicfile"
)

// FileName is the guard's name in the CNI config dir: it starts with "00-multus" (skipped by
// Multus' search for the cluster network) and sorts after "00-multus.conf" and
// "00-multus.conflist" ('n' > 'c' after the common "00-multus.") and before "05-…", "10-…".
const FileName = "00-multus.netplumb-guard.conf"

// MultusFile is the config Multus thick generates in the same dir.
const MultusFile = "00-multus.conf"

const shimType = "multus-shim"

// Check refuses a guard config that is not a stop sign: it must be a JSON object of type
// multus-shim with a name and a cniVersion, and carry no network of its own (clusterNetwork,
// delegates, defaultNetworks), so that no pod is ever attached through it.
func Check(content []byte) error {
	var conf map[string]any
	if err := json.Unmarshal(content, &conf); err != nil {
		return fmt.Errorf("guard config: %w", err)
	}
	if t, _ := conf["type"].(string); t != shimType {
		return fmt.Errorf("guard config: type %q, expected %q", conf["type"], shimType)
	}
	for _, key := range []string{"name", "cniVersion"} {
		if v, _ := conf[key].(string); v == "" {
			return fmt.Errorf("guard config: no %s", key)
		}
	}
	for _, key := range []string{"clusterNetwork", "delegates", "defaultNetworks"} {
		if _, ok := conf[key]; ok {
			return fmt.Errorf("guard config: carries %s; a guard must not attach pods to anything", key)
		}
	}
	return nil
}

// Ensure makes dir/FileName hold content: unchanged when it already does (the runtime reloads
// its configs on every change of the dir), else written to a temp file in dir, synced and
// renamed over it. It reports whether it wrote.
func Ensure(dir string, content []byte) (bool, error) {
	if err := Check(content); err != nil {
		return false, err
	}
	path := filepath.Join(dir, FileName)
	if cur, err := os.ReadFile(path); err == nil && bytes.Equal(cur, content) {
		return false, nil
	}
	if err := atomicfile.WriteBytes(path, ".netplumb-tmp-", 0o644, content); err != nil {
		return false, err
	}
	return true, nil
}

// Remove deletes dir/FileName; it reports whether there was one.
func Remove(dir string) (bool, error) {
	err := os.Remove(filepath.Join(dir, FileName))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, atomicfile.SyncDir(dir)
}

// OwnerGone answers, when the keeper stops, whether the guard's owner (the node plugin's
// DaemonSet) is gone or being deleted. An error means "unknown": the guard stays.
type OwnerGone func(ctx context.Context) (bool, error)

// Keep holds the guard in place until ctx ends: it writes it at once and again every interval
// if it went missing or changed. When ctx ends it asks ownerGone (with its own time limit of
// askFor): only an owner that is gone or being deleted takes the guard away. A pod of the
// node plugin that stops for any other reason (a rolling update, the node shutting down) leaves
// the guard in place, so the node stays closed until Multus' own file is back.
func Keep(ctx context.Context, dir string, content []byte, interval, askFor time.Duration,
	ownerGone OwnerGone, log io.Writer) error {
	if err := Check(content); err != nil {
		return err
	}
	ensure := func() {
		wrote, err := Ensure(dir, content)
		switch {
		case err != nil:
			fmt.Fprintf(log, "guard %s: %v\n", filepath.Join(dir, FileName), err)
		case wrote:
			fmt.Fprintf(log, "guard %s written\n", filepath.Join(dir, FileName))
		}
	}
	ensure()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			ensure()
		case <-ctx.Done():
			ask, cancel := context.WithTimeout(context.Background(), askFor)
			defer cancel()
			gone, err := ownerGone(ask)
			if err != nil {
				fmt.Fprintf(log, "guard kept: whether the node plugin is being removed is unknown: %v\n", err)
				return nil
			}
			if !gone {
				fmt.Fprintln(log, "guard kept: the node plugin stays")
				return nil
			}
			removed, err := Remove(dir)
			if err != nil {
				return err
			}
			if removed {
				fmt.Fprintf(log, "guard %s removed: the node plugin is being removed\n", filepath.Join(dir, FileName))
			}
			return nil
		}
	}
}
