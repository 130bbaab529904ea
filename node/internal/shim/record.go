package shim

import (
	"encoding/json"
	"os"
	"strings"
	"time"

	"netplumb.dev/node/internal/spool"
)

// netConf is the part of the CNI config on stdin the shim looks at.
type netConf struct {
	Name             string                  `json:"name"`
	Type             string                  `json:"type"`
	IPAM             json.RawMessage         `json:"ipam"`
	ValidAttachments []spool.ValidAttachment `json:"cni.dev/valid-attachments"`
}

// cniError is a CNI error result (printed on stdout with a non-zero exit).
type cniError struct {
	Code *uint  `json:"code"`
	Msg  string `json:"msg"`
}

// record spools one record of the operation and keeps the attachment files in step.
// Every error is ignored: the operation's outcome is already decided and passed on.
func record(stateDir, plugin, op string, stdin []byte, res result) {
	var conf netConf
	_ = json.Unmarshal(stdin, &conf)
	env := cniArgs(os.Getenv("CNI_ARGS"))
	rec := spool.Record{
		V:           spool.RecordVersion,
		Start:       res.start.UnixNano(),
		Seconds:     res.elapsed.Seconds(),
		Op:          op,
		Plugin:      plugin,
		Type:        conf.Type,
		Network:     conf.Name,
		Result:      spool.Success,
		Exit:        res.exit,
		Namespace:   env["K8S_POD_NAMESPACE"],
		Pod:         env["K8S_POD_NAME"],
		ContainerID: os.Getenv("CNI_CONTAINERID"),
		IfName:      os.Getenv("CNI_IFNAME"),
	}
	if len(conf.IPAM) <= spool.MaxIPAMLen {
		rec.IPAM = conf.IPAM
	}
	if res.exit != 0 || res.signal != 0 || res.missing {
		rec.Result = spool.Failure
		var e cniError
		if json.Unmarshal(res.stdout, &e) == nil && e.Code != nil {
			rec.Code = e.Code
			rec.Msg = e.Msg
			if len(rec.Msg) > spool.MaxMsgLen {
				rec.Msg = rec.Msg[:spool.MaxMsgLen]
			}
		}
		if res.signal != 0 {
			rec.Signal = res.signal.String()
		}
	}
	if line, err := json.Marshal(rec); err == nil {
		seed := uint64(os.Getpid())<<20 ^ uint64(time.Now().UnixNano())
		_ = spool.Deliver(stateDir, append(line, '\n'), seed)
	}
	// Attachments are tracked for the plugin the config is for, not for an IPAM plugin it
	// delegates to (which gets the same config with another "type").
	if rec.Result != spool.Success || conf.Type != plugin || conf.Name == "" {
		return
	}
	switch op {
	case "ADD":
		_ = spool.AddAttachment(stateDir, spool.Attachment{
			Network: conf.Name, Namespace: rec.Namespace, Pod: rec.Pod,
			ContainerID: rec.ContainerID, IfName: rec.IfName, Plugin: plugin,
			Added: res.start.Unix(),
		})
	case "DEL":
		_ = spool.RemoveAttachment(stateDir, conf.Name, rec.ContainerID, rec.IfName)
	case "GC":
		if conf.ValidAttachments != nil {
			spool.PruneAttachments(stateDir, conf.Name, conf.ValidAttachments)
		}
	}
}

// cniArgs splits CNI_ARGS ("K1=v1;K2=v2").
func cniArgs(s string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ";") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			out[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return out
}
