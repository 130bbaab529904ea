package ipam

import (
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

func TestHostLocalPools(t *testing.T) {
	cases := []struct {
		conf  string
		names []string
		sizes []float64
	}{
		{`{"type":"host-local","subnet":"192.0.2.0/24"}`, []string{"192.0.2.0/24"}, []float64{253}},
		{`{"type":"host-local","subnet":"192.0.2.0/24","rangeStart":"192.0.2.100","rangeEnd":"192.0.2.200"}`,
			[]string{"192.0.2.100-192.0.2.200"}, []float64{101}},
		{`{"type":"host-local","subnet":"192.0.2.0/24","rangeStart":"192.0.2.100","rangeEnd":"192.0.2.200","gateway":"192.0.2.150"}`,
			[]string{"192.0.2.100-192.0.2.200"}, []float64{100}},
		{`{"type":"host-local","ranges":[[{"subnet":"2001:db8::/120"}],[{"subnet":"198.51.100.0/28"},{"subnet":"203.0.113.0/29","gateway":"203.0.113.6"}]]}`,
			[]string{"2001:db8::/120", "198.51.100.0/28,203.0.113.0/29"}, []float64{254, 13 + 5}},
		{`{"type":"host-local","subnet":"192.0.2.0/30"}`, []string{"192.0.2.0/30"}, []float64{1}},
	}
	for _, c := range cases {
		hl, err := ParseHostLocal([]byte(c.conf))
		if err != nil {
			t.Fatalf("%s: %v", c.conf, err)
		}
		if len(hl.Pools) != len(c.names) {
			t.Fatalf("%s: %d pools", c.conf, len(hl.Pools))
		}
		for i, p := range hl.Pools {
			if p.Name != c.names[i] || p.Size() != c.sizes[i] {
				t.Errorf("%s: pool %d = %q size %v, want %q %v", c.conf, i, p.Name, p.Size(), c.names[i], c.sizes[i])
			}
		}
	}
	for _, bad := range []string{`{"type":"static"}`, `{"type":"host-local","subnet":"192.0.2.0/31"}`,
		`{"type":"host-local","subnet":"nope"}`, `[`} {
		if _, err := ParseHostLocal([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestReservations(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"192.0.2.100", "192.0.2.101", "2001:db8::5", "lock", "last_reserved_ip.0"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("c0ffee\r\nnet1"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "192.0.2.7"), 0o755); err != nil { // not a file
		t.Fatal(err)
	}
	got, err := Reservations(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[netip.Addr]bool{netip.MustParseAddr("192.0.2.100"): true, netip.MustParseAddr("192.0.2.101"): true,
		netip.MustParseAddr("2001:db8::5"): true}
	if len(got) != len(want) {
		t.Fatalf("reservations %v", got)
	}
	for _, a := range got {
		if !want[a] {
			t.Fatalf("unexpected %v", a)
		}
	}
}

func TestWhereaboutsRanges(t *testing.T) {
	cases := []struct {
		conf  string
		pools []string
		sizes []float64
	}{
		{`{"type":"whereabouts","range":"192.0.2.0/24"}`, []string{"192.0.2.0-24"}, []float64{254}},
		{`{"type":"whereabouts","range":"192.0.2.0/24","range_start":"192.0.2.10","range_end":"192.0.2.20","network_name":"blue"}`,
			[]string{"blue-192.0.2.0-24"}, []float64{11}},
		{`{"type":"whereabouts","range":"192.0.2.0/24","range_start":"192.0.2.10","range_end":"192.0.2.20","exclude":["192.0.2.16/30","192.0.2.18/31","192.0.2.0/29"]}`,
			[]string{"192.0.2.0-24"}, []float64{7}},
		{`{"type":"whereabouts","range":"192.0.2.225-192.0.2.230/28"}`, []string{"192.0.2.224-28"}, []float64{6}},
		{`{"type":"whereabouts","ipRanges":[{"range":"2001:db8::/64"},{"range":"198.18.0.0/15","exclude":["198.19.0.0/16"]}]}`,
			[]string{"2001-db8---64", "198.18.0.0-15"}, []float64{math.Pow(2, 64) - 2, 65536 - 1}},
		{`{"type":"whereabouts","range":"192.0.2.0/24","range_start":"10.0.0.1"}`, []string{"192.0.2.0-24"}, []float64{254}},
	}
	for _, c := range cases {
		rs, err := ParseWhereabouts([]byte(c.conf))
		if err != nil {
			t.Fatalf("%s: %v", c.conf, err)
		}
		if len(rs) != len(c.pools) {
			t.Fatalf("%s: %d ranges", c.conf, len(rs))
		}
		for i, r := range rs {
			if r.PoolName() != c.pools[i] || r.Size() != c.sizes[i] {
				t.Errorf("%s: range %d = %q size %v, want %q %v", c.conf, i, r.PoolName(), r.Size(), c.pools[i], c.sizes[i])
			}
		}
	}
	if _, err := ParseWhereabouts([]byte(`{"type":"host-local","range":"192.0.2.0/24"}`)); err == nil {
		t.Error("host-local accepted as whereabouts")
	}
}

func TestPoolSize(t *testing.T) {
	var p IPPool
	p.Spec.Range = "192.0.2.0/28"
	if n, err := PoolSize(p); err != nil || n != 14 {
		t.Fatalf("PoolSize = %v %v", n, err)
	}
}

func TestReservationsInNameTheirHolder(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"192.0.2.100":        "c0ffee\r\nnet1",   // plugins v0.8 and later
		"2001:db8::5":        "  beef \r\neth0 ", // spaces trimmed
		"198.51.100.9":       "old-style-id",     // before v0.8: the ID alone
		"lock":               "",
		"last_reserved_ip.0": "192.0.2.100",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ReservationsIn(dir)
	if err != nil {
		t.Fatal(err)
	}
	byAddr := map[string]Reservation{}
	for _, r := range got {
		byAddr[r.Addr.String()] = r
		if r.Modified.IsZero() {
			t.Fatalf("%v: no modification time", r)
		}
	}
	want := map[string][2]string{"192.0.2.100": {"c0ffee", "net1"}, "2001:db8::5": {"beef", "eth0"},
		"198.51.100.9": {"old-style-id", ""}}
	if len(byAddr) != len(want) {
		t.Fatalf("reservations %v", got)
	}
	for a, w := range want {
		if r := byAddr[a]; r.ContainerID != w[0] || r.IfName != w[1] {
			t.Fatalf("%s: got %q/%q, want %q/%q", a, r.ContainerID, r.IfName, w[0], w[1])
		}
	}
	if _, err := ReservationsIn(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a missing dir is an error")
	}
}
