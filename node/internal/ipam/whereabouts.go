package ipam

import (
	"encoding/json"
	"fmt"
	"math/big"
	"net/netip"
	"sort"
	"strings"
)

// IPPool is the part of a whereabouts IPPool custom resource (whereabouts.cni.cncf.io/v1alpha1,
// pkg/api/whereabouts.cni.cncf.io/v1alpha1/ippool_types.go) that pool use needs.
type IPPool struct {
	Metadata struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Spec struct {
		Range       string                  `json:"range"`
		Allocations map[string]IPAllocation `json:"allocations"`
	} `json:"spec"`
}

// IPAllocation is one allocated address; the map key is its offset in the pool's range.
type IPAllocation struct {
	ContainerID string `json:"id"`
	PodRef      string `json:"podref"`
	IfName      string `json:"ifname,omitempty"`
}

// WhereaboutsRange is one range of a whereabouts ipam section after whereabouts' own
// normalisation (pkg/config/config.go LoadIPAMConfig).
type WhereaboutsRange struct {
	Prefix      netip.Prefix
	Start, End  netip.Addr // zero: not given
	Exclude     []netip.Prefix
	NetworkName string
}

// PoolName is the IPPool name whereabouts uses for this range (storage/kubernetes/ipam.go
// IPPoolName, without node slices): the range with ":" and "/" turned into "-", prefixed by
// network_name when set.
func (r WhereaboutsRange) PoolName() string {
	n := normalizeRange(r.Prefix.String())
	if r.NetworkName != "" {
		return r.NetworkName + "-" + n
	}
	return n
}

func normalizeRange(s string) string {
	if strings.HasSuffix(s, ":") {
		s += "0"
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, ":", "-"), "/", "-")
}

// ParseWhereabouts reads a whereabouts ipam section: "range" (optionally "start-end/prefix"),
// range_start, range_end and exclude at the top become the first range, then "ipRanges".
func ParseWhereabouts(raw json.RawMessage) ([]WhereaboutsRange, error) {
	type rangeConf struct {
		Range      string   `json:"range"`
		RangeStart string   `json:"range_start"`
		RangeEnd   string   `json:"range_end"`
		Exclude    []string `json:"exclude"`
	}
	var c struct {
		rangeConf
		Type        string      `json:"type"`
		IPRanges    []rangeConf `json:"ipRanges"`
		NetworkName string      `json:"network_name"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	if c.Type != "whereabouts" {
		return nil, fmt.Errorf("ipam type %q is not whereabouts", c.Type)
	}
	confs := c.IPRanges
	if c.Range != "" {
		confs = append([]rangeConf{c.rangeConf}, confs...)
	}
	var out []WhereaboutsRange
	for i, rc := range confs {
		r := WhereaboutsRange{NetworkName: c.NetworkName}
		var err error
		for _, s := range []struct {
			text string
			into *netip.Addr
		}{{rc.RangeStart, &r.Start}, {rc.RangeEnd, &r.End}} {
			if s.text == "" {
				continue
			}
			if *s.into, err = netip.ParseAddr(s.text); err != nil {
				return nil, fmt.Errorf("ipRanges[%d]: %v", i, err)
			}
		}
		if start, cidr, ok := strings.Cut(rc.Range, "-"); ok && strings.Contains(cidr, "/") {
			// "first-last/prefix" sets both ends, whatever range_start/range_end say
			if r.Start, err = netip.ParseAddr(start); err != nil {
				return nil, fmt.Errorf("ipRanges[%d]: %v", i, err)
			}
			if r.Prefix, err = netip.ParsePrefix(cidr); err != nil {
				return nil, fmt.Errorf("ipRanges[%d]: %v", i, err)
			}
			r.End = r.Prefix.Addr()
		} else if r.Prefix, err = netip.ParsePrefix(rc.Range); err != nil {
			return nil, fmt.Errorf("ipRanges[%d]: %v", i, err)
		}
		r.Prefix = r.Prefix.Masked()
		for _, e := range rc.Exclude {
			p, err := netip.ParsePrefix(e)
			if err != nil {
				return nil, fmt.Errorf("ipRanges[%d].exclude: %v", i, err)
			}
			r.Exclude = append(r.Exclude, p.Masked())
		}
		out = append(out, r)
	}
	return out, nil
}

// Size is how many addresses whereabouts can hand out from the range: the usable addresses
// of the prefix (not the network or broadcast address, iphelpers FirstUsableIP/LastUsableIP),
// narrowed by range_start/range_end when they lie inside (iphelpers.GetIPRange), less the
// excluded prefixes.
func (r WhereaboutsRange) Size() float64 {
	bits := r.Prefix.Addr().BitLen()
	if bits-r.Prefix.Bits() <= 1 {
		return 0
	}
	first := r.Prefix.Addr().Next()
	last := lastAddr(r.Prefix).Prev()
	if r.Start.IsValid() && (Range{first, last}).Contains(r.Start) {
		first = r.Start
	}
	if r.End.IsValid() && (Range{first, last}).Contains(r.End) {
		last = r.End
	}
	span := Range{first, last}
	total := span.Size()
	for _, ex := range mergeExcludes(r.Exclude) {
		lo, hi := ex.Start, ex.End
		if lo.Compare(span.Start) < 0 {
			lo = span.Start
		}
		if hi.Compare(span.End) > 0 {
			hi = span.End
		}
		if lo.BitLen() == span.Start.BitLen() && lo.Compare(hi) <= 0 {
			total.Sub(total, Range{lo, hi}.Size())
		}
	}
	f, _ := new(big.Float).SetInt(total).Float64()
	return f
}

// mergeExcludes turns excluded prefixes into sorted, non-overlapping ranges.
func mergeExcludes(ps []netip.Prefix) []Range {
	rs := make([]Range, 0, len(ps))
	for _, p := range ps {
		rs = append(rs, Range{p.Addr(), lastAddr(p)})
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].Start.Compare(rs[j].Start) < 0 })
	var out []Range
	for _, r := range rs {
		if n := len(out); n > 0 && out[n-1].End.BitLen() == r.Start.BitLen() &&
			(out[n-1].End.Compare(r.Start) >= 0 || out[n-1].End.Next() == r.Start) {
			if r.End.Compare(out[n-1].End) > 0 {
				out[n-1].End = r.End
			}
			continue
		}
		out = append(out, r)
	}
	return out
}

// PoolSize is the size of an IPPool when no config for it is known: the usable addresses of
// its range.
func PoolSize(p IPPool) (float64, error) {
	prefix, err := netip.ParsePrefix(p.Spec.Range)
	if err != nil {
		return 0, err
	}
	return WhereaboutsRange{Prefix: prefix.Masked()}.Size(), nil
}
