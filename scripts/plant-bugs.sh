#!/usr/bin/env bash
# `scripts/plant-bugs.sh`: plants each of the six bugs of issue 17 in turn, runs the tests that
# should catch it, restores the file, and says CAUGHT or MISSED; exits 1 if any is missed.
# Run it on a clean work tree (it restores each file from a copy, but stop it only between plants).
set -u
cd "$(dirname "$0")/.."
keep=$(mktemp -d)
trap 'rm -rf "$keep"' EXIT
missed=0
plant() { # name file old new tests...
  local name=$1 file=$2 old=$3 new=$4
  shift 4
  cp "$file" "$keep/orig"
  node -e '
    const fs = require("node:fs");
    const [p, old, neu] = process.argv.slice(1);
    const s = fs.readFileSync(p, "utf8");
    if (!s.includes(old)) { console.error(`not found in ${p}: ${old}`); process.exit(2); }
    fs.writeFileSync(p, s.replace(old, neu));
  ' "$file" "$old" "$new" || { cp "$keep/orig" "$file"; echo "== $name: could not plant"; missed=1; return; }
  local out
  out=$(NO_COLOR=1 timeout 900 npx vitest run "$@" 2>&1 | grep -E "^ *Tests ")
  cp "$keep/orig" "$file"
  if echo "$out" | grep -q failed; then echo "CAUGHT  $name:$out"; else echo "MISSED  $name:$out"; missed=1; fi
}
plant "2-D dispatch stride x*WG -> x" compiler/codegen/wgsl/kernel.ts \
  'gid.y * ${u32(x * WG)}' 'gid.y * ${u32(x)}' test/codegen/large-dispatch.test.ts
plant "free at first use instead of last" compiler/codegen/memory.ts \
  'm.values.forEach((v, i) => v.inputs.forEach((x) => lastUse.set(x, i)));' \
  'm.values.forEach((v, i) => v.inputs.forEach((x) => lastUse.has(x) || lastUse.set(x, i)));' \
  test/codegen/memory.test.ts test/interp/plan-session.test.ts
plant "advance(a, j+1) -> advance(a, j)" compiler/remat/solve-chain.ts \
  'const adv = orig ? 0 : advance(a, j + 1);' 'const adv = orig ? 0 : advance(a, j);' \
  test/remat/chain-brute-force.test.ts
plant "ZeRO-3/offload gather share inverted" compiler/cost/memory.ts \
  "bytesOf(x.type) * (1 - share('parameters'))" "bytesOf(x.type) * share('parameters')" \
  test/cost/memory-closed-form.test.ts
plant "AdamW decoupled decay sign flipped (CPU reference)" compiler/ir/ops/optimizer.ts \
  '+ decay * pi);' '- decay * pi);' test/passes/adamw-oracle.test.ts test/ir/optimizer.test.ts
plant "AdamW decoupled decay sign flipped (WGSL)" compiler/codegen/wgsl/elementwise.ts \
  '+ ${f32(decay)} * p)' '- ${f32(decay)} * p)' test/passes/adamw-oracle.test.ts
plant "certified: true always" test/reference/checkmate.ts \
  'const certified = replayed.peak <= budget;' 'const certified = true;' test/remat/checkmate-brute-force.test.ts
exit $missed
