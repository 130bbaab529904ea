#!/usr/bin/env bash
# `make test`'s runner. The real-node suites (tests/dataplane, tests/e2e) run in the
# foreground on the embedded cluster; beside them run the static checks (ruff, mypy --strict,
# gofmt, go vet, go test in node/) and the unit tests, on the CPU the e2e tests leave idle
# while they wait on the cluster (a node going NotReady, a reconciler's schedule, a pod
# starting). Their output is kept in a log and printed after the e2e run; one line says when
# they finished. Any failure of either, or a suite that collects no test (pytest's exit 5),
# fails the run.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
VPY=.venv/bin/python
mkdir -p .netplumb
log=.netplumb/test-checks.log

export NETPLUMB_TARGET=embedded
exec 3>&2  # the terminal's stderr, for the checks' one line when they finish
set -m  # the checks get a process group of their own, so that an interrupt can stop them all
(
  start=$SECONDS
  if make --no-print-directory lint typecheck gocheck && $VPY -m pytest -q -ra tests/unit; then
    echo "netplumb: checks and unit tests passed in $((SECONDS - start)) s (log: $log)" >&3
  else
    echo "netplumb: checks or unit tests FAILED after $((SECONDS - start)) s (log: $log)" >&3
    exit 1
  fi
) > "$log" 2>&1 &
checks=$!
set +m
trap 'kill -- -"$checks" 2>/dev/null; exit 130' INT TERM

$VPY -m pytest -q -ra --durations=30 tests/dataplane tests/e2e
e2e=$?

if kill -0 "$checks" 2>/dev/null; then
  echo "netplumb: waiting for the checks and unit tests ..."
fi
wait "$checks"
checked=$?
echo
echo "======== checks and unit tests ($log) ========"
cat "$log"
if [ "$e2e" -ne 0 ] || [ "$checked" -ne 0 ]; then
  echo "netplumb: make test FAILED (real-node suites exit $e2e, checks and unit tests exit $checked)" >&2
  exit 1
fi
echo "netplumb: make test passed"
