#!/usr/bin/env bash
# go vet and gofmt over the project's own Go code (the node plugin and tool glue), and the node
# plugin's tests (go test ./... in node/: shim pass-through, install, metrics, dhcp).
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
while IFS= read -r mod; do
  dir=$(dirname "$mod")
  unformatted=$(gofmt -l "$dir")
  if [ -n "$unformatted" ]; then echo "gofmt: needs formatting:"; echo "$unformatted"; status=1; fi
  (cd "$dir" && go vet ./...) || status=1
done < <(find . -name go.mod -not -path './.venv/*' -not -path './.netplumb/*' -not -path './tools/*')
# tool wrapper modules only hold glue; format-check them too
for f in $(find tools -name '*.go' 2>/dev/null); do
  [ -z "$(gofmt -l "$f")" ] || { echo "gofmt: $f"; status=1; }
done
if [ -f node/go.mod ]; then
  (cd node && go test ./...) || status=1
fi
exit $status
