package main

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"netplumb.dev/node/internal/testbin"
)

func TestMain(m *testing.M) { testbin.Main(m) }

// The commands as the DaemonSet runs them: manifest, install, then a metrics daemon that sees
// an operation made through the installed shim.
func TestCommands(t *testing.T) {
	node := testbin.Build(t, testbin.Node)
	root, err := os.MkdirTemp("", "npcmd") // short: the state dir holds a unix socket
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(root)
	src, bin, state := filepath.Join(root, "src"), filepath.Join(root, "bin"), filepath.Join(root, "state")
	for _, d := range []string{src, bin, state} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	testbin.CopyFile(t, testbin.Build(t, testbin.Shim), filepath.Join(src, "netplumb-cni-shim"))
	testbin.CopyFile(t, testbin.Build(t, testbin.FakePlugin), filepath.Join(src, "fake"))

	out, err := exec.Command(node, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "containernetworking/plugins v1.9.1, whereabouts v0.9.2") {
		t.Fatalf("version: %s %v", out, err)
	}
	if out, err := exec.Command(node, "manifest", "--dir", src).CombinedOutput(); err != nil {
		t.Fatalf("manifest: %s %v", out, err)
	}
	manifest, _ := os.ReadFile(filepath.Join(src, "SHA256SUMS"))
	if !regexp.MustCompile(`^[0-9a-f]{64}  fake\n[0-9a-f]{64}  netplumb-cni-shim\n$`).Match(manifest) {
		t.Fatalf("manifest:\n%s", manifest)
	}
	out, err = exec.Command(node, "install", "--src", src, "--bin-dir", bin, "--state-dir", state).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "installed  fake") {
		t.Fatalf("install: %s %v", out, err)
	}
	if out, err := exec.Command(node, "install", "--plugins", "nope", "--src", src, "--bin-dir", bin).CombinedOutput(); err == nil {
		t.Fatalf("install of an unknown plugin succeeded: %s", out)
	}

	metrics := exec.Command(node, "metrics", "--listen", "127.0.0.1:0", "--state-dir", state,
		"--host-local-dir", filepath.Join(root, "networks"), "--kube-api", "off")
	stderr, err := metrics.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := metrics.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = metrics.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- metrics.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("metrics did not exit cleanly on SIGTERM: %v", err)
			}
		case <-time.After(10 * time.Second):
			_ = metrics.Process.Kill()
			t.Error("metrics did not stop on SIGTERM")
		}
	}()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		re := regexp.MustCompile(`serving on (\S+)`)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case <-time.After(10 * time.Second):
		t.Fatal("metrics did not start")
	}

	op := exec.Command(filepath.Join(bin, "fake"))
	op.Env = []string{"CNI_COMMAND=ADD", "CNI_CONTAINERID=c1", "CNI_IFNAME=net1", "CNI_NETNS=/x",
		"CNI_ARGS=K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=p"}
	op.Stdin = strings.NewReader(`{"cniVersion":"1.0.0","name":"storage","type":"fake","fake":{"stdout":"{}"}}`)
	if out, err := op.CombinedOutput(); err != nil || string(out) != "{}" {
		t.Fatalf("ADD through the installed shim: %q %v", out, err)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`multus_cni_operations_total{network="storage",op="ADD",plugin="fake",result="success"} 1`,
		`multus_network_attachments_total{namespace="team-a",network="storage"} 1`,
		`netplumb_node_socket_records_total 1`,
		`netplumb_node_build_info{cni_plugins="v1.9.1"`,
	} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", body)
	}
}

