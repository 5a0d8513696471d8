import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { allocatedBytes, tensorBytes } from '../../compiler/codegen/memory.ts';
import { deadCodeEliminate, LEAF_OPS, pinnedValues, type Module, type Value } from '../../compiler/ir/graph.ts';
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
  // found in each test (a mutation run credits a test only with the code it runs itself)
  const stagesOf = () => findStages(SKIP, at(7));

  it('a short forward pass: a stage per op, cut where the values still read cross', () => {
    const st = stagesOf();
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
    const st = stagesOf();
    expect(st.saved.map(names)).toEqual([[3], [4], [], [], []]);
    expect(st.cost).toEqual(st.members.map((vs) => vs.reduce((a, v) => a + recomputeCost(v), 0)));
    expect(st.cost.every((c) => c > 0)).toBe(true);
  });

  it('overhead: the other bytes live while a stage’s saved values are read (256 bytes a tensor here)', () => {
    const st = stagesOf();
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

  it('with two values crossing everywhere but at its ends (each op adds the two before it): cut by size', () => {
    const m = chain(120, true);
    const loss = m.values.at(-1)!;
    const st = findStages(m, loss, 48);
    expect(st.members.flat()).toEqual(m.values.slice(1));
    // a one-value frontier only after the first op and the last add (%120, which only the loss reads): too few
    // stages, so every frontier of at most the median size (two values) is a place to cut, once a stage has its share
    expect(st.boundary.slice(1).every((b) => b.length === 2)).toBe(true);
    expect(st.members.length).toBeGreaterThanOrEqual(40);
    const share = m.values.slice(1).reduce((a, v) => a + recomputeCost(v), 0) / 48;
    for (const vs of st.members.slice(0, -1)) {
      const c = vs.reduce((a, v) => a + recomputeCost(v), 0);
      expect(c).toBeGreaterThanOrEqual(share);
      expect(c - recomputeCost(vs.at(-1)!)).toBeLessThan(share);
    }
  });

  it('frontiers of two or three values: cut only where the frontier is at most the median size', () => {
    // op i adds the op before it and the one 3 before (4 ops in 10) or 2 before
    const lines = [
      'module @mixed {',
      '  %0 = input "x" : f32[8,8]',
      '  %1 = relu %0 : f32[8,8]',
      '  %2 = relu %1 : f32[8,8]',
    ];
    lines.push('  %3 = relu %2 : f32[8,8]');
    for (let i = 4; i <= 150; i++) lines.push(`  %${i} = add %${i - 1}, %${i - (i % 10 < 4 ? 3 : 2)} : f32[8,8]`);
    lines.push('  %151 = mean %150 {axes = [0, 1], keepdims = false} : f32[]', '  output "loss" = %151', '}');
    const m = parseModule(lines.join('\n'));
    const st = findStages(m, m.values.at(-1)!, 48);
    const body = m.values.slice(1);
    // the frontier after each op, found here by brute force: earlier ops a later forward op reads
    const frontier = (i: number) =>
      body.slice(0, i + 1).filter((v) => body.slice(i + 1).some((u) => u.inputs.includes(v)));
    const sizes = body
      .slice(0, -1)
      .map((_, i) => frontier(i).length)
      .filter((n) => n > 0);
    const median = [...sizes].sort((a, b) => a - b)[Math.floor(sizes.length / 2)]!;
    expect(new Set(sizes)).toEqual(new Set([1, 2, 3]));
    expect(median).toBe(2);
    // with maxStages as many as its ops, a stage per op, three values crossing or not
    expect(findStages(m, m.values.at(-1)!, body.length).members.length).toBe(body.length);
    expect(st.members.length).toBeGreaterThan(20);
    for (const [k, vs] of st.members.slice(0, -1).entries()) {
      const end = body.indexOf(vs.at(-1)!);
      expect(st.boundary[k + 1]).toEqual(frontier(end));
      expect(st.boundary[k + 1]!.length).toBeLessThanOrEqual(median);
    }
  });

  it('one-value frontiers that give at least 4 stages are where a long forward pass is cut; fewer, by size', () => {
    // k segments, each a relu then 30 ops that each add the two before it: one value crosses into each segment
    const segments = (k: number) => {
      const lines = ['module @segments {', '  %0 = input "x" : f32[8,8]'];
      let id = 1;
      for (let s = 0; s < k; s++) {
        lines.push(`  %${id} = relu %${id - 1} : f32[8,8]`, `  %${id + 1} = relu %${id} : f32[8,8]`);
        id += 2;
        for (let j = 0; j < 30; j++, id++) lines.push(`  %${id} = add %${id - 1}, %${id - 2} : f32[8,8]`);
      }
      lines.push(
        `  %${id} = mean %${id - 1} {axes = [0, 1], keepdims = false} : f32[]`,
        `  output "loss" = %${id}`,
        '}',
      );
      const m = parseModule(lines.join('\n'));
      return findStages(m, m.values.at(-1)!, 48)
        .boundary.slice(1)
        .map((b) => b.length);
    };
    expect(segments(3)).toEqual([1, 1, 1]);
    expect(segments(4)).toEqual([1, 1, 1, 1]);
    const two = segments(2);
    expect(two.length).toBeGreaterThan(20);
    expect(two.filter((n) => n === 2).length).toBeGreaterThan(20);
  });

  it('a forward pass of at most maxStages ops keeps a stage per op', () => {
    const m = chain(30);
    expect(findStages(m, m.values.at(-1)!, 48).members.length).toBe(31);
    expect(findStages(m, m.values.at(-1)!, 10).members.length).toBeLessThanOrEqual(11);
    // a view costs nothing to recompute, and is a stage of its own all the same
    const view = parseModule(`module @view {
  %0 = input "x" : f32[4,4]
  %1 = relu %0 : f32[4,4]
  %2 = reshape %1 {shape = [16]} : f32[16]
  %3 = relu %2 : f32[16]
  %4 = mean %3 {axes = [0], keepdims = false} : f32[]
  output "loss" = %4
}
`);
    expect(recomputeCost(view.values[2]!)).toBe(0);
    expect(findStages(view, view.values[4]!).members.map(names)).toEqual([[1], [2], [3], [4]]);
    // exactly maxStages ops (9 relus and the mean): still a stage per op
    const nine = chain(9);
    expect(findStages(nine, nine.values.at(-1)!, 10).members.length).toBe(10);
    // and with frontiers of two values among them (SKIP's five ops)
    expect(findStages(SKIP, SKIP.values[7]!, 5).members.map(names)).toEqual([[3], [4], [5], [6], [7]]);
  });

  it('ops of parameters and optimizer state alone are constants of the step, kept and not staged', () => {
    const m = parseModule(`module @state {
  %0 = input "x" : f32[4,3]
  %1 = state "s" {init = "zeros"} : f32[4,3]
  %2 = param "w" {init = "zeros"} : f32[4,3]
  %3 = mul %1, %2 : f32[4,3]
  %4 = relu %3 : f32[4,3]
  %5 = add %0, %4 : f32[4,3]
  %6 = mean %5 {axes = [0, 1], keepdims = false} : f32[]
  output "loss" = %6
}
`);
    const st = findStages(m, m.values[6]!);
    expect([...st.constants].map((v) => v.id)).toEqual([3, 4]);
    expect(st.members.flat().map((v) => v.id)).toEqual([5, 6]);
  });
});

