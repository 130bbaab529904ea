// Package metrics is the node's metrics daemon: it drains the records the CNI shims spool,
// counts them into Prometheus metrics, and reports live attachments and IPAM pool use.
package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"netplumb.dev/node/internal/buildinfo"
	"netplumb.dev/node/internal/ipam"
	"netplumb.dev/node/internal/kube"
	"netplumb.dev/node/internal/spool"
)

// DefaultListen is the metrics address: 9561, in the range Prometheus exporters use.
const DefaultListen = ":9561"

// Metric names (the MonitoringStack's rules and dashboard query these).
const (
	OpsName         = "multus_cni_operations_total"
	DurationName    = "multus_cni_operation_duration_seconds"
	ErrorsName      = "multus_cni_errors_total"
	AttachmentsName = "multus_network_attachments_total"
	PoolSizeName    = "netplumb_ipam_pool_size"
	PoolUsedName    = "netplumb_ipam_pool_allocated"
	BuildInfoName   = "netplumb_node_build_info"
)

// DurationBuckets span a fast IPAM call (about a millisecond) to a slow DHCP lease (seconds).
var DurationBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// maxReasonsPerSeries bounds the distinct reason values per network/plugin/op; beyond it
// errors count under reason "other".
const maxReasonsPerSeries = 20

// Config is where the daemon reads from.
type Config struct {
	StateDir      string        // the shims' state directory (spool, attachments)
	HostLocalDirs []string      // host-local state dirs to scan for <network>/ (default ipam.DefaultHostLocalDir)
	HostPrefix    string        // prepended to host paths found in configs (a dataDir)
	Kube          *kube.Client  // nil: no whereabouts pools and no NADs
	KubeInterval  time.Duration // how often IPPools and NADs are listed (default 30s)
	Reconcile     *Reconcile    // nil: free nothing
	Log           *log.Logger
}

// Daemon holds the metrics.
type Daemon struct {
	cfg      Config
	reg      *prometheus.Registry
	mu       sync.Mutex // serialises draining
	reader   spool.Reader
	networks *networks
	reasons  map[[3]string]map[string]bool
	attached map[[2]string]bool // namespace/network pairs reported so far (kept at 0 when gone)
	conn     *net.UnixConn      // the shims' datagram socket (nil: spool only)
	dgram    []byte

	ops      *prometheus.CounterVec
	duration *prometheus.HistogramVec
	errs     *prometheus.CounterVec
	records  prometheus.Counter
	received prometheus.Counter
	corrupt  prometheus.Counter
	kubeErrs *prometheus.CounterVec
	rec      reconcileMetrics

	wbMu      sync.Mutex
	wbPools   []poolSample
	wbRefresh time.Time
}

type poolSample struct {
	ipam, network, pool string
	size                float64 // < 0: unknown
	allocated           float64
}

