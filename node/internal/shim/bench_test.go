package shim_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"netplumb.dev/node/internal/spool"
	"netplumb.dev/node/internal/testbin"
)

// percentile is the nearest-rank percentile p (0..100) of sorted xs.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.5) - 1
	rank = max(0, min(rank, len(sorted)-1))
	return sorted[rank]
}

type figures struct {
	direct, shimmed, overhead []time.Duration
}

func (f *figures) add(direct, shimmed time.Duration) {
	f.direct = append(f.direct, direct)
	f.shimmed = append(f.shimmed, shimmed)
	f.overhead = append(f.overhead, shimmed-direct)
}

func (f *figures) report(b *testing.B, what string) {
	for _, xs := range [][]time.Duration{f.direct, f.shimmed, f.overhead} {
		sort.Slice(xs, func(i, j int) bool { return xs[i] < xs[j] })
	}
	med, p99 := percentile(f.overhead, 50), percentile(f.overhead, 99)
	fmt.Printf("%-44s n=%-4d bare median %7.3f ms | shim median %7.3f ms | overhead median %6.3f ms p99 %6.3f ms | ratio %.2f\n",
		what, len(f.overhead), ms(percentile(f.direct, 50)), ms(percentile(f.shimmed, 50)), ms(med), ms(p99),
		float64(percentile(f.shimmed, 50))/float64(percentile(f.direct, 50)))
	b.ReportMetric(ms(med), "overhead-median-ms")
	b.ReportMetric(ms(p99), "overhead-p99-ms")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkShimOverhead runs the fake plugin bare and through the shim, interleaved, with the
// metrics side healthy, absent, unwritable and full. Figures per operation (ADD: a record and
// an attachment file).
func BenchmarkShimOverhead(b *testing.B) {
	stdin := conf(b, map[string]any{"stdout": `{"cniVersion":"1.0.0"}`}, nil)
	env := cniEnv("ADD")
	scenarios := []struct {
		name    string
		prepare func(b *testing.B, l layout)
	}{
		{"daemon draining", nil},
		{"daemon absent (records spooled)", func(b *testing.B, l layout) {}},
		{"state dir unwritable", func(b *testing.B, l layout) {
			if err := os.Remove(l.state); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(l.state, nil, 0o644); err != nil {
				b.Fatal(err)
			}
		}},
		{"spool full (records dropped)", func(b *testing.B, l layout) { fillSpool(b, l.state) }},
	}
	for _, sc := range scenarios {
		b.Run(sc.name, func(b *testing.B) {
			l := newLayout(b)
			if sc.prepare != nil {
				sc.prepare(b, l)
			} else {
				stop := drain(b, l.state)
				defer stop()
			}
			var f figures
			for i := 0; i < b.N; i++ {
				for j := 0; j < 200; j++ {
					direct := run(b, l.direct, l.shim, env, stdin)
					shimmed := run(b, l.shim, l.shim, env, stdin)
					f.add(direct.elapsed, shimmed.elapsed)
				}
			}
			f.report(b, sc.name)
		})
	}
}

// fsType names the file system holding path.
func fsType(path string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return "?"
	}
	switch st.Type {
	case 0x01021994:
		return "tmpfs"
	case 0xEF53:
		return "ext4"
	case 0x794c7630:
		return "overlayfs"
	case 0x58465342:
		return "xfs"
	}
	return fmt.Sprintf("fs 0x%x", st.Type)
}

// drain stands in for the metrics daemon: it reads the datagram socket and empties the spool
// every 100 ms.
func drain(b *testing.B, state string) (stop func()) {
	conn := listen(b, state)
	go func() {
		buf := make([]byte, spool.MaxRecordSize)
		for {
			if _, err := conn.Read(buf); err != nil {
				return
			}
		}
	}()
	done := make(chan struct{})
	go func() {
		r := spool.Reader{StateDir: state}
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_, _ = r.Drain(func(spool.Record) {})
			}
		}
	}()
	return func() {
		close(done)
		conn.Close()
	}
}

