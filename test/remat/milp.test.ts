import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compile } from '../../compiler/compile.ts';
import { deadCodeEliminate, type Module, type Value } from '../../compiler/ir/graph.ts';
import { peakWithout, replay } from '../../compiler/remat/replay.ts';
import { minimumBudget, solveCheckmate, solveCheckmateRelaxed } from '../reference/checkmate.ts';
import { solveDag } from '../reference/solve-dag.ts';
import type { TrainingGraph } from '../../compiler/remat/training-graph.ts';
import { randomDagSource } from '../helpers/random-dag.ts';

function step(file: string, plan: string, source?: string): { m: Module; loss: Value } {
  const path = resolve(file);
  const r = compile(
    path,
    plan,
    source ? { read: (p) => (p === path ? source : existsSync(p) ? readFileSync(p, 'utf8') : undefined) } : {},
  );
  expect(r.diagnostics).toEqual([]);
  const m = deadCodeEliminate(r.module!);
  return { m, loss: m.outputs.find((o) => o.name === 'loss')!.value };
}

/** Budgets evenly between the least peak any schedule reaches (the MILP's) and the peak without checkpointing. */
async function budgets(g: TrainingGraph, count: number): Promise<number[]> {
  const least = (await minimumBudget(g)).bytes!;
  const full = peakWithout(g);
  return Array.from({ length: count }, (_, k) => Math.round(least + ((full - least) * k) / (count - 1)));
}

/**
 * At 5 budgets from the least feasible to none: the MILP's schedule fits, the fast solver's fits and costs at most 1%
 * more, never less.
 */
async function expectWithinOnePercent(m: Module, loss: Value): Promise<void> {
  const { graph } = solveDag(m, loss, 0);
  for (const b of await budgets(graph, 5)) {
    const milp = await solveCheckmate(graph, b);
    expect(milp.status).toBe('Optimal');
    expect(replay(graph, milp.stages!).peak).toBeLessThanOrEqual(b);
    const fast = solveDag(m, loss, b).fits;
    expect(fast, `budget ${b}`).toBeDefined();
    expect(fast!.bytes).toBeLessThanOrEqual(b);
    expect(fast!.total).toBeGreaterThanOrEqual(milp.cost! * (1 - 1e-6)); // the MILP is a lower bound
    expect(fast!.total, `budget ${b}`).toBeLessThanOrEqual(milp.cost! * 1.01);
  }
}

describe('Checkmate MILP (HiGHS)', () => {
  it('on a chain whose backward reads every activation: no recompute at ' +
    'the full peak; at the least budget its schedule replays within it', async () => {
    const { m, loss } = step('test/remat/random.flex', 'train', randomDagSource(9, 4, 2));
    const { graph } = solveDag(m, loss, 0);
    const full = peakWithout(graph);
    const at = await solveCheckmate(graph, full);
    expect(at.status).toBe('Optimal');
    expect(replay(graph, at.stages!).recompute).toBe(0);
    const least = (await minimumBudget(graph)).bytes!;
    expect(least).toBeLessThan(full);
    const tight = await solveCheckmate(graph, least);
    const r = replay(graph, tight.stages!);
    expect(r.peak).toBeLessThanOrEqual(least);
    expect(r.recompute).toBeGreaterThan(0);
    expect((await solveCheckmate(graph, least - 64)).status).toBe('Infeasible');
  }, 120_000);
});

describe('the fast DAG solver against the MILP optimum', () => {
  it('GCN-Cora: within 1% of the optimum at 5 budgets from the least feasible to none', async () => {
    const { m, loss } = step('examples/gcn-cora.flex', 'train');
    await expectWithinOnePercent(m, loss);
  }, 300_000);

  // Random layered DAGs (skip edges, products, heterogeneous widths), 4 layers of up to 2 nodes:
  // seeds 1 and 2 leave nothing to save (least peak = peak without); on seeds 3 and 4 the chain
  // solver alone missed the tightest budgets and was 4.7% over. Seeds 5 and 8 (the same, MILP slower)
  // and 1–22 are in npm run bench:remat.
  it.each([3, 4, 7, 9, 11, 13])(
    'random layered DAG %i: within 1% of the optimum at 5 budgets, and never below it',
    async (seed) => {
      const { m, loss } = step('test/remat/random.flex', 'train', randomDagSource(seed, 4, 2));
      await expectWithinOnePercent(m, loss);
    },
    300_000,
  );
});

