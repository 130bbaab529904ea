// netplumb's pause: the process every pod sandbox holds its namespaces with (the sandbox
// image's entrypoint). Upstream's pause is a C program built into
// registry.k8s.io/pause; this is a static Go program doing the same job (main.go).
module netplumb.local/tools/pause

go 1.26.0
