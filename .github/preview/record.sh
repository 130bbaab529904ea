#!/usr/bin/env bash
# record.sh DIR STEP COMMAND [ARG...]
#
# Runs COMMAND as a step of the pull-request preview and keeps what `netplumb pr-comment`
# reads: its output (stdout and stderr together, as the log shows them) in DIR/STEP.out and
# its exit status in DIR/STEP.exit. The output is also printed for the workflow log. Always
# exits 0, so the later steps run and the comment shows every step's result.
set -uo pipefail
if [ $# -lt 3 ]; then
  echo "usage: record.sh DIR STEP COMMAND [ARG...]" >&2
  exit 2
fi
dir=$1
step=$2
shift 2
mkdir -p "$dir"
"$@" 2>&1 | tee "$dir/$step.out"
echo "${PIPESTATUS[0]}" > "$dir/$step.exit"
exit 0
