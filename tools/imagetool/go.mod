// netplumb's image tool: builds OCI images from pinned binaries and local files with
// go-containerregistry and writes them as a tarball that `ctr images import` reads.
// The glue is main.go; only pins live here otherwise.
module netplumb.local/tools/imagetool

go 1.26.0

require github.com/google/go-containerregistry v0.22.1

require (
	github.com/klauspost/compress v1.19.2 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
)
