package spool

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash/fnv"
	"os"
	"path/filepath"
	"syscall"
)

// Attachment is one live network attachment on the node: a successful ADD of a network to a
// container's interface that has not been deleted yet.
type Attachment struct {
	Network     string `json:"network"`
	Namespace   string `json:"namespace,omitempty"`
	Pod         string `json:"pod,omitempty"`
	ContainerID string `json:"containerID"`
	IfName      string `json:"ifname"`
	Plugin      string `json:"plugin"`
	Added       int64  `json:"added"` // unix seconds
}

// AttachmentKey names the file of one attachment: a hash of network, container id and interface,
// so that repeated ADDs and every plugin of a chain land on one file.
func AttachmentKey(network, containerID, ifName string) string {
	h := fnv.New128a()
	h.Write([]byte(network))
	h.Write([]byte{0})
	h.Write([]byte(containerID))
	h.Write([]byte{0})
	h.Write([]byte(ifName))
	return hex.EncodeToString(h.Sum(nil))
}

// AddAttachment records a live attachment: one file, created only if absent (a repeated ADD
// or another plugin of the chain finds it there). A reader skips a file it catches half
// written; it sees it whole at its next look.
func AddAttachment(stateDir string, a Attachment) error {
	body, err := json.Marshal(a)
	if err != nil {
		return err
	}
	dir := filepath.Join(stateDir, AttachDir)
	path := filepath.Join(dir, AttachmentKey(a.Network, a.ContainerID, a.IfName))
	flags := syscall.O_WRONLY | syscall.O_CREAT | syscall.O_EXCL | syscall.O_NONBLOCK | syscall.O_CLOEXEC
	fd, err := syscall.Open(path, flags, 0o644)
	if errors.Is(err, syscall.ENOENT) {
		if makeDir(stateDir, AttachDir) != nil {
			return err
		}
		fd, err = syscall.Open(path, flags, 0o644)
	}
	if errors.Is(err, syscall.EEXIST) {
		return nil
	}
	if err != nil {
		return err
	}
	body = append(body, '\n')
	n, werr := syscall.Write(fd, body)
	cerr := syscall.Close(fd)
	if werr == nil && n != len(body) {
		werr = syscall.EIO
	}
	if werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = syscall.Unlink(path)
	}
	return werr
}

// RemoveAttachment forgets an attachment; removing one that is not there is not an error
// (DEL is idempotent and may repeat).
func RemoveAttachment(stateDir, network, containerID, ifName string) error {
	err := syscall.Unlink(filepath.Join(stateDir, AttachDir, AttachmentKey(network, containerID, ifName)))
	if errors.Is(err, syscall.ENOENT) {
		return nil
	}
	return err
}

// ValidAttachment is one element of a GC's cni.dev/valid-attachments list.
type ValidAttachment struct {
	ContainerID string `json:"containerID"`
	IfName      string `json:"ifname"`
}

// PruneAttachments removes the attachments of network that are not in valid (after a
// successful CNI GC of that network). It returns how many it removed.
func PruneAttachments(stateDir, network string, valid []ValidAttachment) int {
	keep := make(map[string]bool, len(valid))
	for _, v := range valid {
		keep[AttachmentKey(network, v.ContainerID, v.IfName)] = true
	}
	removed := 0
	for _, a := range readAttachments(filepath.Join(stateDir, AttachDir)) {
		if a.Network != network {
			continue
		}
		key := AttachmentKey(a.Network, a.ContainerID, a.IfName)
		if !keep[key] && RemoveAttachment(stateDir, a.Network, a.ContainerID, a.IfName) == nil {
			removed++
		}
	}
	return removed
}

// ListAttachments reads every live attachment.
func ListAttachments(stateDir string) []Attachment {
	return readAttachments(filepath.Join(stateDir, AttachDir))
}

func readAttachments(dir string) []Attachment {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	out := make([]Attachment, 0, len(entries))
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() {
			continue
		}
		body, err := readSmall(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		var a Attachment
		if json.Unmarshal(body, &a) != nil || AttachmentKey(a.Network, a.ContainerID, a.IfName) != name {
			continue
		}
		out = append(out, a)
	}
	return out
}
