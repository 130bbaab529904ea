// Command pulumi-language-python is a small Python language host for the Pulumi engine.
//
// Upstream's host (module github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3)
// is not served by the Go module proxy reachable here, so netplumb carries this minimal one.
// It implements what `pulumi preview/up/destroy/refresh` and the Automation API need:
// Handshake, GetPluginInfo, GetRequiredPackages, Run, About, GetProgramDependencies,
// InstallDependencies and Cancel, and RunPlugin, which runs a Python resource provider
// (a component provider with a PulumiPlugin.yaml, as `pulumi package add <dir>` and programs
// using it start it). Programs are run by the SDK's own `pulumi-language-python-exec` script
// (copied next to this binary at build time), with the Python toolchain helpers of the pulumi
// Go SDK (pip / poetry / uv, `virtualenv` option). Everything else (policy packs, code
// generation, Link, Pack) answers Unimplemented.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
)

// version is stamped with -ldflags -X main.version=...
var version = "dev"

const (
	execScript = "pulumi-language-python-exec"
	// The exec script exits with this code after it printed a message meant for the user.
	exitAfterUserMessage = 32
)

func main() {
	showVersion := flag.Bool("version", false, "print the plugin version and exit")
	tracing := flag.String("tracing", "", "tracing endpoint (passed on to the program)")
	executor := flag.String("use-executor", "", "program to use instead of the "+execScript+" beside this binary")
	flag.Parse()
	if *showVersion {
		fmt.Println(version)
		return
	}
	logging.InitLogging(false, 0, false)

	execPath := *executor
	if execPath == "" {
		self, err := os.Executable()
		if err != nil {
			fatal(fmt.Errorf("could not determine the current executable: %w", err))
		}
		execPath = filepath.Join(filepath.Dir(self), execScript)
		if _, err := os.Stat(execPath); err != nil {
			fatal(fmt.Errorf("missing executor %s: %w", execPath, err))
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	cancelServe := make(chan bool)
	go func() {
		<-ctx.Done()
		stop()
		close(cancelServe)
	}()

	host := newHost(execPath, *tracing)
	if args := flag.Args(); len(args) > 0 {
		host.engineAddress = args[0]
		if err := rpcutil.Healthcheck(ctx, host.engineAddress, 5*time.Minute, stop); err != nil {
			fatal(fmt.Errorf("could not start health check: %w", err))
		}
	}

	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancelServe,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
		Options: rpcutil.TracingServerInterceptorOptions(nil),
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

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	exec    string
	tracing string

	mu            sync.Mutex
	engineAddress string
	cancelCtx     context.Context
	cancel        context.CancelFunc
}

func newHost(execPath, tracing string) *host {
	ctx, cancel := context.WithCancel(context.Background())
	return &host{exec: execPath, tracing: tracing, cancelCtx: ctx, cancel: cancel}
}

func (h *host) engine() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.engineAddress
}

// pythonOptions reads the runtime options of Pulumi.yaml (`toolchain`, `virtualenv`,
// `typechecker`) from a ProgramInfo.
func pythonOptions(info *pulumirpc.ProgramInfo) (toolchain.PythonOptions, error) {
	opts := toolchain.PythonOptions{Toolchain: toolchain.Pip}
	if info == nil {
		return opts, nil
	}
	opts.Root = info.GetRootDirectory()
	opts.ProgramDir = info.GetProgramDirectory()
	options := info.GetOptions().AsMap()
	str := func(key string) (string, error) {
		v, ok := options[key]
		if !ok {
			return "", nil
		}
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("runtime option %q must be a string", key)
		}
		return s, nil
	}
	venv, err := str("virtualenv")
	if err != nil {
		return opts, err
	}
	opts.Virtualenv = venv
	tc, err := str("toolchain")
	if err != nil {
		return opts, err
	}
	switch tc {
	case "", "pip":
		opts.Toolchain = toolchain.Pip
	case "poetry":
		opts.Toolchain = toolchain.Poetry
	case "uv":
		opts.Toolchain = toolchain.Uv
	default:
		return opts, fmt.Errorf("unsupported toolchain option: %s", tc)
	}
	checker, err := str("typechecker")
	if err != nil {
		return opts, err
	}
	switch checker {
	case "":
	case "mypy":
		opts.Typechecker = toolchain.TypeCheckerMypy
	case "pyright":
		opts.Typechecker = toolchain.TypeCheckerPyright
	default:
		return opts, fmt.Errorf("unsupported typechecker option: %s", checker)
	}
	return opts, nil
}