// New sets up the metrics and registry.
func New(cfg Config) *Daemon {
	if len(cfg.HostLocalDirs) == 0 {
		cfg.HostLocalDirs = []string{ipam.DefaultHostLocalDir}
	}
	if cfg.KubeInterval <= 0 {
		cfg.KubeInterval = 30 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = log.New(io.Discard, "", 0)
	}
	if r := cfg.Reconcile; r != nil {
		c := *r
		if c.Interval <= 0 {
			c.Interval = time.Minute
		}
		if c.Grace <= 0 {
			c.Grace = 5 * time.Minute
		}
		cfg.Reconcile = &c
	}
	d := &Daemon{
		cfg:      cfg,
		reg:      prometheus.NewRegistry(),
		reader:   spool.Reader{StateDir: cfg.StateDir},
		networks: loadNetworks(cfg.StateDir),
		reasons:  map[[3]string]map[string]bool{},
		dgram:    make([]byte, spool.MaxRecordSize+1),
		attached: map[[2]string]bool{},
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: OpsName,
			Help: "CNI plugin executions on this node by network (the config's name), plugin binary, " +
				"CNI command and result (success or error). An IPAM plugin that a main plugin calls " +
				"counts as an execution of its own (plugin=\"host-local\", ...).",
		}, []string{"network", "plugin", "op", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    DurationName,
			Help:    "Wall time of CNI plugin executions on this node, from exec to exit.",
			Buckets: DurationBuckets,
		}, []string{"network", "plugin", "op"}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: ErrorsName,
			Help: "Failed CNI plugin executions on this node. reason is \"<CNI error code>: <message>\" " +
				"with per-call values (ids, addresses) replaced, \"signal <name>\" or \"exit <status>\".",
		}, []string{"network", "plugin", "op", "reason"}),
		records: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "netplumb_node_spool_records_total",
			Help: "Operation records read from the spool (where shims put them while the daemon's socket does not take them).",
		}),
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "netplumb_node_socket_records_total",
			Help: "Operation records received on the daemon's socket.",
		}),
		corrupt: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "netplumb_node_records_corrupt_total",
			Help: "Records discarded as unreadable: datagrams, and spool files left incomplete.",
		}),
		kubeErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "netplumb_node_kube_list_errors_total",
			Help: "Failed lists against the Kubernetes API, by resource.",
		}, []string{"resource"}),
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: BuildInfoName,
		Help: "Build of netplumb-node and the pins of the plugins its image ships; always 1.",
		ConstLabels: prometheus.Labels{"version": buildinfo.Version, "goversion": buildinfo.GoVersion(),
			"cni_plugins": buildinfo.CNIPlugins, "whereabouts": buildinfo.Whereabouts},
	})
	build.Set(1)
	dropped := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "netplumb_node_spool_dropped_total",
		Help: "Operation records the shims could neither send nor spool (daemon away and spool full or not writable); the operations themselves were not affected.",
	}, func() float64 {
		n, _ := spool.Dropped(cfg.StateDir)
		return float64(n)
	})
	backlog := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "netplumb_node_spool_backlog",
		Help: "Records waiting in the spool (bounded; at the bound shims drop records).",
	}, func() float64 { return float64(spool.Backlog(cfg.StateDir)) })
	refreshed := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "netplumb_node_kube_refresh_timestamp_seconds",
		Help: "When whereabouts IPPools were last listed successfully (unix seconds; 0: never).",
	}, func() float64 {
		d.wbMu.Lock()
		defer d.wbMu.Unlock()
		if d.wbRefresh.IsZero() {
			return 0
		}
		return float64(d.wbRefresh.UnixNano()) / 1e9
	})
	d.reg.MustRegister(refreshed, d.ops, d.duration, d.errs, d.records, d.received, d.corrupt, d.kubeErrs, build, dropped, backlog,
		&stateCollector{d: d},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if cfg.Reconcile != nil {
		d.rec = newReconcileMetrics(d.reg)
	}
	return d
}

// Listen binds the daemon's datagram socket in the state directory, replacing a stale one,
// with a receive buffer large enough for bursts of pods (the kernel caps it at rmem_max).
func (d *Daemon) Listen() (*net.UnixConn, error) {
	if err := os.MkdirAll(d.cfg.StateDir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(d.cfg.StateDir, spool.SocketName)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, err
	}
	_ = conn.SetReadBuffer(4 << 20)
	return conn, nil
}

// Attach makes Ingest read the records waiting on conn (from Listen) besides the spool.
func (d *Daemon) Attach(conn *net.UnixConn) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.conn = conn
}

// drainSocket applies every datagram waiting on the socket, without blocking. Called with d.mu
// held. There is no reader goroutine: Ingest runs every quarter second and before every
// scrape, so a scrape sees every operation that finished before it, and a full socket buffer
// sends shims to the spool instead.
func (d *Daemon) drainSocket() {
	if d.conn == nil {
		return
	}
	raw, err := d.conn.SyscallConn()
	if err != nil {
		return
	}
	buf := d.dgram
	_ = raw.Read(func(fd uintptr) bool {
		for {
			n, _, err := syscall.Recvfrom(int(fd), buf, syscall.MSG_DONTWAIT)
			if err != nil {
				if errors.Is(err, syscall.EINTR) {
					continue
				}
				return true // EAGAIN: nothing left
			}
			rec, complete := spool.Parse(buf[:n])
			if complete && rec.V == spool.RecordVersion {
				d.apply(rec)
				d.received.Inc()
			} else {
				d.corrupt.Inc()
			}
		}
	})
}

