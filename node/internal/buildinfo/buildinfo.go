// Package buildinfo holds the version stamped into netplumb-node at build time and the pins of
// the third-party plugins the image ships.
package buildinfo

import "runtime"

// Version is set with -ldflags "-X netplumb.dev/node/internal/buildinfo.Version=v0.1.0".
var Version = "dev"

// Pins of the plugin sources bundled in the image (tools/cni-plugins, tools/whereabouts).
const (
	CNIPlugins  = "v1.9.1"
	Whereabouts = "v0.9.2"
)

// GoVersion is the Go toolchain the binary was built with.
func GoVersion() string { return runtime.Version() }
