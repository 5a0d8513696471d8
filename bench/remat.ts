// Checkpointing benchmark.
// npm run bench:remat -- --chain L --slots S [--json]   the chain solver in Griewank's model: optimal forward steps and
// schedule
// npm run bench:remat                                    GPT-2 small (batch 8, context 1024) and a 32-block residual
// MLP:
// arena/recompute frontier at 10 budgets for auto vs sqrt vs every(k);
// the fast DAG solver vs Checkmate's MILP (HiGHS) on GCN-Cora and random
// layered DAGs (solve times, gaps); the chain solver's time for 1,000 stages
import './fail-plainly.ts';
import { checkProgram } from '../compiler/check-program.ts';
import { selectPlan } from '../compiler/lower/lower.ts';
import { copyModule, pipelinePlan } from '../compiler/plan-pipeline.ts';
import { actions, griewankCount } from '../compiler/remat/schedule.ts';
import { griewankOptimum, solveChain } from '../compiler/remat/solve-chain.ts';
import type { PlanConfig } from '../compiler/sema/plan.ts';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { compile } from '../compiler/compile.ts';
import { deadCodeEliminate, LEAF_OPS, type Value } from '../compiler/ir/graph.ts';
import { REMAT_SUFFIX } from '../compiler/remat/emit.ts';
import { recomputeCost } from '../compiler/remat/cost.ts';
import { peakWithout } from '../compiler/remat/replay.ts';
import { minimumBudget, solveCheckmate, solveCheckmateRelaxed } from '../test/reference/checkmate.ts';
import { solveDag } from '../test/reference/solve-dag.ts';
import { randomDagSource } from '../test/helpers/random-dag.ts';

const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : undefined;
};
const json = args.includes('--json');
const GiB = 2 ** 30;

const uniform = (l: number) => ({
  forward: new Array<number>(l).fill(1),
  boundary: new Array<number>(l).fill(1),
  saved: new Array<number>(l).fill(0),
});

/** Optimal schedule of l uniform steps with s slots (the input's included), in Griewank's counting model. */
function chain(l: number, s: number) {
  const t0 = performance.now();
  const sol = solveChain(uniform(l), s - 1, { griewank: true });
  const ms = performance.now() - t0;
  if (!sol) throw new Error(`no schedule for l=${l}, s=${s}`);
  const acts = actions(sol.schedule, 0, l);
  const peak = griewankCount(sol.schedule, l).slots;
  const schedule = acts
    .filter((a) => a.op !== 'forward')
    .map((a) =>
      a.op === 'advance'
        ? `advance ${a.from}->${a.to}`
        : a.op === 'store'
          ? `store ${a.boundary}`
          : a.op === 'free'
            ? `free ${a.boundary}`
            : `reverse ${a.stage}`,
    );
  return { forward_steps: sol.cost, peak_slots: peak, closed_form: griewankOptimum(l, s), solve_ms: ms, schedule };
}

const L = opt('--chain');
if (L !== undefined) {
  const S = opt('--slots') ?? 2;
  const r = chain(L, S);
  if (json)
    process.stdout.write(
      `${JSON.stringify({ forward_steps: r.forward_steps, peak_slots: r.peak_slots, schedule: r.schedule })}\n`,
    );
  else {
    console.log(
      `chain of ${L} steps, ${S} slots: ${r.forward_steps} forward steps (Griewank's closed form: ` +
        `${r.closed_form}), peak ${r.peak_slots} slots, solved in ${r.solve_ms.toFixed(1)} ms`,
    );
    console.log(r.schedule.join('\n'));
  }
  process.exit(0);
}