// Registry is the daemon's Prometheus registry.
func (d *Daemon) Registry() *prometheus.Registry { return d.reg }

// Ingest drains the spool into the counters.
func (d *Daemon) Ingest() spool.DrainStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.drainSocket()
	st, err := d.reader.Drain(d.apply)
	if err != nil {
		d.cfg.Log.Printf("spool: %v", err)
	}
	d.records.Add(float64(st.Records))
	d.corrupt.Add(float64(st.Corrupt))
	if err := d.networks.save(); err != nil {
		d.cfg.Log.Printf("saving network configs: %v", err)
	}
	return st
}

func (d *Daemon) apply(r spool.Record) {
	network, plugin, op := label(r.Network), label(r.Plugin), label(r.Op)
	result := spool.Success
	if r.Result != spool.Success {
		result = spool.Failure
	}
	d.ops.WithLabelValues(network, plugin, op, result).Inc()
	if r.Seconds >= 0 {
		d.duration.WithLabelValues(network, plugin, op).Observe(r.Seconds)
	}
	if result == spool.Failure {
		d.errs.WithLabelValues(network, plugin, op, d.boundedReason(network, plugin, op, Reason(r))).Inc()
	}
	d.networks.fromRecord(r.Network, r.IPAM)
}

func (d *Daemon) boundedReason(network, plugin, op, reason string) string {
	key := [3]string{network, plugin, op}
	set := d.reasons[key]
	if set == nil {
		set = map[string]bool{}
		d.reasons[key] = set
	}
	if !set[reason] && len(set) >= maxReasonsPerSeries {
		return "other"
	}
	set[reason] = true
	return reason
}

// Handler serves /metrics (draining the spool first, so a scrape sees every finished
// operation) and /healthz.
func (d *Daemon) Handler() http.Handler {
	prom := promhttp.HandlerFor(d.reg, promhttp.HandlerOpts{ErrorLog: d.cfg.Log, ErrorHandling: promhttp.ContinueOnError})
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		d.Ingest()
		prom.ServeHTTP(w, r)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/host-local", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(d.HostLocal(time.Now()))
	})
	return mux
}

// HostLocalNetwork is one network's host-local reservations on this node, as /host-local
// serves them (doctor compares them with the node's pods).
type HostLocalNetwork struct {
	Network      string                 `json:"network"`
	Dir          string                 `json:"dir"` // as the node sees it (without the host prefix)
	Reservations []HostLocalReservation `json:"reservations"`
}

// HostLocalReservation is one address and who holds it.
type HostLocalReservation struct {
	IP          string  `json:"ip"`
	ContainerID string  `json:"containerID"`
	IfName      string  `json:"ifName,omitempty"`
	AgeSeconds  float64 `json:"ageSeconds"`
}

// HostLocal reads every host-local network's reservations on this node, sorted by network
// and address.
func (d *Daemon) HostLocal(now time.Time) []HostLocalNetwork {
	_, dirs := d.hostLocalDirs()
	out := []HostLocalNetwork{}
	for network, dir := range dirs {
		found, err := ipam.ReservationsIn(dir)
		if err != nil {
			continue // nothing handed out yet
		}
		sort.Slice(found, func(i, j int) bool { return found[i].Addr.Less(found[j].Addr) })
		n := HostLocalNetwork{Network: network, Dir: strings.TrimPrefix(dir, d.cfg.HostPrefix),
			Reservations: make([]HostLocalReservation, 0, len(found))}
		for _, r := range found {
			n.Reservations = append(n.Reservations, HostLocalReservation{IP: r.Addr.String(),
				ContainerID: r.ContainerID, IfName: r.IfName,
				AgeSeconds: max(0, now.Sub(r.Modified).Seconds())})
		}
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Network < out[j].Network })
	return out
}

