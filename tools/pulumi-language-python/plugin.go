package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
)

// RunPlugin starts a resource plugin written in Python and streams its output to the engine
// until it exits. The engine reads the provider's gRPC port from the first line of stdout.
//
// A plugin is a directory with a PulumiPlugin.yaml (`runtime: python`). Two layouts run:
//
//   - a `__main__.py` in the plugin's root: `python <plugin dir> <args...>`;
//   - otherwise a package with a pyproject.toml that has a build system: the SDK's
//     `python -m pulumi.run.plugin <project name> <args...>` entry point.
//
// Plugins never run on the ambient interpreter: with pip and no `virtualenv` option the
// plugin's own `venv` directory is used (as upstream's host does). Policy packs (kind
// "analyzer") are not supported by this host.
func (h *host) RunPlugin(req *pulumirpc.RunPluginRequest,
	server pulumirpc.LanguageRuntime_RunPluginServer,
) error {
	ctx := server.Context()
	if req.GetKind() == "analyzer" {
		return status.Error(codes.Unimplemented, "this Python language host does not run policy packs")
	}
	info := req.GetInfo()
	if info == nil {
		return errors.New("RunPlugin needs the plugin's program info (an engine older than v3.140?)")
	}
	opts, err := pythonOptions(info)
	if err != nil {
		return err
	}
	tc, err := toolchain.ResolveToolchain(pluginOptions(opts))
	if err != nil {
		return err
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return fmt.Errorf("plugin %s: %w", req.GetName(), err)
	}

	cmd, err := pluginCommand(ctx, tc, info, req.GetArgs())
	if err != nil {
		return err
	}
	closer, stdout, stderr, err := rpcutil.MakeRunPluginStreams(server, false)
	if err != nil {
		return err
	}
	defer closer.Close()
	cmd.Dir = req.GetPwd()
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(env, req.GetEnv()...)
	cmd.Stdout, cmd.Stderr = stdout, stderr

	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) && exitErr.ExitCode() >= 0 {
			if err := closer.Close(); err != nil {
				return err
			}
			return server.Send(&pulumirpc.RunPluginResponse{
				Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(exitErr.ExitCode())},
			})
		}
		return fmt.Errorf("running plugin %s: %w", req.GetName(), err)
	}
	// A clean end of the stream tells the engine the plugin exited with code 0.
	return closer.Close()
}

// pluginCommand is the command line that starts the plugin in info's directory.
func pluginCommand(ctx context.Context, tc toolchain.Toolchain, info *pulumirpc.ProgramInfo,
	args []string,
) (*exec.Cmd, error) {
	root := info.GetRootDirectory()
	programDir := info.GetProgramDirectory()
	if programDir == "" {
		programDir = root
	}
	_, err := os.Stat(filepath.Join(root, "__main__.py"))
	switch {
	case err == nil:
		return tc.Command(ctx, append([]string{programDir}, args...)...)
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("looking for the plugin's __main__.py: %w", err)
	}
	buildable, err := toolchain.IsBuildablePackage(root)
	if err != nil {
		return nil, fmt.Errorf("plugin in %s: %w", root, err)
	}
	if !buildable {
		return nil, fmt.Errorf("plugin in %s has neither a __main__.py nor a pyproject.toml "+
			"with [project] name and [build-system]", root)
	}
	pyproject, err := toolchain.LoadPyproject(root)
	if err != nil {
		return nil, err
	}
	return tc.ModuleCommand(ctx, "pulumi.run.plugin", append([]string{pyproject.Project.Name}, args...)...)
}

// pluginOptions are a plugin's Python options: as a program's, except that a plugin never
// runs on the ambient interpreter (pip without `virtualenv` means the plugin's `venv`).
func pluginOptions(opts toolchain.PythonOptions) toolchain.PythonOptions {
	if opts.Toolchain == toolchain.Pip && opts.Virtualenv == "" {
		opts.Virtualenv = "venv"
	}
	return opts
}

// installPlugin prepares a plugin's environment before the generic dependency install, and
// reports whether that install can be skipped:
//
//   - a plugin packaged with a pyproject.toml is installed into its virtualenv (`pip install
//     <dir>`), so `pulumi.run.plugin` finds it;
//   - a `__main__.py` plugin whose virtualenv is already valid and which has no
//     requirements.txt has nothing to install. The generic install would still upgrade pip,
//     setuptools and wheel from the package index in that (possibly shared) environment
//     every time the engine installs the plugin, so it is skipped.
func installPlugin(ctx context.Context, tc toolchain.Toolchain, dir string,
	useLanguageVersionTools bool, stdout, stderr io.Writer,
) (bool, error) {
	buildable, err := toolchain.IsBuildablePackage(dir)
	if err != nil {
		return false, fmt.Errorf("plugin in %s: %w", dir, err)
	}
	if buildable {
		if err := tc.EnsureVenv(ctx, dir, useLanguageVersionTools, true, stdout, stderr); err != nil {
			return false, fmt.Errorf("creating the plugin's virtual environment: %w", err)
		}
		cmd, err := tc.ModuleCommand(ctx, "pip", "install", dir)
		if err != nil {
			return false, err
		}
		cmd.Stdout, cmd.Stderr = stdout, stderr
		if err := cmd.Run(); err != nil {
			return false, fmt.Errorf("installing plugin package %s: %w", dir, err)
		}
		return false, nil
	}
	if _, err := os.Stat(filepath.Join(dir, "requirements.txt")); err == nil {
		return false, nil
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return false, nil // no environment yet: the generic install creates it
	}
	fmt.Fprintf(stdout, "The plugin's virtual environment is ready and lists no requirements: "+
		"nothing to install.\n")
	return true, nil
}
