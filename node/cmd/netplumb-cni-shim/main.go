// Command netplumb-cni-shim stands in for a CNI plugin: it runs the real plugin from the
// private dir beside it with everything passed through unchanged, and records the operation
// for the netplumb-node metrics daemon. See netplumb.dev/node/internal/shim.
package main

import (
	"os"
	"runtime/debug"

	"netplumb.dev/node/internal/shim"
)

func main() {
	// A shim lives for one CNI operation: collecting garbage would only cost time.
	debug.SetGCPercent(-1)
	os.Exit(shim.Main())
}
