// Command pulumi-resource-kubernetes serves the pulumi-kubernetes provider.
//
// Upstream's main embeds two generated files; internal/gen produces them from the
// provider module's committed schema.json and terraform-mapping.json (see tool.toml).
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}
