package cri

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

type fakeRuntime struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	items []*runtimeapi.PodSandbox
}

func (f *fakeRuntime) ListPodSandbox(context.Context, *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	return &runtimeapi.ListPodSandboxResponse{Items: f.items}, nil
}

func TestListAsksTheRuntimeOverItsSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "cri.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	runtimeapi.RegisterRuntimeServiceServer(srv, &fakeRuntime{items: []*runtimeapi.PodSandbox{
		{Id: "a1", State: runtimeapi.PodSandboxState_SANDBOX_READY,
			Metadata: &runtimeapi.PodSandboxMetadata{Namespace: "ns", Name: "web"}},
		{Id: "b2", State: runtimeapi.PodSandboxState_SANDBOX_NOTREADY},
	}})
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, endpoint := range []string{sock, "unix://" + sock} {
		got, err := List(ctx, endpoint)
		if err != nil {
			t.Fatal(err)
		}
		want := []Sandbox{{ID: "a1", Ready: true, Namespace: "ns", Name: "web"}, {ID: "b2"}}
		if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
			t.Fatalf("%s: %+v, want %+v", endpoint, got, want)
		}
	}
}

func TestOnlyUnixSocketsAreEndpoints(t *testing.T) {
	if _, err := List(context.Background(), "tcp://127.0.0.1:1"); err == nil {
		t.Fatal("a tcp endpoint was accepted")
	}
	if _, err := List(context.Background(), filepath.Join(t.TempDir(), "none.sock")); err == nil {
		t.Fatal("a missing socket answered")
	}
}