// The Multus guard as the DaemonSet places it: the install init container writes it (or
// removes it when turned off), the multus-guard container keeps it and takes it away on
// SIGTERM only when the node plugin's DaemonSet is gone or being deleted.
func TestMultusGuard(t *testing.T) {
	node := testbin.Build(t, testbin.Node)
	root := t.TempDir()
	src, bin, conf := filepath.Join(root, "src"), filepath.Join(root, "bin"), filepath.Join(root, "net.d")
	for _, d := range []string{src, bin, conf} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	testbin.CopyFile(t, testbin.Build(t, testbin.FakePlugin), filepath.Join(src, "fake"))
	if out, err := exec.Command(node, "manifest", "--dir", src).CombinedOutput(); err != nil {
		t.Fatalf("manifest: %s %v", out, err)
	}
	guardConf := `{"cniVersion":"0.3.1","name":"multus-cni-network","type":"multus-shim","daemonSocketDir":"/run/multus/"}`
	path := filepath.Join(conf, "00-multus.netplumb-guard.conf")
	install := func(extra ...string) string {
		args := append([]string{"install", "--src", src, "--bin-dir", bin, "--shim=false"}, extra...)
		out, err := exec.Command(node, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("install %v: %s %v", extra, out, err)
		}
		return string(out)
	}
	if out := install("--cni-conf-dir", conf, "--multus-guard", guardConf); !strings.Contains(out, "installed  "+path) {
		t.Fatalf("guard not reported: %s", out)
	}
	if got, _ := os.ReadFile(path); string(got) != guardConf {
		t.Fatalf("guard holds %q", got)
	}
	if out := install("--cni-conf-dir", conf); !strings.Contains(out, "removed    "+path) {
		t.Fatalf("guard removal not reported: %s", out)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("guard left after it was turned off")
	}
	if out, err := exec.Command(node, "install", "--src", src, "--bin-dir", bin, "--multus-guard", guardConf).CombinedOutput(); err == nil {
		t.Fatalf("--multus-guard without --cni-conf-dir accepted: %s", out)
	}
	if out, err := exec.Command(node, "multus-guard", "--cni-conf-dir", conf, "--config", `{"type":"flannel"}`).CombinedOutput(); err == nil {
		t.Fatalf("a guard that is not a multus-shim stop sign accepted: %s", out)
	}

	for _, c := range []struct {
		name   string
		status int
		body   string
		stays  bool
	}{
		{"daemonset stays", http.StatusOK, `{"metadata":{"name":"netplumb-node"}}`, true},
		{"daemonset being deleted", http.StatusOK, `{"metadata":{"deletionTimestamp":"2026-12-06T17:00:00Z"}}`, false},
		{"daemonset gone", http.StatusNotFound, `{"kind":"Status"}`, false},
		{"API failing", http.StatusInternalServerError, `{"message":"etcd"}`, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var asked atomic.Value
			asked.Store("")
			api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				asked.Store(r.URL.Path)
				w.WriteHeader(c.status)
				_, _ = io.WriteString(w, c.body)
			}))
			defer api.Close()
			keeper := exec.Command(node, "multus-guard", "--cni-conf-dir", conf, "--config", guardConf,
				"--interval", "20ms", "--daemonset", "kube-system/netplumb-node",
				"--kube-api", api.URL, "--kube-ca-file", "", "--kube-token-file", "")
			var out bytes.Buffer
			keeper.Stdout, keeper.Stderr = &out, &out
			if err := keeper.Start(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, func() bool { _, err := os.Stat(path); return err == nil })
			_ = os.Remove(path) // someone cleans the dir: put back
			waitFor(t, func() bool { _, err := os.Stat(path); return err == nil })
			_ = keeper.Process.Signal(syscall.SIGTERM)
			if err := keeper.Wait(); err != nil {
				t.Fatalf("multus-guard: %v\n%s", err, out.String())
			}
			if got := asked.Load(); got != "/apis/apps/v1/namespaces/kube-system/daemonsets/netplumb-node" {
				t.Errorf("asked for %q", got)
			}
			_, err := os.Stat(path)
			if stays := err == nil; stays != c.stays {
				t.Fatalf("guard stays %v, want %v\n%s", stays, c.stays, out.String())
			}
		})
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
