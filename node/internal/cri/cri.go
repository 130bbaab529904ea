// Package cri asks the node's container runtime (its CRI endpoint: containerd's or CRI-O's
// socket) which pod sandboxes exist, so that what their CNI ADDs left on the node can be
// told apart from what only a lost DEL left.
package cri

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// DefaultEndpoint is containerd's CRI socket.
const DefaultEndpoint = "unix:///run/containerd/containerd.sock"

// Sandbox is one pod sandbox the runtime reports.
type Sandbox struct {
	ID        string
	Ready     bool // SANDBOX_READY: its network is set up and in use
	Namespace string
	Name      string
}

// Target is the gRPC target of an endpoint: a path or unix:// URL (the kubelet's
// --container-runtime-endpoint spelling) becomes unix://<path>.
func Target(endpoint string) (string, error) {
	switch {
	case strings.HasPrefix(endpoint, "unix://"):
		return endpoint, nil
	case strings.HasPrefix(endpoint, "/"):
		return "unix://" + endpoint, nil
	default:
		return "", fmt.Errorf("CRI endpoint %q: expected a unix socket (unix:///path or /path)", endpoint)
	}
}

// List returns every pod sandbox of the runtime at endpoint, in any state.
func List(ctx context.Context, endpoint string) ([]Sandbox, error) {
	target, err := Target(endpoint)
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("CRI %s: %w", endpoint, err)
	}
	defer conn.Close()
	resp, err := runtimeapi.NewRuntimeServiceClient(conn).ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return nil, fmt.Errorf("CRI %s: ListPodSandbox: %w", endpoint, err)
	}
	out := make([]Sandbox, 0, len(resp.Items))
	for _, s := range resp.Items {
		sb := Sandbox{ID: s.Id, Ready: s.State == runtimeapi.PodSandboxState_SANDBOX_READY}
		if m := s.Metadata; m != nil {
			sb.Namespace, sb.Name = m.Namespace, m.Name
		}
		out = append(out, sb)
	}
	return out, nil
}
