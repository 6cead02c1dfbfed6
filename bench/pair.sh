#!/bin/bash
# Side by side: python -m bench.updates in this checkout and in another one (OLD=path, e.g. a
# worktree of an earlier commit with its own .venv), alternating, N pairs; one line per run.
# usage: OLD=../old bench/pair.sh N [bench.updates arguments...]
set -u
n=$1; shift
new=$(cd "$(dirname "$0")/.." && pwd)
for _ in $(seq 1 "$n"); do
  for checkout in "$new" "$OLD"; do
    out=$(cd "$checkout" && .venv/bin/python -m bench.updates "$@" 2>&1)
    echo "$(date +%H:%M:%S) $checkout: $(echo "$out" | grep -E '^updates:' | tail -1)" \
      "$(echo "$out" | grep -o 'calibration_ms=[0-9.]*' | head -1)"
  done
done
