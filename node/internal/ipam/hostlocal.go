// Package ipam reads IPAM configs and state to size address pools: host-local's ranges and
// reservation files (containernetworking/plugins v1.9.1 plugins/ipam/host-local) and
// whereabouts' IPPool ranges (k8snetworkplumbingwg/whereabouts v0.9.2).
package ipam

import (
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultHostLocalDir is host-local's state directory unless a config sets dataDir
// (backend/disk/backend.go defaultDataDir).
const DefaultHostLocalDir = "/var/lib/cni/networks"

// Range is an inclusive address range.
type Range struct {
	Start, End netip.Addr
}

// Contains reports whether a is in r.
func (r Range) Contains(a netip.Addr) bool {
	return a.BitLen() == r.Start.BitLen() && r.Start.Compare(a) <= 0 && a.Compare(r.End) <= 0
}

// Size is the number of addresses in r.
func (r Range) Size() *big.Int {
	n := new(big.Int).Sub(addrInt(r.End), addrInt(r.Start))
	return n.Add(n, big.NewInt(1))
}

func (r Range) String() string { return r.Start.String() + "-" + r.End.String() }

func addrInt(a netip.Addr) *big.Int {
	b := a.As16()
	if a.Is4() {
		v := a.As4()
		return new(big.Int).SetBytes(v[:])
	}
	return new(big.Int).SetBytes(b[:])
}

// HostLocalPool is one host-local range set: the addresses host-local hands out from it.
type HostLocalPool struct {
	Name   string // the range set as written: subnets, or start-end where narrowed
	Ranges []Range
	Gates  []netip.Addr // gateways inside the ranges (never handed out)
}

// Size is the number of addresses the pool can hand out.
func (p HostLocalPool) Size() float64 {
	total := new(big.Int)
	for _, r := range p.Ranges {
		total.Add(total, r.Size())
	}
	f, _ := new(big.Float).SetInt(total).Float64()
	return f - float64(len(p.Gates))
}

// Contains reports whether a belongs to the pool.
func (p HostLocalPool) Contains(a netip.Addr) bool {
	for _, r := range p.Ranges {
		if r.Contains(a) {
			return true
		}
	}
	return false
}

type hostLocalRange struct {
	Subnet     string `json:"subnet"`
	RangeStart string `json:"rangeStart"`
	RangeEnd   string `json:"rangeEnd"`
	Gateway    string `json:"gateway"`
}

// HostLocalConfig is the part of a host-local ipam section that decides pools and state.
type HostLocalConfig struct {
	DataDir string
	Pools   []HostLocalPool
}

// ParseHostLocal reads a host-local ipam section. Like host-local, the old single-range form
// (subnet/rangeStart/rangeEnd/gateway at the top) comes first, then "ranges".
func ParseHostLocal(raw json.RawMessage) (HostLocalConfig, error) {
	var c struct {
		hostLocalRange
		Type    string             `json:"type"`
		DataDir string             `json:"dataDir"`
		Ranges  [][]hostLocalRange `json:"ranges"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return HostLocalConfig{}, err
	}
	if c.Type != "host-local" {
		return HostLocalConfig{}, fmt.Errorf("ipam type %q is not host-local", c.Type)
	}
	sets := c.Ranges
	if c.Subnet != "" {
		sets = append([][]hostLocalRange{{c.hostLocalRange}}, sets...)
	}
	out := HostLocalConfig{DataDir: c.DataDir}
	for i, set := range sets {
		var pool HostLocalPool
		var names []string
		for j, r := range set {
			rg, gw, name, err := canonical(r)
			if err != nil {
				return HostLocalConfig{}, fmt.Errorf("ranges[%d][%d]: %v", i, j, err)
			}
			pool.Ranges = append(pool.Ranges, rg)
			if rg.Contains(gw) {
				pool.Gates = append(pool.Gates, gw)
			}
			names = append(names, name)
		}
		pool.Name = strings.Join(names, ",")
		out.Pools = append(out.Pools, pool)
	}
	return out, nil
}

// canonical applies host-local's defaults (allocator/range.go Canonicalize): start = network+1,
// end = last address (IPv4: broadcast-1), gateway = network+1.
func canonical(r hostLocalRange) (Range, netip.Addr, string, error) {
	prefix, err := netip.ParsePrefix(r.Subnet)
	if err != nil {
		return Range{}, netip.Addr{}, "", err
	}
	prefix = prefix.Masked()
	bits := prefix.Addr().BitLen()
	if prefix.Bits() > bits-2 {
		return Range{}, netip.Addr{}, "", fmt.Errorf("network %s too small to allocate from", prefix)
	}
	first := prefix.Addr().Next()
	last := lastAddr(prefix)
	if prefix.Addr().Is4() {
		last = last.Prev()
	}
	rg := Range{Start: first, End: last}
	name := prefix.String()
	if r.RangeStart != "" {
		if rg.Start, err = netip.ParseAddr(r.RangeStart); err != nil {
			return Range{}, netip.Addr{}, "", err
		}
	}
	if r.RangeEnd != "" {
		if rg.End, err = netip.ParseAddr(r.RangeEnd); err != nil {
			return Range{}, netip.Addr{}, "", err
		}
	}
	if rg.Start != first || rg.End != last {
		name = rg.String()
	}
	gw := first
	if r.Gateway != "" {
		if gw, err = netip.ParseAddr(r.Gateway); err != nil {
			return Range{}, netip.Addr{}, "", err
		}
	}
	return rg, gw.Unmap(), name, nil
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	mask := net.CIDRMask(p.Bits(), len(b)*8)
	for i := range b {
		b[i] |= ^mask[i]
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// Reservations lists the addresses host-local has handed out in dir (one file per address,
// named by it; "lock" and "last_reserved_ip.<n>" are its bookkeeping).
func Reservations(dir string) ([]netip.Addr, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if a, err := netip.ParseAddr(e.Name()); err == nil {
			out = append(out, a.Unmap())
		}
	}
	return out, nil
}

// Reservation is one address host-local handed out: its file holds the container (sandbox)
// ID and, since plugins v0.8, the interface name after a CRLF (backend/disk Store.Reserve).
type Reservation struct {
	Addr        netip.Addr
	ContainerID string
	IfName      string
	Modified    time.Time // when host-local wrote the file
}

// ReservationsIn lists the reservations in dir with who holds each address.
func ReservationsIn(dir string) ([]Reservation, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []Reservation
	for _, e := range entries {
		a, err := netip.ParseAddr(e.Name())
		if err != nil || !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		raw, err := os.ReadFile(path)
		if err != nil {
			continue // released meanwhile
		}
		info, err := os.Stat(path)
		if err != nil {
			continue
		}
		id, ifname := Holder(raw)
		out = append(out, Reservation{Addr: a.Unmap(), ContainerID: id, IfName: ifname,
			Modified: info.ModTime()})
	}
	return out, nil
}

// Holder reads a reservation file: the container (sandbox) ID and the interface name.
func Holder(raw []byte) (containerID, ifName string) {
	id, ifname, _ := strings.Cut(strings.ReplaceAll(string(raw), "\r\n", "\n"), "\n")
	return strings.TrimSpace(id), strings.TrimSpace(ifname)
}

// HostLocalDir is where host-local keeps network's reservations for a config's dataDir.
func HostLocalDir(dataDir, network string) string {
	if dataDir == "" {
		dataDir = DefaultHostLocalDir
	}
	return filepath.Join(dataDir, network)
}
