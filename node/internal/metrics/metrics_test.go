package metrics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"netplumb.dev/node/internal/kube"
	"netplumb.dev/node/internal/metrics"
	"netplumb.dev/node/internal/testbin"
)

func TestMain(m *testing.M) { testbin.Main(m) }

// node is a CNI bin dir with shims in front of the fake plugin (as "fake") and, when the tool
// cache has it, the real host-local (as "host-local"), plus the state dir and a metrics daemon.
type node struct {
	bin, state, hostLocal string
	daemon                *metrics.Daemon
	server                *httptest.Server
	conn                  *net.UnixConn
}

func newNode(t *testing.T, cfg metrics.Config) *node {
	t.Helper()
	n := newNodeWithoutDaemon(t, cfg)
	n.start(t, cfg)
	return n
}

// newNodeWithoutDaemon lays out the node; start starts the daemon.
func newNodeWithoutDaemon(t *testing.T, cfg metrics.Config) *node {
	t.Helper()
	root, err := os.MkdirTemp("", "np") // short: the socket path must fit in 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	n := &node{bin: filepath.Join(root, "bin"), state: filepath.Join(root, "state"),
		hostLocal: filepath.Join(root, "networks")}
	testbin.ShimLayout(t, n.bin, n.state, "fake", testbin.Build(t, testbin.FakePlugin))
	if hl := testbin.ToolBinary("host-local"); hl != "" {
		testbin.ShimLayout(t, n.bin, n.state, "host-local", hl)
	}
	return n
}

// start runs a metrics daemon (a new one each call: a restart) listening on the shims' socket.
func (n *node) start(t *testing.T, cfg metrics.Config) {
	t.Helper()
	if n.conn != nil {
		n.conn.Close()
		n.server.Close()
	}
	cfg.StateDir = n.state
	cfg.HostLocalDirs = []string{n.hostLocal}
	n.daemon = metrics.New(cfg)
	conn, err := n.daemon.Listen()
	if err != nil {
		t.Fatal(err)
	}
	n.conn = conn
	n.daemon.Attach(conn)
	n.server = httptest.NewServer(n.daemon.Handler())
	t.Cleanup(func() {
		n.server.Close()
		n.conn.Close()
	})
}

// stop stops the daemon: its socket stays behind, stale.
func (n *node) stop() {
	n.server.Close()
	n.conn.Close()
}

type op struct {
	plugin, cmd, container string
	conf                   map[string]any
	env                    []string
}

// run executes one CNI operation through the shim and returns the plugin's exit status.
func (n *node) run(t *testing.T, o op) int {
	t.Helper()
	body, err := json.Marshal(o.conf)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(n.bin, o.plugin))
	cmd.Env = append([]string{"CNI_COMMAND=" + o.cmd, "CNI_CONTAINERID=" + o.container, "CNI_IFNAME=net1",
		"CNI_NETNS=/var/run/netns/" + o.container, "CNI_PATH=" + n.bin,
		"CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=pod-" + o.container}, o.env...)
	cmd.Stdin = bytes.NewReader(body)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", o.plugin, o.cmd, err, errb.String())
	}
	return 0
}