// Run drains the socket and the spool every quarter second and refreshes whereabouts pools and NADs every
// KubeInterval until ctx ends.
func (d *Daemon) Run(ctx context.Context) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var kubeTick <-chan time.Time
	if d.cfg.Kube != nil {
		t := time.NewTicker(d.cfg.KubeInterval)
		defer t.Stop()
		kubeTick = t.C
		d.refreshKube(ctx)
	}
	if d.cfg.Reconcile != nil {
		go d.runReconcile(ctx)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			d.Ingest()
		case <-kubeTick:
			d.refreshKube(ctx)
		}
	}
}

func (d *Daemon) refreshKube(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := d.RefreshKube(ctx); err != nil {
		d.cfg.Log.Printf("kubernetes: %v", err)
	}
}

// API paths of the lists the daemon reads.
const (
	IPPoolsPath = "/apis/whereabouts.cni.cncf.io/v1alpha1/ippools"
	NADsPath    = "/apis/k8s.cni.cncf.io/v1/network-attachment-definitions"
)

// RefreshKube lists NetworkAttachmentDefinitions (for pool sizes of networks no shim has
// reported yet) and whereabouts IPPools. A resource the API does not serve (CRD not
// installed) counts as empty.
func (d *Daemon) RefreshKube(ctx context.Context) error {
	if d.cfg.Kube == nil {
		return nil
	}
	var errs []error
	nads, err := kube.List[nad](ctx, d.cfg.Kube, NADsPath)
	switch {
	case err == nil:
		d.networks.setNADs(nadNetworks(nads))
	case errors.Is(err, kube.ErrNotFound):
		d.networks.setNADs(nil)
	default:
		d.kubeErrs.WithLabelValues("network-attachment-definitions").Inc()
		errs = append(errs, err)
	}
	pools, err := kube.List[ipam.IPPool](ctx, d.cfg.Kube, IPPoolsPath)
	if errors.Is(err, kube.ErrNotFound) {
		pools, err = nil, nil
	}
	if err != nil {
		d.kubeErrs.WithLabelValues("ippools").Inc()
		return errors.Join(append(errs, err)...)
	}
	samples := d.whereaboutsSamples(pools)
	d.wbMu.Lock()
	d.wbPools, d.wbRefresh = samples, time.Now()
	d.wbMu.Unlock()
	return errors.Join(errs...)
}

// whereaboutsSamples sizes each IPPool from the config range it belongs to (range_start,
// range_end and exclude narrow it), or from its own range when no config names it.
func (d *Daemon) whereaboutsSamples(pools []ipam.IPPool) []poolSample {
	type owner struct {
		network string
		r       ipam.WhereaboutsRange
	}
	byPool := map[string]owner{}
	for network, raw := range d.networks.all() {
		if ipamType(raw) != "whereabouts" {
			continue
		}
		ranges, err := ipam.ParseWhereabouts(raw)
		if err != nil {
			continue
		}
		for _, r := range ranges {
			byPool[r.PoolName()] = owner{network, r}
		}
	}
	out := make([]poolSample, 0, len(pools))
	for _, p := range pools {
		s := poolSample{ipam: "whereabouts", pool: label(p.Metadata.Name), allocated: float64(len(p.Spec.Allocations)), size: -1}
		if o, ok := byPool[p.Metadata.Name]; ok && o.r.Prefix.String() == canonicalPrefix(p.Spec.Range) {
			s.network, s.size = label(o.network), o.r.Size()
		} else if n, err := ipam.PoolSize(p); err == nil {
			s.size = n
		}
		out = append(out, s)
	}
	return out
}

func canonicalPrefix(s string) string {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return s
	}
	return p.Masked().String()
}

// hostLocalDirs finds host-local's reservation dir of every network in the host-local
// dirs or known from a config (by network name), with the configs that define their pools.
func (d *Daemon) hostLocalDirs() (map[string]ipam.HostLocalConfig, map[string]string) {
	configs := map[string]ipam.HostLocalConfig{}
	for network, raw := range d.networks.all() {
		if ipamType(raw) != "host-local" {
			continue
		}
		if c, err := ipam.ParseHostLocal(raw); err == nil {
			configs[network] = c
		}
	}
	dirs := map[string]string{} // network → reservation dir
	for _, base := range d.cfg.HostLocalDirs {
		entries, err := os.ReadDir(base)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if e.IsDir() {
				if _, dup := dirs[e.Name()]; !dup {
					dirs[e.Name()] = filepath.Join(base, e.Name())
				}
			}
		}
	}
	for network, c := range configs {
		if c.DataDir != "" {
			dirs[network] = filepath.Join(d.cfg.HostPrefix+c.DataDir, network)
		} else if _, ok := dirs[network]; !ok {
			dirs[network] = filepath.Join(d.cfg.HostLocalDirs[0], network)
		}
	}
	return configs, dirs
}

