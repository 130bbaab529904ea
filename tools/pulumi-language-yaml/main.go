// Command pulumi-language-yaml: the Pulumi YAML language host of github.com/pulumi/pulumi-yaml
// v1.25.0 (the newest release the Go module proxy serves), with two changes its later
// releases made:
//
//   - Link: the CLI (v3.274.1) calls it after `pulumi package add` generated a package's
//     schema for a YAML project; v1.25.0 answers Unimplemented, which fails the command.
//     YAML needs no SDK linked (the CLI itself records the package in Pulumi.yaml), so Link
//     does nothing and says so by succeeding (as pulumi-yaml does from v1.26.2 on).
//   - Programs load package schemas through the engine's loader (the RunRequest's loader
//     target), not with v1.25.0's own plugin loader (as pulumi-yaml does from v1.36.0 on).
//     The own loader (pulumi pkg v3.220) caches a local plugin's schema in a file beside the
//     plugin's directory, keyed by that directory's modification time: for a component
//     provider in a source tree that is a stray file in the tree, and a stale schema after
//     the components change.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"google.golang.org/grpc"

	"github.com/pulumi/pulumi-yaml/pkg/server"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// host is pulumi-yaml's language host with Link added.
type host struct {
	pulumirpc.LanguageRuntimeServer
}

func (host) Link(context.Context, *pulumirpc.LinkRequest) (*pulumirpc.LinkResponse, error) {
	return &pulumirpc.LinkResponse{}, nil
}

func main() {
	tracing := flag.String("tracing", "", "tracing endpoint")
	flag.String("root", "", "root of the program (unused)")
	flag.String("compiler", "", "obsolete; ignored")
	flag.Parse()
	logging.InitLogging(false, 0, false)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var engineAddress string
	if args := flag.Args(); len(args) > 0 {
		engineAddress = args[0]
		if err := rpcutil.Healthcheck(ctx, engineAddress, 5*time.Minute, stop); err != nil {
			fatal(fmt.Errorf("could not start health check: %w", err))
		}
	}
	cancel := make(chan bool)
	go func() {
		<-ctx.Done()
		close(cancel)
	}()

	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancel,
		Init: func(srv *grpc.Server) error {
			yaml := server.NewLanguageHost(engineAddress, *tracing, true /* useRPCLoader */)
			pulumirpc.RegisterLanguageRuntimeServer(srv, host{yaml})
			return nil
		},
	})
	if err != nil {
		fatal(fmt.Errorf("could not start the language host RPC server: %w", err))
	}
	// The engine reads the port from our first line of output.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fatal(fmt.Errorf("language host RPC server stopped: %w", err))
	}
}

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "error: %v\n", err)
	os.Exit(1)
}