describe('findStages: the backward overhead of each stage on whole training steps', () => {
  it.each(['random-dag-auto', 'gpt-tiny-all'])(
    '%s: the most bytes of other values live while its saved are read',
    (name) => {
      const m = deadCodeEliminate(parseModule(readFileSync(`test/passes/checkpoint/${name}.in.ir`, 'utf8')));
      const loss = m.outputs.find((o) => o.name === 'loss')!.value;
      const st = findStages(m, loss);
      const lossIndex = m.values.indexOf(loss);
      const pinned = pinnedValues(m);
      const inStage = (v: Value) => st.stageOf.has(v);
      // live at i: defined by then, and pinned, read at i or later, or never read
      const readAt = (v: Value) => m.values.flatMap((u, j) => (u.inputs.includes(v) ? [j] : []));
      const liveAt = (i: number) =>
        m.values
          .slice(0, i + 1)
          .filter((v) => !LEAF_OPS.has(v.op) && !inStage(v))
          .filter((v) => pinned.has(v) || readAt(v).length === 0 || Math.max(...readAt(v)) >= i)
          .reduce((a, v) => a + allocatedBytes(tensorBytes(v)), 0);
      const want = st.saved.map((vs) => {
        const at = vs.flatMap(readAt).filter((j) => j > lossIndex);
        if (at.length === 0) return 0;
        let most = 0;
        for (let i = Math.min(...at); i <= Math.max(...at); i++) most = Math.max(most, liveAt(i));
        return most;
      });
      expect(st.overhead).toEqual(want);
      expect(want.filter((b) => b > 0).length).toBeGreaterThan(1);
      expect(new Set(want).size).toBeGreaterThan(1);
    },
  );
});