describe(
  'the relaxed MILP (Checkmate without its free variables): a lower ' +
    'bound, and the optimum when its schedule replays within the budget',
  () => {
    it.each([3, 4])(
      'random layered DAG %i: at 5 budgets it never exceeds the full MILP, and where certified it equals it',
      async (seed) => {
        const { m, loss } = step('test/remat/random.flex', 'train', randomDagSource(seed, 4, 2));
        const { graph } = solveDag(m, loss, 0);
        let certified = 0;
        for (const b of await budgets(graph, 5)) {
          const full = await solveCheckmate(graph, b);
          const relaxed = await solveCheckmateRelaxed(graph, b);
          expect(relaxed.status).toBe('Optimal');
          expect(relaxed.lowerBound!).toBeLessThanOrEqual(full.cost! * (1 + 1e-6));
          // certified exactly when the relaxation's schedule, replayed, keeps the budget
          expect(relaxed.certified, `budget ${b}`).toBe(replay(graph, relaxed.stages!).peak <= b);
          if (relaxed.certified) certified++, expect(relaxed.cost!).toBeCloseTo(full.cost!, -1);
          else expect(relaxed.cost, 'an uncertified answer claims no cost').toBeUndefined();
        }
        expect(certified).toBeGreaterThan(0);
      },
      300_000,
    );
    // found by scanning seeds and budgets: without Checkmate's free variables, the relaxation's
    // schedule at 2% over the least budget of this DAG peaks at 40,708 bytes, over its 37,866
    it('random DAG 5 at 1.02 × its least budget: not certified, no cost claimed, still a lower bound', async () => {
      const { m, loss } = step('test/remat/random.flex', 'train', randomDagSource(5, 4, 2));
      const { graph } = solveDag(m, loss, 0);
      const b = Math.round((await minimumBudget(graph)).bytes! * 1.02);
      const relaxed = await solveCheckmateRelaxed(graph, b);
      expect(relaxed.status).toBe('Optimal');
      expect(replay(graph, relaxed.stages!).peak).toBeGreaterThan(b);
      expect(relaxed.certified).toBe(false);
      expect(relaxed.cost).toBeUndefined();
      const full = await solveCheckmate(graph, b);
      expect(relaxed.lowerBound!).toBeLessThanOrEqual(full.cost! * (1 + 1e-6));
    }, 300_000);
  },
);

describe('the fast DAG solver against the optimum on a transformer', () => {
  // The GPT example's model with one block and SGD (so activations, not Adam state, set the peak):
  // 133 ops. The full MILP does not finish in 400 s even at one budget; the relaxed one does in
  // seconds and its schedules replay within every budget, which makes them Checkmate's optimum.
  // Blocks as the chain DP's only choice were 7 to 9% over; keeping a block's matmul outputs while
  // recomputing its views and norms (the greedy) is what closes the gap.
  it('GPT: within 1% of the certified optimum at 5 budgets from the least the fast solver meets to ' +
    'none, and no schedule below that least', async () => {
    const model = readFileSync('examples/gpt.flex', 'utf8').replace(/^(\/\/[^\n]*\n)*plan [\s\S]*$/m, '');
    const source =
      `${model}\nplan one_block {\n  model: Gpt(vocab: 16, ctx: 8, d: 16, heads: 2, ` +
      `depth: 1)\n  bind: { B: 2, T: 8 }\n  task: train { optimizer: sgd(lr: 0.1) }\n}\n`;
    const { m, loss } = step('examples/_one_block.flex', 'one_block', source);
    const { graph, smallest } = solveDag(m, loss, 0);
    const full = peakWithout(graph);
    expect(smallest).toBeLessThan(full);
    for (let k = 0; k < 5; k++) {
      const b = Math.round(smallest + ((full - smallest) * k) / 4);
      const opt = await solveCheckmateRelaxed(graph, b);
      expect(opt.status).toBe('Optimal');
      expect(opt.certified, `budget ${b}`).toBe(true);
      const fast = solveDag(m, loss, b).fits!;
      expect(fast.bytes).toBeLessThanOrEqual(b);
      expect(fast.total).toBeGreaterThanOrEqual(opt.cost! * (1 - 1e-6));
      expect(fast.total, `budget ${b}`).toBeLessThanOrEqual(opt.cost! * 1.01);
    }
    // Below the least budget the fast solver meets (what FLX errors report as the smallest that works),
    // no schedule of Checkmate's model fits: at 99% the relaxation, a lower bound, is infeasible, and
    // closer than that it finds no schedule that replays within the budget.
    expect((await solveCheckmateRelaxed(graph, Math.floor(smallest * 0.99))).status).toBe('Infeasible');
    for (const f of [0.995, 0.999]) {
      const b = Math.floor(smallest * f);
      const below = await solveCheckmateRelaxed(graph, b);
      expect(below.certified, `budget ${b}`).toBe(false);
      if (below.status === 'Optimal') expect(replay(graph, below.stages!).peak).toBeGreaterThan(b);
      else expect(below.status).toBe('Infeasible');
    }
  }, 300_000);
});
