import { describe, expect, it } from 'vitest';
import { ALIGNMENT, allocatedBytes, planMemory, tensorBytes } from '../../compiler/codegen/memory.ts';
import { compile } from '../../compiler/compile.ts';
import { deadCodeEliminate, type Value } from '../../compiler/ir/graph.ts';

const CASES = [
  ['examples/mlp.flex', 'small'],
  ['examples/gpt.flex', 'tiny'],
  ['examples/gpt.flex', 'shakespeare'],
  ['examples/gcn-cora.flex', 'train'],
  ['examples/resmlp.flex', 'small'],
] as const;

describe('the memory planner', () => {
  it.each(CASES)(
    '%s --plan %s: aligned, no overlap while live, operands live when read, arena within 1% of the live peak',
    (file, plan) => {
      const r = compile(file, plan);
      expect(r.diagnostics).toEqual([]);
      const mem = planMemory(deadCodeEliminate(r.module!));
      const live = new Map<Value, [number, number]>();
      let bytes = 0;
      let peak = 0;
      for (const e of mem.events) {
        if (e.kind === 'alloc') {
          expect(e.offset % ALIGNMENT).toBe(0);
          const span: [number, number] = [e.offset, e.offset + allocatedBytes(tensorBytes(e.value))];
          expect(span[1]).toBeLessThanOrEqual(mem.arenaBytes);
          for (const [v, [lo, hi]] of live)
            expect(span[1] <= lo || span[0] >= hi, `${e.value.name} overlaps ${v.name}`).toBe(true);
          live.set(e.value, span);
          bytes += span[1] - span[0];
          peak = Math.max(peak, bytes);
        } else if (e.kind === 'free') {
          const [lo, hi] = live.get(e.value)!;
          bytes -= hi - lo;
          live.delete(e.value);
        }
      }
      expect(mem.peakBytes).toBe(peak);
      // liveness, checked against the module itself: every operand is still allocated when an op
      // runs, and outputs and updated values are at the end of the step
      const allocated = new Set<Value>();
      const m = deadCodeEliminate(r.module!);
      for (const e of mem.events) {
        if (e.kind === 'alloc') allocated.add(e.value);
        else if (e.kind === 'free') allocated.delete(e.value);
        else
          for (const x of e.value.inputs) expect(allocated.has(x), `${x.name ?? x.op} read after its free`).toBe(true);
      }
      for (const o of m.outputs) expect(allocated.has(o.value), `output ${o.name}`).toBe(true);
      for (const u of m.updates) expect(allocated.has(u.value), `update of ${u.target}`).toBe(true);
      expect(mem.arenaBytes).toBeGreaterThanOrEqual(peak);
      expect(mem.arenaBytes).toBeLessThanOrEqual(peak * 1.01);
    },
  );
});
