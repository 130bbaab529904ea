module netplumb.dev/node

go 1.26.0

require github.com/prometheus/client_golang v1.25.0 // indirect