// frontiers: auto at 10 budgets vs the fixed policies
function frontier(file: string, planName: string, title: string) {
  const { program, lowered } = checkProgram(file);
  const decl = selectPlan(program, planName).plan!;
  const low = lowered.get(decl)!;
  const run = (over: Partial<PlanConfig>) => {
    const t0 = performance.now();
    const r = pipelinePlan(decl, copyModule(low.forward), { ...low.config, ...over });
    const ms = performance.now() - t0;
    // what the solvers minimise: a roofline estimate (memory-bound ops are not free to recompute)
    const cost = (vs: Value[]) => vs.filter((v) => !LEAF_OPS.has(v.op)).reduce((a, v) => a + recomputeCost(v), 0);
    const values = r.module?.values ?? [];
    const roofline =
      (100 * cost(values.filter((v) => v.name?.endsWith(REMAT_SUFFIX)))) /
      cost(values.filter((v) => !v.name?.endsWith(REMAT_SUFFIX)));
    return { report: r.module?.checkpoint, ms, roofline: `${roofline.toFixed(1)}%` };
  };
  const none = run({ checkpoint: 'none', memory: {} }).report!;
  const fixed: [string, PlanConfig['checkpoint']][] = [
    ['sqrt', 'sqrt'],
    ['every(2)', { every: 2 }],
    ['every(4)', { every: 4 }],
    ['all (every(1))', 'all'],
  ];
  const pct = (r: { recomputeFlops: number; stepFlops: number }) =>
    `${((100 * r.recomputeFlops) / r.stepFlops).toFixed(1)}%`;
  console.log(
    `${title} (${none.stages} stages): step ${(none.stepFlops / 1e12).toFixed(2)} ` +
      `TFLOP, arena without checkpointing ${(none.bytesWithout / GiB).toFixed(2)} GiB`,
  );
  console.log("fixed policies (arena, recompute as % of the step's FLOPs and of its roofline time):");
  for (const [name, c] of fixed) {
    const { report: r, roofline } = run({ checkpoint: c, memory: {} });
    console.log(
      `  ${name.padEnd(16)} ${(r!.bytesWith / GiB).toFixed(2).padStart(6)} ` +
        `GiB  ${pct(r!).padStart(6)} FLOPs  ${roofline.padStart(6)} time`,
    );
  }
  const smallest = (() => {
    const r = pipelinePlan(decl, copyModule(low.forward), { ...low.config, checkpoint: 'auto', memory: { gpu: 1 } });
    const m = /the smallest budget that works is (\d+) bytes/.exec(r.diagnostics[0]?.message ?? '');
    return Number(m?.[1]);
  })();
  console.log(`auto at 10 budgets from its smallest feasible (${(smallest / GiB).toFixed(2)} GiB) to none's arena:`);
  for (let k = 0; k < 10; k++) {
    const budget = Math.round(smallest + ((none.bytesWithout - smallest) * k) / 9);
    const r = run({ checkpoint: 'auto', memory: { gpu: budget } });
    console.log(
      `  budget ${(budget / GiB).toFixed(2).padStart(6)} GiB → arena ` +
        `${(r.report!.bytesWith / GiB).toFixed(2).padStart(6)} GiB, recompute ` +
        `${pct(r.report!).padStart(6)} FLOPs ${r.roofline.padStart(6)} ` +
        `time, ${r.report!.solver ?? '-'}  (compile ${r.ms.toFixed(0)} ms)`,
    );
  }
}
if (!args.includes('--resnet-only')) frontier('examples/gpt.flex', 'gpt2_small', 'GPT-2 small, batch 8, context 1024');
frontier('examples/resmlp.flex', 'train', 'ResNet-style residual MLP, 32 blocks, d 1024, batch 4096');

// the fast DAG solver vs Checkmate's MILP (HiGHS), same model (activations recomputed in the backward pass)
let worstGap = 0;
async function versusMilp(title: string, file: string, plan: string, source?: string) {
  const path = resolve(file);
  const r = compile(path, plan, source ? { read: (p) => (p === path ? source : undefined) } : {});
  const m = deadCodeEliminate(r.module!);
  const loss = m.outputs.find((o) => o.name === 'loss')!.value;
  const { graph } = solveDag(m, loss, 0);
  const least = await minimumBudget(graph);
  const full = peakWithout(graph);
  const base = graph.nodes.reduce((a, v) => a + v.cost, 0);
  const rows: string[] = [];
  for (let k = 0; k < 5; k++) {
    const b = Math.round(least.bytes! + ((full - least.bytes!) * k) / 4);
    const t0 = performance.now();
    const fast = solveDag(m, loss, b).fits;
    const fastMs = performance.now() - t0;
    const milp = await solveCheckmate(graph, b);
    const over = fast && milp.cost ? (100 * (fast.total - milp.cost)) / milp.cost : Infinity;
    worstGap = Math.max(worstGap, over);
    const gap = Number.isFinite(over) ? `${over.toFixed(2)}%` : 'no fit';
    rows.push(
      `  budget ${b} B: MILP recompute ${((((milp.cost ?? NaN) - base) / base) * 100).toFixed(2)}% ` +
        `in ${(milp.seconds * 1000).toFixed(0)} ` +
        `ms; fast ${fast ? `${((100 * fast.cost) / base).toFixed(2)}% (${fast.solver})` : '—'} ` +
        `in ${fastMs.toFixed(0)} ms; gap ${gap}`,
    );
  }
  console.log(
    `${title}: ${graph.nodes.length} ops, least peak ${least.bytes} B (MILP, ` +
      `${(least.seconds * 1000).toFixed(0)} ms), peak without ${full} B`,
  );
  for (const row of rows) console.log(row);
}
await versusMilp('GCN-Cora', 'examples/gcn-cora.flex', 'train');
for (const seed of [3, 4, 5, 6, 7, 8, 9])
  await versusMilp(
    `random layered DAG ${seed} (4 layers, ≤ 2 wide)`,
    'bench/random.flex',
    'train',
    randomDagSource(seed, 4, 2),
  );

