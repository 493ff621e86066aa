#!/usr/bin/env bash
# bench/all.sh — every bench in sequence (~10 min), then the tables.
set -euo pipefail
d=$(dirname "$0")
"$d/init.sh" >/dev/null
"$d/checks.sh" >/dev/null
"$d/usage.sh" >/dev/null
cat "$d/results/init.md" "$d/results/checks.md" "$d/results/usage.md"