// hostLocalSamples reads host-local's reservation files for every network found in the
// host-local dirs or known from a config, and sizes the pools the config defines.
func (d *Daemon) hostLocalSamples() []poolSample {
	configs, dirs := d.hostLocalDirs()
	var out []poolSample
	for network, dir := range dirs {
		addrs, _ := ipam.Reservations(dir) // a missing dir: nothing allocated yet
		c, known := configs[network]
		counts := make([]float64, len(c.Pools))
		unknown := 0.0
		for _, a := range addrs {
			found := false
			for i, p := range c.Pools {
				if p.Contains(a) {
					counts[i]++
					found = true
					break
				}
			}
			if !found {
				unknown++
			}
		}
		for i, p := range c.Pools {
			out = append(out, poolSample{ipam: "host-local", network: label(network), pool: label(p.Name),
				size: p.Size(), allocated: counts[i]})
		}
		if unknown > 0 || !known {
			out = append(out, poolSample{ipam: "host-local", network: label(network), pool: "unknown",
				size: -1, allocated: unknown})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].network+out[i].pool < out[j].network+out[j].pool })
	return out
}

// stateCollector reports what is read at scrape time: attachments and pools.
type stateCollector struct{ d *Daemon }

var (
	attachmentsDesc = prometheus.NewDesc(AttachmentsName,
		"Live network attachments on this node (successful ADD not yet deleted), by pod namespace and "+
			"network. A gauge despite the _total suffix: it goes down on DEL.",
		[]string{"namespace", "network"}, nil)
	poolSizeDesc = prometheus.NewDesc(PoolSizeName,
		"Addresses an IPAM pool can hand out. host-local: this node's range set; whereabouts: "+
			"the cluster-wide IPPool (every node reports the same value; aggregate with max).",
		[]string{"ipam", "network", "pool"}, nil)
	poolUsedDesc = prometheus.NewDesc(PoolUsedName,
		"Addresses allocated from an IPAM pool (host-local: reservation files on this node; "+
			"whereabouts: IPPool allocations in the cluster). pool=\"unknown\" holds host-local "+
			"reservations no known range covers.",
		[]string{"ipam", "network", "pool"}, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- attachmentsDesc
	ch <- poolSizeDesc
	ch <- poolUsedDesc
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	d := c.d
	counts := map[[2]string]float64{}
	for _, a := range spool.ListAttachments(d.cfg.StateDir) {
		counts[[2]string{label(a.Namespace), label(a.Network)}]++
	}
	d.mu.Lock()
	for k := range counts {
		d.attached[k] = true
	}
	keys := make([][2]string, 0, len(d.attached))
	for k := range d.attached {
		keys = append(keys, k)
	}
	d.mu.Unlock()
	for _, k := range keys {
		ch <- prometheus.MustNewConstMetric(attachmentsDesc, prometheus.GaugeValue, counts[k], k[0], k[1])
	}
	d.wbMu.Lock()
	samples := append(d.hostLocalSamples(), d.wbPools...)
	d.wbMu.Unlock()
	seen := map[[3]string]bool{}
	for _, s := range samples {
		key := [3]string{s.ipam, s.network, s.pool}
		if seen[key] { // e.g. IPPools of one name in two namespaces: report the first
			continue
		}
		seen[key] = true
		if s.size >= 0 {
			ch <- prometheus.MustNewConstMetric(poolSizeDesc, prometheus.GaugeValue, s.size, s.ipam, s.network, s.pool)
		}
		ch <- prometheus.MustNewConstMetric(poolUsedDesc, prometheus.GaugeValue, s.allocated, s.ipam, s.network, s.pool)
	}
}
