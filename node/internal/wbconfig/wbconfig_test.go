package wbconfig

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"netplumb.dev/node/internal/testbin"
)

type fixture struct {
	dir, token, ca string
	opts           Options
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	root := t.TempDir()
	f := fixture{dir: filepath.Join(root, "host", "whereabouts.d"), token: filepath.Join(root, "token"),
		ca: filepath.Join(root, "ca.crt")}
	write(t, f.token, "token-one\n")
	write(t, f.ca, "-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n")
	f.opts = Options{Dir: f.dir, HostDir: "/etc/cni/net.d/whereabouts.d", Namespace: "ipam",
		ReconcilerCron: "30 4 * * *", Server: "https://198.51.100.7:6443", TokenFile: f.token,
		CAFile: f.ca}
	return f
}

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return out
}

func TestWritesTheFlatFileAndKubeconfig(t *testing.T) {
	f := newFixture(t)
	wrote, err := Write(f.opts)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(wrote, ",") != "whereabouts.kubeconfig,whereabouts.conf" {
		t.Fatalf("wrote %v", wrote)
	}
	conf := readJSON(t, filepath.Join(f.dir, ConfFile))
	want := map[string]any{"datastore": "kubernetes", "reconciler_cron_expression": "30 4 * * *",
		"kubernetes": map[string]any{"kubeconfig": "/etc/cni/net.d/whereabouts.d/whereabouts.kubeconfig"}}
	if got, _ := json.Marshal(conf); string(got) != string(must(json.Marshal(want))) {
		t.Fatalf("conf %s", got)
	}
	kc := readJSON(t, filepath.Join(f.dir, KubeconfigFile))
	if kc["current-context"] != "whereabouts" {
		t.Fatalf("kubeconfig %v", kc)
	}
	ctx := kc["contexts"].([]any)[0].(map[string]any)["context"].(map[string]any)
	cluster := kc["clusters"].([]any)[0].(map[string]any)["cluster"].(map[string]any)
	user := kc["users"].([]any)[0].(map[string]any)["user"].(map[string]any)
	if ctx["namespace"] != "ipam" || cluster["server"] != "https://198.51.100.7:6443" ||
		user["token"] != "token-one" || cluster["certificate-authority-data"] == "" {
		t.Fatalf("kubeconfig %v", kc)
	}
	for _, name := range []string{ConfFile, KubeconfigFile} {
		st, err := os.Stat(filepath.Join(f.dir, name))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", name, st, err)
		}
	}
}

func TestSecondWriteChangesNothingAndATokenRotationRewritesTheKubeconfig(t *testing.T) {
	f := newFixture(t)
	if _, err := Write(f.opts); err != nil {
		t.Fatal(err)
	}
	before := map[string]os.FileInfo{}
	for _, n := range []string{ConfFile, KubeconfigFile} {
		before[n], _ = os.Stat(filepath.Join(f.dir, n))
	}
	wrote, err := Write(f.opts)
	if err != nil || len(wrote) != 0 {
		t.Fatalf("second write: %v %v", wrote, err)
	}
	for n, st := range before {
		now, _ := os.Stat(filepath.Join(f.dir, n))
		if !os.SameFile(st, now) || !now.ModTime().Equal(st.ModTime()) {
			t.Fatalf("%s rewritten", n)
		}
	}
	write(t, f.token, "token-two")
	wrote, err = Write(f.opts)
	if err != nil || strings.Join(wrote, ",") != KubeconfigFile {
		t.Fatalf("after rotation: %v %v", wrote, err)
	}
	if !bytes.Contains(must(os.ReadFile(filepath.Join(f.dir, KubeconfigFile))), []byte(`"token-two"`)) {
		t.Fatal("new token not written")
	}
	if now, _ := os.Stat(filepath.Join(f.dir, ConfFile)); !os.SameFile(before[ConfFile], now) {
		t.Fatal("flat file rewritten though unchanged")
	}
	entries, _ := os.ReadDir(f.dir)
	if len(entries) != 2 {
		t.Fatalf("left behind: %v", entries)
	}
}