func (h *host) Handshake(ctx context.Context,
	req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.mu.Lock()
	h.engineAddress = req.GetEngineAddress()
	h.mu.Unlock()
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

func (h *host) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	h.cancel()
	return &emptypb.Empty{}, nil
}

// pluginJSONScript prints the pulumi-plugin.json of every installed distribution.
const pluginJSONScript = `
import importlib.metadata as md, json
found = []
for dist in md.distributions():
    for f in dist.files or ():
        if f.name == "pulumi-plugin.json":
            try:
                found.append(json.loads(f.read_text()))
            except Exception:
                pass
print(json.dumps(found))
`

type pluginJSON struct {
	Resource bool   `json:"resource"`
	Name     string `json:"name"`
	Version  string `json:"version"`
	Server   string `json:"server"`
	// Parameterized packages are skipped: the engine then loads them when first used.
	Parameterization json.RawMessage `json:"parameterization"`
}

// GetRequiredPackages lists the resource plugins named by the pulumi-plugin.json files of the
// packages installed in the program's Python environment.
func (h *host) GetRequiredPackages(ctx context.Context,
	req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	opts, err := pythonOptions(req.GetInfo())
	if err != nil {
		return nil, err
	}
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return nil, err
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return nil, err
	}
	cmd, err := tc.Command(ctx, "-c", pluginJSONScript)
	if err != nil {
		return nil, err
	}
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("listing pulumi-plugin.json files: %w", err)
	}
	var found []pluginJSON
	if err := json.Unmarshal(out, &found); err != nil {
		return nil, fmt.Errorf("listing pulumi-plugin.json files: %w", err)
	}
	packages := []*pulumirpc.PackageDependency{}
	for _, p := range found {
		if !p.Resource || p.Name == "" || p.Version == "" || len(p.Parameterization) > 0 {
			continue
		}
		packages = append(packages, &pulumirpc.PackageDependency{
			Kind:    "resource",
			Name:    p.Name,
			Version: p.Version,
			Server:  p.Server,
		})
	}
	return &pulumirpc.GetRequiredPackagesResponse{Packages: packages}, nil
}

func (h *host) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	opts, err := pythonOptions(req.GetInfo())
	if err != nil {
		return nil, err
	}
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return nil, err
	}
	info, err := tc.About(ctx)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.AboutResponse{
		Executable: info.PythonExecutable,
		Version:    info.PythonVersion.String(),
		Metadata: map[string]string{
			"toolchain":        toolchain.Name(opts.Toolchain),
			"toolchainVersion": info.ToolchainVersion.String(),
		},
	}, nil
}

func (h *host) GetProgramDependencies(ctx context.Context,
	req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	opts, err := pythonOptions(req.GetInfo())
	if err != nil {
		return nil, err
	}
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return nil, err
	}
	deps, err := tc.ListPackages(ctx, req.GetTransitiveDependencies())
	if err != nil {
		return nil, fmt.Errorf("listing python dependencies: %w", err)
	}
	result := make([]*pulumirpc.DependencyInfo, 0, len(deps))
	for _, d := range deps {
		result = append(result, &pulumirpc.DependencyInfo{Name: d.Name, Version: d.Version})
	}
	return &pulumirpc.GetProgramDependenciesResponse{Dependencies: result}, nil
}

// streamWriter forwards output to an InstallDependencies stream.
type streamWriter struct {
	server pulumirpc.LanguageRuntime_InstallDependenciesServer
	stderr bool
}

func (w streamWriter) Write(p []byte) (int, error) {
	resp := &pulumirpc.InstallDependenciesResponse{}
	if w.stderr {
		resp.Stderr = append([]byte(nil), p...)
	} else {
		resp.Stdout = append([]byte(nil), p...)
	}
	if err := w.server.Send(resp); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (h *host) InstallDependencies(req *pulumirpc.InstallDependenciesRequest,
	server pulumirpc.LanguageRuntime_InstallDependenciesServer,
) error {
	opts, err := pythonOptions(req.GetInfo())
	if err != nil {
		return err
	}
	if req.GetIsPlugin() {
		opts = pluginOptions(opts)
	}
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return err
	}
	ctx := server.Context()
	dir := req.GetInfo().GetProgramDirectory()
	stdout := streamWriter{server: server}
	stderr := streamWriter{server: server, stderr: true}
	if req.GetIsPlugin() {
		done, err := installPlugin(ctx, tc, dir, req.GetUseLanguageVersionTools(), stdout, stderr)
		if err != nil || done {
			return err
		}
	}
	return tc.InstallDependencies(ctx, dir, req.GetUseLanguageVersionTools(), true, stdout, stderr)
}