// a transformer block: too large for the full MILP here (no answer in 400 s), so the relaxed MILP
// (Checkmate without FREE variables), whose optimum bounds Checkmate's from below and is Checkmate's
// optimum when its schedule replays within the budget (certified)
async function versusRelaxed(title: string, file: string, plan: string, source: string) {
  const path = resolve(file);
  const r = compile(path, plan, {
    read: (p) => (p === path ? source : existsSync(p) ? readFileSync(p, 'utf8') : undefined),
  });
  const m = deadCodeEliminate(r.module!);
  const loss = m.outputs.find((o) => o.name === 'loss')!.value;
  const { graph, smallest } = solveDag(m, loss, 0);
  const full = peakWithout(graph);
  const base = graph.nodes.reduce((a, v) => a + v.cost, 0);
  console.log(
    `${title}: ${graph.nodes.length} ops, least peak the fast solver meets ${smallest} B, peak without ${full} B`,
  );
  for (let k = 0; k < 5; k++) {
    const b = Math.round(smallest + ((full - smallest) * k) / 4);
    const t0 = performance.now();
    const fast = solveDag(m, loss, b).fits;
    const fastMs = performance.now() - t0;
    const opt = await solveCheckmateRelaxed(graph, b, { timeLimit: 300 });
    const over = fast && opt.lowerBound ? (100 * (fast.total - opt.lowerBound)) / opt.lowerBound : Infinity;
    if (opt.certified) worstGap = Math.max(worstGap, over);
    const what = opt.certified ? 'optimum (certified)' : 'lower bound';
    console.log(
      `  budget ${b} B: ${what} ${((((opt.lowerBound ?? NaN) - base) / base) * 100).toFixed(3)}% ` +
        `in ${(opt.seconds * 1000).toFixed(0)} ms; fast ` +
        `${fast ? `${((100 * fast.cost) / base).toFixed(3)}% (${fast.solver})` : '—'} in ${fastMs.toFixed(0)} ` +
        `ms; gap ${Number.isFinite(over) ? `${over.toFixed(2)}%` : 'no fit'}${opt.certified ? '' : ' at most'}`,
    );
  }
}
const gptModel = readFileSync('examples/gpt.flex', 'utf8').replace(/^(\/\/[^\n]*\n)*plan [\s\S]*$/m, '');
await versusRelaxed(
  'GPT, one block (vocab 16, d 16, 2 heads, B 2, T 8, SGD)',
  'examples/_bench_one_block.flex',
  'one_block',
  `${gptModel}\nplan one_block {\n  model: Gpt(vocab: 16, ctx: 8, d: 16, heads: 2, ` +
    `depth: 1)\n  bind: { B: 2, T: 8 }\n  task: train { optimizer: sgd(lr: 0.1) }\n}\n`,
);
console.log(
  `fast solver vs MILP: worst gap ` +
    `${Number.isFinite(worstGap) ? `${worstGap.toFixed(2)}%` : 'no fit at some budget'} over all budgets above`,
);

const big = chain(1000, 10);
console.log(
  `chain solver, 1,000 uniform stages, 10 slots: ${big.forward_steps} forward ` +
    `steps (closed form ${big.closed_form}) in ${big.solve_ms.toFixed(0)} ms`,
);
