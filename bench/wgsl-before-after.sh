#!/usr/bin/env bash
# WGSL kernels before and after a change, in one run on this machine: bench/webgpu-steps.ts run by an older flexc
# (a git worktree of REV, by default the last commit before the kernel IR) and by this one, alternately, twice each.
# Usage: bash bench/wgsl-before-after.sh [REV]
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:-f8119e2}
tmp=$(mktemp -d)
dir=$tmp/before
git worktree add -q --detach "$dir" "$rev"
trap 'git worktree remove --force "$dir"; rm -rf "$tmp"' EXIT
ln -s "$PWD/node_modules" "$dir/node_modules"
# the examples read ../shared/data beside the repository
[ -e ../shared ] && ln -s "$(cd ../shared && pwd)" "$tmp/shared"
cp bench/webgpu-steps.ts "$dir/bench/"
for round in 1 2; do
  (cd "$dir" && npx tsx bench/webgpu-steps.ts 2>/dev/null) | sed "s/^/before($rev) /"
  npx tsx bench/webgpu-steps.ts 2>/dev/null | sed 's/^/after /'
done | awk '{ key = $2 " " $3; if ($1 == "after") a[key] += $4; else b[key] += $4; print }
  END { for (k in a) printf "ratio after/before %s: %.2f\n", k, a[k] / b[k] }'