// BenchmarkCNIPairs runs ADD+DEL pairs of a real IPAM plugin (host-local: no network namespace
// needed) bare and through the shim, interleaved, with a draining daemon. The plugin comes
// from NETPLUMB_BENCH_PLUGIN, else the tool cache; the pair count from NETPLUMB_BENCH_PAIRS
// (default 500). bench/node_shim.py runs it.
func BenchmarkCNIPairs(b *testing.B) {
	plugin := os.Getenv("NETPLUMB_BENCH_PLUGIN")
	if plugin == "" {
		plugin = testbin.ToolBinary("host-local")
	}
	if plugin == "" {
		b.Skip("no host-local: set NETPLUMB_BENCH_PLUGIN or build the tool cache (make tools)")
	}
	pairs := 500
	if s := os.Getenv("NETPLUMB_BENCH_PAIRS"); s != "" {
		var err error
		if pairs, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	root := shortTempDir(b)
	bin, state := filepath.Join(root, "bin"), filepath.Join(root, "state")
	if parent := os.Getenv("NETPLUMB_BENCH_STATE_PARENT"); parent != "" {
		// the node's state dir is /run/netplumb: tmpfs on most nodes, not on every one
		dir, err := os.MkdirTemp(parent, "np")
		if err != nil {
			b.Fatal(err)
		}
		defer os.RemoveAll(dir)
		state = dir
	}
	shimPath := testbin.ShimLayout(b, bin, state, "host-local", plugin)
	bare := filepath.Join(root, "bare", "host-local")
	if err := os.MkdirAll(filepath.Dir(bare), 0o755); err != nil {
		b.Fatal(err)
	}
	testbin.CopyFile(b, plugin, bare)
	stop := drain(b, state)
	defer stop()
	dataDir := filepath.Join(root, "ipam")
	confFor := func(network string) []byte {
		// "type" host-local: the shim takes it for the main plugin and keeps attachment files
		// too, the most work it ever does for an operation
		return []byte(fmt.Sprintf(`{"cniVersion":"1.0.0","name":%q,"type":"host-local","ipam":{"type":"host-local",`+
			`"subnet":"198.18.0.0/16","dataDir":%q}}`, network, dataDir))
	}
	bareConf, shimConf := confFor("bench-bare"), confFor("bench-shim")
	pair := func(path string, stdin []byte, id string) [2]time.Duration {
		var took [2]time.Duration
		for i, op := range []string{"ADD", "DEL"} {
			env := cniEnv(op, "CNI_CONTAINERID="+id, "CNI_NETNS=/var/run/netns/bench")
			o := run(b, path, shimPath, env, stdin)
			if o.exit != 0 {
				b.Fatalf("%s %s: exit %d: %s %s", path, op, o.exit, o.stdout, o.stderr)
			}
			took[i] = o.elapsed
		}
		return took
	}
	var perPair, perOp figures
	for i := 0; i < b.N; i++ {
		for j := 0; j < pairs; j++ {
			id := fmt.Sprintf("bench-%d-%d", i, j)
			var d, s [2]time.Duration
			if j%2 == 0 { // alternate the order so neither side always runs first
				d = pair(bare, bareConf, id)
				s = pair(shimPath, shimConf, id)
			} else {
				s = pair(shimPath, shimConf, id)
				d = pair(bare, bareConf, id)
			}
			perPair.add(d[0]+d[1], s[0]+s[1])
			perOp.add(d[0], s[0])
			perOp.add(d[1], s[1])
		}
	}
	fs := fsType(state)
	perPair.report(b, "host-local ADD+DEL pair, state on "+fs)
	perOp.report(b, "host-local ADD or DEL, state on "+fs)
	if n, _ := spool.Dropped(state); n > 0 {
		fmt.Printf("records dropped: %d\n", n)
	}
}