// scrape fetches /metrics and parses it.
func (n *node) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(n.server.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("scrape: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// value finds the sample of family name whose labels include want; ok is false if none.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func mustValue(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string, expect float64) {
	t.Helper()
	got, ok := value(fams, name, want)
	if !ok {
		t.Fatalf("%s%v: no sample", name, want)
	}
	if got != expect {
		t.Fatalf("%s%v = %v, want %v", name, want, got, expect)
	}
}

func fakeConf(network string, fake map[string]any) map[string]any {
	return map[string]any{"cniVersion": "1.0.0", "name": network, "type": "fake", "fake": fake}
}

func TestCountsWhatTheShimsRecorded(t *testing.T) {
	n := newNode(t, metrics.Config{})
	ok := fakeConf("storage", map[string]any{"stdout": `{"cniVersion":"1.0.0"}`, "sleepMs": 30})
	failing := fakeConf("storage", map[string]any{"exit": 1,
		"stdout": `{"cniVersion":"1.0.0","code":999,"msg":"failed to lookup master \"eth9\": Link not found"}`})
	for _, c := range []string{"a", "b", "c"} {
		if st := n.run(t, op{plugin: "fake", cmd: "ADD", container: c, conf: ok}); st != 0 {
			t.Fatalf("ADD exit %d", st)
		}
	}
	for _, c := range []string{"d", "e"} {
		if st := n.run(t, op{plugin: "fake", cmd: "ADD", container: c, conf: failing}); st != 1 {
			t.Fatalf("failing ADD exit %d", st)
		}
	}
	for _, cmd := range []string{"CHECK", "STATUS", "VERSION"} {
		n.run(t, op{plugin: "fake", cmd: cmd, container: "a", conf: ok})
	}
	fams := n.scrape(t)
	labels := func(op, result string) map[string]string {
		return map[string]string{"network": "storage", "plugin": "fake", "op": op, "result": result}
	}
	mustValue(t, fams, metrics.OpsName, labels("ADD", "success"), 3)
	mustValue(t, fams, metrics.OpsName, labels("ADD", "error"), 2)
	mustValue(t, fams, metrics.OpsName, labels("CHECK", "success"), 1)
	mustValue(t, fams, metrics.OpsName, labels("STATUS", "success"), 1)
	mustValue(t, fams, metrics.OpsName, labels("VERSION", "success"), 1)
	mustValue(t, fams, metrics.ErrorsName, map[string]string{"network": "storage", "plugin": "fake", "op": "ADD",
		"reason": `999: failed to lookup master "eth9": Link not found`}, 2)
	mustValue(t, fams, metrics.AttachmentsName, map[string]string{"namespace": "team-a", "network": "storage"}, 3)

	// histogram: 5 ADDs, the three successful ones slept 30 ms, so they sit above the 25 ms bucket
	var h *dto.Histogram
	for _, m := range fams[metrics.DurationName].Metric {
		if labelOf(m, "op") == "ADD" {
			h = m.Histogram
		}
	}
	if h == nil || h.GetSampleCount() != 5 {
		t.Fatalf("ADD histogram %v", h)
	}
	buckets := map[float64]uint64{}
	for _, b := range h.Bucket {
		buckets[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	if buckets[0.025] > 2 || buckets[10] != 5 || h.GetSampleSum() < 0.09 {
		t.Fatalf("ADD buckets %v sum %v: the 30 ms operations are not where they belong", buckets, h.GetSampleSum())
	}

	// DEL down, repeated DEL stays at zero
	for i := 0; i < 3; i++ {
		n.run(t, op{plugin: "fake", cmd: "DEL", container: "a", conf: ok})
	}
	n.run(t, op{plugin: "fake", cmd: "DEL", container: "b", conf: ok})
	fams = n.scrape(t)
	mustValue(t, fams, metrics.AttachmentsName, map[string]string{"namespace": "team-a", "network": "storage"}, 1)
	mustValue(t, fams, metrics.OpsName, labels("DEL", "success"), 4)
	n.run(t, op{plugin: "fake", cmd: "DEL", container: "c", conf: ok})
	n.run(t, op{plugin: "fake", cmd: "DEL", container: "c", conf: ok})
	fams = n.scrape(t)
	mustValue(t, fams, metrics.AttachmentsName, map[string]string{"namespace": "team-a", "network": "storage"}, 0)
	mustValue(t, fams, "netplumb_node_socket_records_total", nil, 5+3+6)
	mustValue(t, fams, "netplumb_node_spool_records_total", nil, 0)
}

// With the daemon down (its socket stale), operations still succeed; their records wait in
// the spool and are counted when a daemon comes back. (A datagram still in the socket when
// the daemon stops dies with the daemon's counters: the next daemon starts from zero anyway.)
func TestRecordsWaitWhileTheDaemonIsDown(t *testing.T) {
	n := newNode(t, metrics.Config{})
	ok := fakeConf("storage", map[string]any{"stdout": "{}"})
	n.run(t, op{plugin: "fake", cmd: "ADD", container: "a", conf: ok})
	n.stop()
	for _, c := range []string{"b", "c"} {
		if st := n.run(t, op{plugin: "fake", cmd: "ADD", container: c, conf: ok}); st != 0 {
			t.Fatalf("ADD with the daemon down: exit %d", st)
		}
	}
	n.run(t, op{plugin: "fake", cmd: "DEL", container: "a", conf: ok})
	n.start(t, metrics.Config{})
	fams := n.scrape(t)
	mustValue(t, fams, metrics.OpsName, map[string]string{"network": "storage", "op": "ADD"}, 2)
	mustValue(t, fams, metrics.OpsName, map[string]string{"network": "storage", "op": "DEL"}, 1)
	mustValue(t, fams, "netplumb_node_spool_records_total", nil, 3)
	mustValue(t, fams, metrics.AttachmentsName, map[string]string{"namespace": "team-a", "network": "storage"}, 2)
}

func labelOf(m *dto.Metric, name string) string {
	for _, l := range m.Label {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// Attachments live in files: a new daemon (after a restart) reports the same.
func TestAttachmentsSurviveDaemonRestart(t *testing.T) {
	n := newNode(t, metrics.Config{})
	ok := fakeConf("storage", map[string]any{"stdout": "{}"})
	n.run(t, op{plugin: "fake", cmd: "ADD", container: "a", conf: ok})
	n.run(t, op{plugin: "fake", cmd: "ADD", container: "b", conf: fakeConf("other", map[string]any{"stdout": "{}"})})
	n.stop()
	n.start(t, metrics.Config{})
	fams := n.scrape(t)
	mustValue(t, fams, metrics.AttachmentsName, map[string]string{"namespace": "team-a", "network": "storage"}, 1)
	mustValue(t, fams, metrics.AttachmentsName, map[string]string{"namespace": "team-a", "network": "other"}, 1)
}

func TestReasonsAreBoundedAndNormalized(t *testing.T) {
	n := newNode(t, metrics.Config{})
	for i := 0; i < 25; i++ {
		msg := fmt.Sprintf("netns /var/run/netns/cni-%08x-1111-2222-3333-444455556666 for 192.0.2.%d: boom", i, i)
		n.run(t, op{plugin: "fake", cmd: "ADD", container: fmt.Sprint(i), conf: fakeConf("storage",
			map[string]any{"exit": 1, "stdout": fmt.Sprintf(`{"code":7,"msg":%q}`, msg)})})
	}
	for i := 0; i < 25; i++ {
		n.run(t, op{plugin: "fake", cmd: "DEL", container: fmt.Sprint(i), conf: fakeConf("storage",
			map[string]any{"exit": 1, "stdout": fmt.Sprintf(`{"code":11,"msg":"try %d later"}`, i)})})
	}
	n.run(t, op{plugin: "fake", cmd: "CHECK", container: "x", conf: fakeConf("storage", map[string]any{"exit": 3})})
	fams := n.scrape(t)
	mustValue(t, fams, metrics.ErrorsName, map[string]string{"op": "ADD", "reason": "7: netns <netns> for <ip>: boom"}, 25)
	// short numbers stay, so "try N later" are 25 distinct reasons: the cap keeps 20
	var delReasons []string
	for _, m := range fams[metrics.ErrorsName].Metric {
		if labelOf(m, "op") == "DEL" {
			delReasons = append(delReasons, labelOf(m, "reason"))
		}
	}
	sort.Strings(delReasons)
	if len(delReasons) != 21 || delReasons[len(delReasons)-1] != "other" {
		t.Fatalf("DEL reasons (%d): %v", len(delReasons), delReasons)
	}
	mustValue(t, fams, metrics.ErrorsName, map[string]string{"op": "DEL", "reason": "other"}, 5)
	mustValue(t, fams, metrics.ErrorsName, map[string]string{"op": "CHECK", "reason": "exit 3"}, 1)
}

// writeReservation writes a reservation file the way host-local does (disk/backend.go Reserve).
func writeReservation(t *testing.T, dir, ip, container string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ip), []byte(container+"\r\nnet1"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestHostLocalPoolsFromReservationFiles(t *testing.T) {
	n := newNode(t, metrics.Config{})
	// a network a shim reported (so its ranges are known), with its state in the default dir
	ipamConf := map[string]any{"type": "host-local", "ranges": []any{
		[]any{map[string]any{"subnet": "192.0.2.0/24", "rangeStart": "192.0.2.100", "rangeEnd": "192.0.2.119"}},
		[]any{map[string]any{"subnet": "2001:db8::/120"}}}}
	conf := fakeConf("storage", map[string]any{"stdout": "{}"})
	conf["ipam"] = ipamConf
	n.run(t, op{plugin: "fake", cmd: "ADD", container: "a", conf: conf})
	dir := filepath.Join(n.hostLocal, "storage")
	for i, ip := range []string{"192.0.2.100", "192.0.2.101", "192.0.2.119", "2001:db8::2", "198.51.100.9"} {
		writeReservation(t, dir, ip, fmt.Sprint("c", i))
	}
	writeReservation(t, dir, "last_reserved_ip.0", "192.0.2.119")
	writeReservation(t, dir, "lock", "")
	// a network nobody reported: use only
	writeReservation(t, filepath.Join(n.hostLocal, "mystery"), "203.0.113.5", "c9")

	fams := n.scrape(t)
	pool := func(network, pool string) map[string]string {
		return map[string]string{"ipam": "host-local", "network": network, "pool": pool}
	}
	mustValue(t, fams, metrics.PoolSizeName, pool("storage", "192.0.2.100-192.0.2.119"), 20)
	mustValue(t, fams, metrics.PoolUsedName, pool("storage", "192.0.2.100-192.0.2.119"), 3)
	mustValue(t, fams, metrics.PoolSizeName, pool("storage", "2001:db8::/120"), 254)
	mustValue(t, fams, metrics.PoolUsedName, pool("storage", "2001:db8::/120"), 1)
	mustValue(t, fams, metrics.PoolUsedName, pool("storage", "unknown"), 1)
	mustValue(t, fams, metrics.PoolUsedName, pool("mystery", "unknown"), 1)
	if _, ok := value(fams, metrics.PoolSizeName, pool("mystery", "unknown")); ok {
		t.Fatal("a size was reported for a network whose ranges are unknown")
	}

	// the daemon remembers the ranges across a restart
	n.stop()
	n.start(t, metrics.Config{})
	mustValue(t, n.scrape(t), metrics.PoolSizeName, pool("storage", "192.0.2.100-192.0.2.119"), 20)
}

// /host-local serves every network's reservations with their holders and ages (doctor
// compares them with the node's pods).
func TestHostLocalReservationsServed(t *testing.T) {
	n := newNode(t, metrics.Config{})
	writeReservation(t, filepath.Join(n.hostLocal, "storage"), "192.0.2.101", "c1")
	writeReservation(t, filepath.Join(n.hostLocal, "storage"), "192.0.2.100", "c0")
	writeReservation(t, filepath.Join(n.hostLocal, "storage"), "lock", "")
	old := filepath.Join(n.hostLocal, "cbr0", "198.51.100.9")
	writeReservation(t, filepath.Dir(old), "198.51.100.9", "gone")
	past := time.Now().Add(-10 * time.Minute)
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(n.server.URL + "/host-local")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got []metrics.HostLocalNetwork
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Network != "cbr0" || got[1].Network != "storage" {
		t.Fatalf("networks %+v", got)
	}
	if got[1].Dir != filepath.Join(n.hostLocal, "storage") || len(got[1].Reservations) != 2 ||
		got[1].Reservations[0].IP != "192.0.2.100" || got[1].Reservations[0].ContainerID != "c0" ||
		got[1].Reservations[0].IfName != "net1" || got[1].Reservations[1].IP != "192.0.2.101" {
		t.Fatalf("storage %+v", got[1])
	}
	if r := got[0].Reservations; len(r) != 1 || r[0].ContainerID != "gone" || r[0].AgeSeconds < 590 ||
		r[0].AgeSeconds > 900 {
		t.Fatalf("cbr0 %+v", got[0])
	}
	if a := got[1].Reservations[0].AgeSeconds; a < 0 || a > 60 {
		t.Fatalf("a fresh reservation's age %v", a)
	}
}

// The real host-local plugin (tool cache) writes and removes the reservation files; its
// operations go through the shim, which also reports the network's ranges.
func TestHostLocalPoolsWithRealPlugin(t *testing.T) {
	if testbin.ToolBinary("host-local") == "" {
		t.Skip("no host-local in the tool cache (make tools builds containernetworking/plugins v1.9.1)")
	}
	n := newNode(t, metrics.Config{})
	dataDir := filepath.Join(t.TempDir(), "hl-data")
	conf := map[string]any{"cniVersion": "1.0.0", "name": "hl", "type": "macvlan",
		"ipam": map[string]any{"type": "host-local", "subnet": "198.51.100.0/24",
			"rangeStart": "198.51.100.10", "rangeEnd": "198.51.100.19", "dataDir": dataDir}}
	for _, c := range []string{"a", "b", "c"} {
		if st := n.run(t, op{plugin: "host-local", cmd: "ADD", container: c, conf: conf}); st != 0 {
			t.Fatalf("host-local ADD exit %d", st)
		}
	}
	n.run(t, op{plugin: "host-local", cmd: "DEL", container: "b", conf: conf})
	fams := n.scrape(t)
	pool := map[string]string{"ipam": "host-local", "network": "hl", "pool": "198.51.100.10-198.51.100.19"}
	mustValue(t, fams, metrics.PoolSizeName, pool, 10)
	mustValue(t, fams, metrics.PoolUsedName, pool, 2)
	mustValue(t, fams, metrics.OpsName, map[string]string{"network": "hl", "plugin": "host-local", "op": "ADD", "result": "success"}, 3)
	// host-local was called as macvlan's IPAM ("type" is macvlan): not an attachment of its own
	if v, ok := value(fams, metrics.AttachmentsName, map[string]string{"network": "hl"}); ok && v != 0 {
		t.Fatalf("IPAM call counted as attachment: %v", v)
	}
}

// fakeAPI serves IPPools and NADs shaped like the real CRDs' JSON over TLS and checks the
// bearer token.
type fakeAPI struct {
	srv      *httptest.Server
	caFile   string
	token    string
	pools    atomic.Value // JSON body
	nads     atomic.Value
	requests atomic.Int64
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	a := &fakeAPI{token: "s3cr3t"}
	a.pools.Store(`{"apiVersion":"whereabouts.cni.cncf.io/v1alpha1","kind":"IPPoolList","metadata":{},"items":[]}`)
	a.nads.Store(`{"apiVersion":"k8s.cni.cncf.io/v1","kind":"NetworkAttachmentDefinitionList","metadata":{},"items":[]}`)
	a.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.requests.Add(1)
		if r.Header.Get("Authorization") != "Bearer "+a.token {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"kind":"Status","message":"Unauthorized"}`)
			return
		}
		switch r.URL.Path {
		case metrics.IPPoolsPath:
			fmt.Fprint(w, a.pools.Load())
		case metrics.NADsPath:
			fmt.Fprint(w, a.nads.Load())
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(a.srv.Close)
	dir := t.TempDir()
	a.caFile = filepath.Join(dir, "ca.crt")
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.srv.Certificate().Raw})
	if err := os.WriteFile(a.caFile, ca, 0o644); err != nil {
		t.Fatal(err)
	}
	return a
}

func (a *fakeAPI) client(t *testing.T) *kube.Client {
	t.Helper()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(a.token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := kube.New(a.srv.URL, tokenFile, a.caFile, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ippool renders an IPPool the way the API server returns whereabouts' CR.
func ippool(name, rng string, allocated ...int) map[string]any {
	allocs := map[string]any{}
	for _, off := range allocated {
		allocs[fmt.Sprint(off)] = map[string]any{"id": fmt.Sprintf("c%d", off), "podref": fmt.Sprintf("team-a/pod-%d", off), "ifname": "net1"}
	}
	return map[string]any{
		"apiVersion": "whereabouts.cni.cncf.io/v1alpha1", "kind": "IPPool",
		"metadata": map[string]any{"name": name, "namespace": "kube-system", "resourceVersion": "42",
			"uid": "5b1d2c1e-0000-4000-8000-000000000001", "generation": 3,
			"creationTimestamp": "2026-11-30T10:00:00Z"},
		"spec": map[string]any{"range": rng, "allocations": allocs},
	}
}

func list(kind string, items ...map[string]any) string {
	body, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": kind,
		"metadata": map[string]any{"resourceVersion": "7"}, "items": items})
	return string(body)
}

func TestWhereaboutsPoolsFromTheAPI(t *testing.T) {
	api := newFakeAPI(t)
	n := newNode(t, metrics.Config{Kube: api.client(t)})
	wbConf := `{"cniVersion":"1.0.0","name":"prod-net","type":"macvlan","master":"eth1",` +
		`"ipam":{"type":"whereabouts","range":"192.0.2.0/24","range_start":"192.0.2.10","range_end":"192.0.2.59","network_name":"prod"}}`
	api.nads.Store(list("NetworkAttachmentDefinitionList", map[string]any{
		"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
		"metadata": map[string]any{"name": "prod-net", "namespace": "team-a"},
		"spec":     map[string]any{"config": wbConf}}))
	api.pools.Store(list("IPPoolList",
		ippool("prod-192.0.2.0-24", "192.0.2.0/24", 10, 11, 12),
		ippool("2001-db8---120", "2001:db8::/120", 1)))
	if err := n.daemon.RefreshKube(context.Background()); err != nil {
		t.Fatal(err)
	}
	fams := n.scrape(t)
	prod := map[string]string{"ipam": "whereabouts", "network": "prod-net", "pool": "prod-192.0.2.0-24"}
	mustValue(t, fams, metrics.PoolSizeName, prod, 50) // range_start..range_end
	mustValue(t, fams, metrics.PoolUsedName, prod, 3)
	orphan := map[string]string{"ipam": "whereabouts", "network": "", "pool": "2001-db8---120"}
	mustValue(t, fams, metrics.PoolSizeName, orphan, 254)
	mustValue(t, fams, metrics.PoolUsedName, orphan, 1)

	// pods deleted: allocations empty
	api.pools.Store(list("IPPoolList", ippool("prod-192.0.2.0-24", "192.0.2.0/24")))
	if err := n.daemon.RefreshKube(context.Background()); err != nil {
		t.Fatal(err)
	}
	fams = n.scrape(t)
	mustValue(t, fams, metrics.PoolUsedName, prod, 0)
	if _, ok := value(fams, metrics.PoolUsedName, orphan); ok {
		t.Fatal("a deleted IPPool is still reported")
	}
	if v, _ := value(fams, "netplumb_node_kube_refresh_timestamp_seconds", nil); math.Abs(v-float64(time.Now().Unix())) > 60 {
		t.Fatalf("refresh timestamp %v", v)
	}
}

func TestKubeFailuresAreCountedNotFatal(t *testing.T) {
	api := newFakeAPI(t)
	c := api.client(t)
	if err := os.WriteFile(c.TokenFile, []byte("wrong"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := newNode(t, metrics.Config{Kube: c})
	err := n.daemon.RefreshKube(context.Background())
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("RefreshKube with a wrong token: %v", err)
	}
	n.run(t, op{plugin: "fake", cmd: "ADD", container: "a", conf: fakeConf("storage", map[string]any{"stdout": "{}"})})
	fams := n.scrape(t)
	mustValue(t, fams, "netplumb_node_kube_list_errors_total", map[string]string{"resource": "ippools"}, 1)
	mustValue(t, fams, metrics.OpsName, map[string]string{"network": "storage", "op": "ADD"}, 1)
}

// A CRD that is not installed (404) is an empty list, not an error.
func TestWhereaboutsNotInstalled(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	c, err := kube.New(srv.URL, "", "", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	n := newNode(t, metrics.Config{Kube: c})
	if err := n.daemon.RefreshKube(context.Background()); err != nil {
		t.Fatalf("RefreshKube: %v", err)
	}
}
