package metrics

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// networksFile keeps, in the state directory, the ipam sections the shims reported, so pool
// sizes are known again right after a daemon restart.
const networksFile = "networks.json"

// networks maps CNI network names (a config's "name") to their ipam section, from two
// sources: what shims saw on stdin (the config a plugin really ran with) and the cluster's
// NetworkAttachmentDefinitions. The shims' view wins.
type networks struct {
	mu    sync.Mutex
	path  string
	seen  map[string]json.RawMessage
	nads  map[string]json.RawMessage
	dirty bool
}

func loadNetworks(stateDir string) *networks {
	n := &networks{path: filepath.Join(stateDir, networksFile), seen: map[string]json.RawMessage{},
		nads: map[string]json.RawMessage{}}
	if body, err := os.ReadFile(n.path); err == nil {
		_ = json.Unmarshal(body, &n.seen)
	}
	return n
}

func (n *networks) fromRecord(network string, ipam json.RawMessage) {
	if network == "" || len(ipam) == 0 || !json.Valid(ipam) {
		return
	}
	var compact bytes.Buffer
	if json.Compact(&compact, ipam) != nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if !bytes.Equal(n.seen[network], compact.Bytes()) {
		n.seen[network] = compact.Bytes()
		n.dirty = true
	}
}

func (n *networks) setNADs(m map[string]json.RawMessage) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.nads = m
}

// all returns every known network's ipam section.
func (n *networks) all() map[string]json.RawMessage {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make(map[string]json.RawMessage, len(n.seen)+len(n.nads))
	for k, v := range n.nads {
		out[k] = v
	}
	for k, v := range n.seen {
		out[k] = v
	}
	return out
}

// save writes the shims' view when it changed (temp file + rename).
func (n *networks) save() error {
	n.mu.Lock()
	if !n.dirty {
		n.mu.Unlock()
		return nil
	}
	body, err := json.Marshal(n.seen)
	n.dirty = false
	n.mu.Unlock()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(n.path), 0o755); err != nil {
		return err
	}
	tmp := n.path + ".tmp"
	if err := os.WriteFile(tmp, body, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, n.path)
}

// ipamType reads the "type" of an ipam section.
func ipamType(raw json.RawMessage) string {
	var t struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(raw, &t)
	return t.Type
}

// nadNetworks reads NetworkAttachmentDefinitions' spec.config (a single plugin config or a
// conflist) into network name → ipam section, for the configs that have one.
func nadNetworks(items []nad) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	sort.Slice(items, func(i, j int) bool {
		return items[i].Metadata.Namespace+"/"+items[i].Metadata.Name < items[j].Metadata.Namespace+"/"+items[j].Metadata.Name
	})
	for _, it := range items {
		var conf struct {
			Name    string          `json:"name"`
			IPAM    json.RawMessage `json:"ipam"`
			Plugins []struct {
				IPAM json.RawMessage `json:"ipam"`
			} `json:"plugins"`
		}
		if json.Unmarshal([]byte(it.Spec.Config), &conf) != nil {
			continue
		}
		name := conf.Name
		if name == "" {
			name = it.Metadata.Name
		}
		ipam := conf.IPAM
		for _, p := range conf.Plugins {
			if len(ipam) == 0 && len(p.IPAM) > 0 {
				ipam = p.IPAM
			}
		}
		if len(ipam) > 0 && ipamType(ipam) != "" {
			out[name] = ipam
		}
	}
	return out
}

// nad is the part of a NetworkAttachmentDefinition (k8s.cni.cncf.io/v1) read here.
type nad struct {
	Metadata struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Spec struct {
		Config string `json:"config"`
	} `json:"spec"`
}
