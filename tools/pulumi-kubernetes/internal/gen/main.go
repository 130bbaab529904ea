// Command gen writes schema-embed.json and terraform-mapping-embed.json for the
// provider main in the parent directory: the provider module's schema.json with
// .version set, re-marshalled compact, and its terraform-mapping.json compacted.
package main

import (
	"encoding/json"
	"flag"
	"log"
	"os"
	"path/filepath"

	"github.com/pulumi/pulumi/pkg/v3/codegen/schema"
)

func main() {
	dir := flag.String("dir", "", "directory holding schema.json and terraform-mapping.json")
	version := flag.String("version", "", "provider version to record in the schema")
	out := flag.String("out", ".", "output directory")
	flag.Parse()
	if *dir == "" || *version == "" {
		log.Fatal("usage: gen -dir DIR -version VERSION [-out DIR]")
	}

	raw, err := os.ReadFile(filepath.Join(*dir, "schema.json"))
	if err != nil {
		log.Fatal(err)
	}
	var spec schema.PackageSpec
	if err := json.Unmarshal(raw, &spec); err != nil {
		log.Fatalf("decoding schema.json: %v", err)
	}
	spec.Version = *version
	compact, err := json.Marshal(spec)
	if err != nil {
		log.Fatalf("encoding schema: %v", err)
	}
	write(filepath.Join(*out, "schema-embed.json"), compact)

	raw, err = os.ReadFile(filepath.Join(*dir, "terraform-mapping.json"))
	if err != nil {
		log.Fatal(err)
	}
	var mapping any
	if err := json.Unmarshal(raw, &mapping); err != nil {
		log.Fatalf("decoding terraform-mapping.json: %v", err)
	}
	compact, err = json.Marshal(mapping)
	if err != nil {
		log.Fatalf("encoding terraform mapping: %v", err)
	}
	write(filepath.Join(*out, "terraform-mapping-embed.json"), compact)
}

func write(path string, data []byte) {
	if err := os.WriteFile(path, data, 0o600); err != nil {
		log.Fatal(err)
	}
}