// runArgs is the command line of the exec script for one RunRequest.
func (h *host) runArgs(req *pulumirpc.RunRequest) []string {
	args := []string{h.exec}
	add := func(k, v string) {
		if v != "" {
			args = append(args, "--"+k, v)
		}
	}
	add("monitor", req.GetMonitorAddress())
	add("engine", h.engine())
	add("project", req.GetProject())
	add("root_directory", req.GetInfo().GetRootDirectory())
	add("stack", req.GetStack())
	add("pwd", req.GetPwd())
	add("dry_run", strconv.FormatBool(req.GetDryRun()))
	add("parallel", strconv.Itoa(int(req.GetParallel())))
	add("tracing", h.tracing)
	add("organization", req.GetOrganization())
	entry := req.GetInfo().GetEntryPoint()
	if entry == "" {
		entry = "."
	}
	args = append(args, entry)
	return append(args, req.GetArgs()...)
}

func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	if h.engine() == "" {
		return nil, errors.New("no engine address: the engine must pass one or call Handshake")
	}
	opts, err := pythonOptions(req.GetInfo())
	if err != nil {
		return nil, err
	}
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return nil, err
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return nil, err
	}
	config := "{}"
	if m := req.GetConfig(); m != nil {
		b, err := json.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("serializing config: %w", err)
		}
		config = string(b)
	}
	secretKeys := "[]"
	if keys := req.GetConfigSecretKeys(); keys != nil {
		b, err := json.Marshal(keys)
		if err != nil {
			return nil, fmt.Errorf("serializing config secret keys: %w", err)
		}
		secretKeys = string(b)
	}

	if opts.Typechecker != toolchain.TypeCheckerNone {
		if err := h.typecheck(ctx, tc, opts, req.GetInfo().GetProgramDirectory()); err != nil {
			return nil, err
		}
	}

	// Stop the program when the engine sends Cancel or the request ends.
	runCtx, runCancel := context.WithCancel(h.cancelCtx)
	defer runCancel()
	stopWatch := context.AfterFunc(ctx, runCancel)
	defer stopWatch()
	cmd, err := tc.Command(runCtx, h.runArgs(req)...)
	if err != nil {
		return nil, err
	}
	cmd.Cancel = func() error {
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			return cmd.Process.Kill()
		}
		return nil
	}
	cmd.WaitDelay = 5 * time.Second
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(env, "PULUMI_CONFIG="+config, "PULUMI_CONFIG_SECRET_KEYS="+secretKeys)

	err = cmd.Run()
	if err == nil {
		return &pulumirpc.RunResponse{}, nil
	}
	// Make sure the engine sees everything the program printed before it failed.
	_ = os.Stdout.Sync()
	_ = os.Stderr.Sync()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		switch code := exitErr.ExitCode(); code {
		case exitAfterUserMessage:
			return &pulumirpc.RunResponse{Bail: true}, nil
		case -1:
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("program exited unexpectedly: %v", err)}, nil
		default:
			return &pulumirpc.RunResponse{
				Error: fmt.Sprintf("program exited with non-zero exit code: %d", code),
			}, nil
		}
	}
	return &pulumirpc.RunResponse{
		Error: fmt.Sprintf("problem executing program (could not run language executor): %v", err),
	}, nil
}

func (h *host) typecheck(ctx context.Context, tc toolchain.Toolchain,
	opts toolchain.PythonOptions, programDir string,
) error {
	name := "mypy"
	if opts.Typechecker == toolchain.TypeCheckerPyright {
		name = "pyright"
	}
	args := []string{"-m", name}
	if name == "mypy" {
		if venv, err := tc.VirtualEnvPath(ctx); err == nil && venv != "" {
			if rel, err := filepath.Rel(programDir, venv); err == nil {
				args = append(args, "--exclude", rel)
			}
		}
	}
	cmd, err := tc.Command(ctx, append(args, programDir)...)
	if err != nil {
		return err
	}
	cmd.Dir = programDir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s failed: %w\n%s", name, err, out)
	}
	return nil
}
