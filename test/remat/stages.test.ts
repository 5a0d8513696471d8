import { describe, expect, it } from 'vitest';
import type { Module, Value } from '../../compiler/ir/graph.ts';
import { parseModule } from '../../compiler/ir/parser.ts';
import { recomputeCost } from '../../compiler/remat/cost.ts';
import { findStages } from '../../compiler/remat/stages.ts';

/**
 * How a forward pass is cut into the chain the checkpoint solvers work on, on steps small enough to cut by hand: the
 * stages, the values crossing each cut, what the backward pass reads of each stage, and what else is live then.
 */
const byName = (m: Module) => (n: number) => m.values[n]!;
const names = (vs: readonly Value[]) => vs.map((v) => v.id);

// %2 is computed from the parameter alone (a constant of the step); %6 reads %3 again (a skip connection);
// after the loss, %9 and %10 read %4 and %3 (what the backward pass saves)
const SKIP = parseModule(`module @skip {
  %0 = input "x" : f32[4,3]
  %1 = param "w" {init = "normal", mean = 0, std = 0.1} : f32[3,3]
  %2 = mul %1, %1 : f32[3,3]
  %3 = matmul %0, %2 : f32[4,3]
  %4 = relu %3 : f32[4,3]
  %5 = relu %4 : f32[4,3]
  %6 = add %5, %3 : f32[4,3]
  %7 = mean %6 {axes = [0, 1], keepdims = false} : f32[]
  %8 = const {dtype = "f32", value = 1} : f32[4,3] "loss.grad"
  %9 = relu_grad %4, %8 : f32[4,3]
  %10 = relu_grad %3, %9 : f32[4,3]
  output "loss" = %7
  output "g" = %10
}
`);

describe('findStages', () => {
  const at = byName(SKIP);
  const st = findStages(SKIP, at(7));

  it('a short forward pass: a stage per op, cut where the values still read cross', () => {
    expect(st.lossIndex).toBe(7);
    expect([...st.constants].map((v) => v.id)).toEqual([2]);
    expect(st.members.map(names)).toEqual([[3], [4], [5], [6], [7]]);
    // after %3: %3 (read by %4 and %6); after %4: %3 and %4; after %5: %3 and %5; after %6: %6
    expect(st.boundary.map(names)).toEqual([[], [3], [3, 4], [3, 5], [6]]);
    expect([...st.stageOf].map(([v, k]) => [v.id, k])).toEqual([
      [3, 0],
      [4, 1],
      [5, 2],
      [6, 3],
      [7, 4],
    ]);
  });

  it('saved: what the backward pass reads of each stage; cost: each stage’s recompute', () => {
    expect(st.saved.map(names)).toEqual([[3], [4], [], [], []]);
    expect(st.cost).toEqual(st.members.map((vs) => vs.reduce((a, v) => a + recomputeCost(v), 0)));
    expect(st.cost.every((c) => c > 0)).toBe(true);
  });

  it('overhead: the other bytes live while a stage’s saved values are read (256 bytes a tensor here)', () => {
    // live besides the stages' values: the constant %2 until %3 reads it, the seed %8 until %9 reads it, %9 until
    // %10 reads it, and the output %10. %4 is read at %9 (%8 + %9 live), %3 at %10 (%9 + %10 live).
    expect(st.overhead).toEqual([2 * 256, 2 * 256, 0, 0, 0]);
  });

  it('an output of the forward pass read after the loss is not saved: it is kept anyway', () => {
    const m: Module = { ...SKIP, outputs: [...SKIP.outputs, { name: 'h', value: at(4) }] };
    expect(findStages(m, at(7)).saved.map(names)).toEqual([[3], [], [], [], []]);
  });
});

/** A chain of n relus from x, with every op's cost equal. */
function chain(n: number, skip = false): Module {
  const lines = ['module @chain {', '  %0 = input "x" : f32[8,8]', '  %1 = relu %0 : f32[8,8]'];
  for (let i = 2; i <= n; i++)
    lines.push(skip && i > 2 ? `  %${i} = add %${i - 1}, %${i - 2} : f32[8,8]` : `  %${i} = relu %${i - 1} : f32[8,8]`);
  lines.push(`  %${n + 1} = mean %${n} {axes = [0, 1], keepdims = false} : f32[]`, `  output "loss" = %${n + 1}`, '}');
  return parseModule(lines.join('\n'));
}

describe('findStages on forward passes longer than maxStages', () => {
  it('cuts a chain where one value crosses, once each stage has its share of the cost', () => {
    const m = chain(200);
    const loss = m.values.at(-1)!;
    const st = findStages(m, loss, 48);
    const body = m.values.slice(1);
    expect(st.members.flat()).toEqual(body);
    const total = body.reduce((a, v) => a + recomputeCost(v), 0);
    const share = total / 48;
    // every stage but the last reaches its share, and stops as soon as it does
    for (const vs of st.members.slice(0, -1)) {
      const c = vs.reduce((a, v) => a + recomputeCost(v), 0);
      expect(c).toBeGreaterThanOrEqual(share);
      expect(c - recomputeCost(vs.at(-1)!)).toBeLessThan(share);
    }
    expect(st.boundary.slice(1).every((b) => b.length === 1)).toBe(true);
    expect(st.members.length).toBeGreaterThanOrEqual(40);
    expect(st.members.length).toBeLessThanOrEqual(49);
  });

  it('with two values crossing everywhere but at its ends (each op adds the two before it): one cut', () => {
    const m = chain(120, true);
    const loss = m.values.at(-1)!;
    const st = findStages(m, loss, 48);
    expect(st.members.flat()).toEqual(m.values.slice(1));
    // one value crosses after the first op (%1), before the stage has its share of the cost, and after the last
    // add (%120, which only the loss reads): the one cut
    expect(st.boundary.map(names)).toEqual([[], [120]]);
    expect(st.members.map((vs) => vs.length)).toEqual([120, 1]);
  });

  it('a forward pass of at most maxStages ops keeps a stage per op', () => {
    const m = chain(30);
    expect(findStages(m, m.values.at(-1)!, 48).members.length).toBe(31);
    expect(findStages(m, m.values.at(-1)!, 10).members.length).toBeLessThanOrEqual(11);
  });
});
