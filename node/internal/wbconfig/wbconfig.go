// Package wbconfig writes what the whereabouts IPAM plugin needs on a node to reach the
// Kubernetes API: its flat file (whereabouts.conf: the kubernetes datastore, the kubeconfig's
// path, the reconciler schedule) and a kubeconfig holding the API server, its CA and the
// pod's service account token. The plugin runs on the host for every pod (whereabouts v0.9.2
// looks for /etc/cni/net.d/whereabouts.d/whereabouts.conf and refuses to work without a
// kubeconfig path), so the files must live on the host and follow the token as the kubelet
// rotates it.
//
// Files are written atomically (temp file, fsync, rename, directory fsync) with mode 0600,
// and only when their content changes: a reader sees the old or the new file, never a part.
package wbconfig

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"netplumb.dev/node/internal/atomicfile"
)

// File names in the whereabouts.d directory (where the plugin looks for them).
const (
	ConfFile       = "whereabouts.conf"
	KubeconfigFile = "whereabouts.kubeconfig"
	tmpPrefix      = ".wbconfig-tmp-"
)

// Options say what to write where.
type Options struct {
	Dir            string // the whereabouts.d directory as this process sees it (a host mount)
	HostDir        string // the same directory as the host (and the plugin) sees it
	Namespace      string // where the plugin keeps IPPools and leases (the kubeconfig's namespace)
	ReconcilerCron string // the flat file's reconciler_cron_expression ("" leaves it out)
	Server         string // API server URL; "" = https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT
	TokenFile      string // the service account token (re-read on every Write)
	CAFile         string // the API server's CA bundle ("" = none in the kubeconfig)
	Log            io.Writer
}

// Server is the API server URL of o: o.Server, or the in-cluster address (an IPv6 host in
// brackets).
func (o Options) server() (string, error) {
	if o.Server != "" {
		return o.Server, nil
	}
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return "", errors.New("not in a cluster (KUBERNETES_SERVICE_HOST/PORT unset) and no API server given")
	}
	return "https://" + net.JoinHostPort(host, port), nil
}

// Files renders the two files' contents.
func (o Options) Files() (conf, kubeconfig []byte, err error) {
	if o.Namespace == "" {
		return nil, nil, errors.New("no namespace")
	}
	server, err := o.server()
	if err != nil {
		return nil, nil, err
	}
	token, err := os.ReadFile(o.TokenFile)
	if err != nil {
		return nil, nil, fmt.Errorf("service account token: %w", err)
	}
	cluster := map[string]any{"server": server}
	if o.CAFile != "" {
		ca, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, nil, fmt.Errorf("API server CA: %w", err)
		}
		cluster["certificate-authority-data"] = base64.StdEncoding.EncodeToString(ca)
	}
	// JSON is YAML: client-go's clientcmd reads it as a kubeconfig.
	kc := map[string]any{
		"apiVersion": "v1",
		"kind":       "Config",
		"clusters":   []any{map[string]any{"name": "cluster", "cluster": cluster}},
		"users": []any{map[string]any{"name": "whereabouts",
			"user": map[string]any{"token": strings.TrimSpace(string(token))}}},
		"contexts": []any{map[string]any{"name": "whereabouts", "context": map[string]any{
			"cluster": "cluster", "user": "whereabouts", "namespace": o.Namespace}}},
		"current-context": "whereabouts",
	}
	flat := map[string]any{
		"datastore":  "kubernetes",
		"kubernetes": map[string]any{"kubeconfig": filepath.Join(o.HostDir, KubeconfigFile)},
	}
	if o.ReconcilerCron != "" {
		flat["reconciler_cron_expression"] = o.ReconcilerCron
	}
	if kubeconfig, err = json.MarshalIndent(kc, "", "  "); err != nil {
		return nil, nil, err
	}
	if conf, err = json.MarshalIndent(flat, "", "  "); err != nil {
		return nil, nil, err
	}
	return append(conf, '\n'), append(kubeconfig, '\n'), nil
}

// Write writes both files where their content differs from what is there, the kubeconfig
// first (the flat file names it). It reports the files it wrote.
func Write(o Options) ([]string, error) {
	conf, kubeconfig, err := o.Files()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	removeStaleTemps(o.Dir)
	var wrote []string
	for _, f := range []struct {
		name string
		body []byte
	}{{KubeconfigFile, kubeconfig}, {ConfFile, conf}} {
		changed, err := writeIfChanged(filepath.Join(o.Dir, f.name), f.body)
		if err != nil {
			return wrote, err
		}
		if changed {
			wrote = append(wrote, f.name)
		}
	}
	return wrote, nil
}

// Watch writes the files, then checks every interval whether the token or the CA changed and
// writes again until ctx ends. The first write must succeed; later failures are logged and
// retried (the files on the node stay as they were).
func Watch(ctx context.Context, o Options, interval time.Duration) error {
	logf := func(format string, args ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, format+"\n", args...)
		}
	}
	wrote, err := Write(o)
	if err != nil {
		return err
	}
	logf("wrote %s in %s", strings.Join(orNone(wrote), ", "), o.Dir)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			wrote, err := Write(o)
			switch {
			case err != nil:
				logf("not written: %v", err)
			case len(wrote) > 0:
				logf("rewrote %s (token or CA changed)", strings.Join(wrote, ", "))
			}
		}
	}
}

func orNone(names []string) []string {
	if len(names) == 0 {
		return []string{"nothing (up to date)"}
	}
	return names
}

func writeIfChanged(path string, body []byte) (bool, error) {
	if cur, err := os.ReadFile(path); err == nil && bytes.Equal(cur, body) {
		if st, err := os.Stat(path); err == nil && st.Mode().Perm() == 0o600 {
			return false, nil
		}
	}
	return true, atomicfile.WriteBytes(path, tmpPrefix, 0o600, body)
}

func removeStaleTemps(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