func TestInClusterServerAndFailures(t *testing.T) {
	f := newFixture(t)
	o := f.opts
	o.Server = ""
	t.Setenv("KUBERNETES_SERVICE_HOST", "2001:db8::1")
	t.Setenv("KUBERNETES_SERVICE_PORT", "443")
	if _, err := Write(o); err != nil {
		t.Fatal(err)
	}
	kc := readJSON(t, filepath.Join(f.dir, KubeconfigFile))
	cluster := kc["clusters"].([]any)[0].(map[string]any)["cluster"].(map[string]any)
	if cluster["server"] != "https://[2001:db8::1]:443" {
		t.Fatalf("server %v", cluster["server"])
	}
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	if _, err := Write(o); err == nil || !strings.Contains(err.Error(), "not in a cluster") {
		t.Fatalf("no server: %v", err)
	}
	// no token: an error, and the files already there stay as they were
	before := must(os.ReadFile(filepath.Join(f.dir, KubeconfigFile)))
	o = f.opts
	o.TokenFile = filepath.Join(t.TempDir(), "absent")
	if _, err := Write(o); err == nil || !strings.Contains(err.Error(), "token") {
		t.Fatalf("no token: %v", err)
	}
	if !bytes.Equal(before, must(os.ReadFile(filepath.Join(f.dir, KubeconfigFile)))) {
		t.Fatal("kubeconfig changed by a failed write")
	}
	o = f.opts
	o.Namespace = ""
	if _, err := Write(o); err == nil {
		t.Fatal("no namespace accepted")
	}
}

func TestWatchFollowsTheToken(t *testing.T) {
	f := newFixture(t)
	var log syncBuffer
	f.opts.Log = &log
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Watch(ctx, f.opts, 10*time.Millisecond) }()
	kubeconfig := filepath.Join(f.dir, KubeconfigFile)
	waitFor(t, func() bool { return bytes.Contains(readOrNil(kubeconfig), []byte("token-one")) })
	write(t, f.token, "token-three")
	waitFor(t, func() bool { return bytes.Contains(readOrNil(kubeconfig), []byte("token-three")) })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "rewrote whereabouts.kubeconfig") {
		t.Fatalf("log: %s", log.String())
	}
	// the first write must work: a missing token is an error at once
	f.opts.TokenFile = filepath.Join(t.TempDir(), "absent")
	if err := Watch(context.Background(), f.opts, time.Hour); err == nil {
		t.Fatal("watch without a token succeeded")
	}
}

// The real whereabouts plugin (v0.9.2, from the tool cache) reads the files: it reaches the API
// server of the kubeconfig over TLS with the CA, the token, and the namespace.
func TestWhereaboutsPluginUsesTheFiles(t *testing.T) {
	plugin := testbin.ToolBinary("whereabouts")
	if plugin == "" {
		t.Skip("whereabouts is not built in the tool cache (python -m harness.tools build whereabouts)")
	}
	type seen struct{ path, auth string }
	requests := make(chan seen, 16)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case requests <- seen{r.URL.Path, r.Header.Get("Authorization")}:
		default:
		}
		http.Error(w, `{"kind":"Status","status":"Failure","code":503}`, http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	f := newFixture(t)
	write(t, f.ca, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
	f.opts.Server = srv.URL
	f.opts.HostDir = f.dir // the plugin reads them where this test wrote them
	if _, err := Write(f.opts); err != nil {
		t.Fatal(err)
	}
	conf := `{"cniVersion":"0.3.1","name":"wbtest","type":"macvlan","ipam":{"type":"whereabouts",` +
		`"range":"198.51.100.0/28","configuration_path":"` + filepath.Join(f.dir, ConfFile) + `"}}`
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, plugin)
	cmd.Stdin = strings.NewReader(conf)
	cmd.Env = []string{"CNI_COMMAND=ADD", "CNI_CONTAINERID=0123456789ab", "CNI_NETNS=/run/netns/wbtest",
		"CNI_IFNAME=net1", "CNI_PATH=/nonexistent",
		"CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=p"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGKILL); _ = cmd.Wait() }()
	select {
	case r := <-requests:
		if r.auth != "Bearer token-one" {
			t.Fatalf("Authorization %q", r.auth)
		}
		if !strings.Contains(r.path, "/namespaces/ipam/") {
			t.Fatalf("request outside the kubeconfig's namespace: %s", r.path)
		}
	case <-ctx.Done():
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		t.Fatalf("the plugin never reached the API server; its output:\n%s", out.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func readOrNil(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
