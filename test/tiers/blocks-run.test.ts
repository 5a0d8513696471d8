import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { graphResolver } from '../../compiler/cli/run.ts';
import { buildPlan } from '../../compiler/codegen/plan.ts';
import { compile } from '../../compiler/compile.ts';
import { CpuPlanSession } from '../../compiler/interp/plan-session.ts';
import { CpuSession } from '../../compiler/interp/session.ts';
import { runPipeline } from '../../compiler/passes/pipeline.ts';
import { copyModule } from '../../compiler/plan-pipeline.ts';
import type { PlanConfig } from '../../compiler/sema/plan.ts';
import { relErr } from '../helpers/oracle.ts';
import { movedAsPlanned, placedOnWebgpu, sameCpuSteps } from '../helpers/same-steps.ts';

const spill = mkdtempSync(join(tmpdir(), 'flexc-blocks-test-'));
afterAll(() => rmSync(spill, { recursive: true, force: true }));

function setup(file: string, over: Partial<PlanConfig>) {
  const r = compile(file, 'train');
  const graphs = graphResolver(r.program);
  const config = { ...r.lowered!.config, ...over } as PlanConfig;
  const m = runPipeline(copyModule(r.lowered!.forward), { config, graphs });
  return { r, m, config, graphs };
}

/**
 * `blocks: P` (block-nodes): the step over a graph's nodes in P row blocks. Products over the graph sum in the whole
 * product's order, so logits and loss are bitwise the whole step's; the one reduction whose order changes, a weight's
 * gradient summed over nodes (Xᵀ·dY of two blocked values), is within 1e-5, and so is everything after an update.
 */
describe.each([
  ['examples/gcn-cora.flex', 2, true],
  ['examples/gcn-cora.flex', 7, true],
  ['examples/sage-cora.flex', 3, true],
  ['examples/gcn-sbm.flex', 4, true],
  // graph attention: per-edge values by row block, its products and sums over cells in A's order
  ['examples/gat-cora.flex', 3, true],
  ['examples/gat-cora.flex', 8, true],
] as const)('%s with blocks: %i', (file, blocks, whole) => {
  it('3 steps on the CPU reference: logits and loss bitwise at step 1, every output within 1e-5 after', () => {
    const { r, m, graphs } = setup(file, { blocks });
    const nodes = (r.module!.values.find((v) => v.op === 'input' && /\/labels$/.test(String(v.attrs['feed'])))!.type
      .shape[0] ?? 0) as number;
    if (whole) {
      // no op but the logits output's join makes a [nodes, …] tensor
      const big = m.values.filter((v) => v.op !== 'input' && v.type.shape[0] === nodes).map((v) => v.op);
      expect(big).toEqual(['concat']);
    }
    const want = new CpuSession(r.module!, { seed: 0, graphs });
    const got = new CpuSession(m, { seed: 0, graphs });
    for (let step = 1; step <= 3; step++) {
      const w = want.run();
      const g = got.run();
      for (const [out, t] of w) {
        const exact = step === 1 && (out === 'loss' || out === 'logits');
        if (exact) expect(Array.from(g.get(out)!.data), `${out} at step ${step}`).toEqual(Array.from(t.data));
        else expect(relErr(g.get(out)!.data, t.data), `${out} at step ${step}`).toBeLessThan(1e-5);
      }
    }
  }, 60_000);
});

/**
 * GCN, GraphSAGE and GAT on Cora and on a generated graph at 1/4 and 1/16 of the unblocked step's footprint: the
 * placed plan against the blocked step without a budget, on the CPU reference (every output bitwise, the GPU range it
 * addresses within the budget, bytes per link as planned) and, for each model once at 1/16, on WebGPU too (its
 * copies and spill file real, freed memory poisoned).
 */
describe.each([
  ['examples/gcn-cora.flex', 4, 4, undefined, false],
  ['examples/sage-cora.flex', 4, 4, undefined, false],
  ['examples/gat-cora.flex', 4, 4, 'sweep', false],
  // Cora at 1/16: weights over the features, their gradients and Adam's moments by feature block, reloaded and written
  // back a block at a time; the logits assembled in host memory
  ['examples/gcn-cora.flex', 8, 16, 'sweep', true],
  ['examples/sage-cora.flex', 8, 16, 'sweep', false],
  ['examples/gat-cora.flex', 8, 16, 'sweep', true],
  // a generated graph of 4,000 nodes: steps of 1,900 to 4,800 values at 1/16, placed by the sweep (moves only)
  ['test/tiers/fixtures/gcn-sbm-small.flex', 4, 4, undefined, false],
  ['test/tiers/fixtures/sage-sbm-small.flex', 4, 4, undefined, false],
  ['test/tiers/fixtures/gat-sbm-small.flex', 4, 4, undefined, false],
  ['test/tiers/fixtures/gcn-sbm-small.flex', 8, 16, 'sweep', false],
  ['test/tiers/fixtures/sage-sbm-small.flex', 8, 16, 'sweep', true],
  ['test/tiers/fixtures/gat-sbm-small.flex', 8, 16, 'sweep', false],
] as const)('blocks and placement: %s in %i blocks at 1/%i of its footprint', (file, blocks, fraction, solver, gpu) => {
  const where = gpu ? 'the CPU reference and WebGPU' : 'the CPU reference';
  it(`fits; bitwise the blocked step without a budget on ${where}; moves as planned`, async () => {
    const base = setup(file, { blocks });
    const full = buildPlan(base.r.module!, base.r.lowered!.config, {}).plan.arenas.gpu;
    const budget = Math.floor(full / fraction);
    const over = { blocks, checkpoint: 'auto' as const, placement: 'auto' as const };
    const placed = setup(file, { ...over, memory: { gpu: budget, host: 2 ** 30 } });
    if (solver) expect(placed.m.checkpoint?.solver).toBe(solver);
    const plan = buildPlan(placed.m, placed.config, {}).plan;
    expect(plan.arenas.gpu).toBeLessThanOrEqual(budget);
    const want = new CpuSession(base.m, { seed: 0, graphs: base.graphs });
    const got = new CpuPlanSession(placed.m, plan, { graphs: base.graphs }, true, spill);
    sameCpuSteps(want, got, 2);
    movedAsPlanned(got, 2, budget);
    got.destroy();
    if (gpu) await placedOnWebgpu(base, placed, base.graphs, budget);
  }, 180_000);
});

describe('blocks that a graph cannot have', () => {
  it('more blocks than nodes: FLX5016 at the plan’s `blocks`, with the most that works', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flexc-blocks-'));
    const file = join(dir, 'b.flex');
    writeFileSync(
      file,
      'graph G {\n  nodes: 50\n  generate: sbm(classes: 2, edges: 100, features: 4, seed: 1)\n}\n\n' +
        'model M() on g: G {\n  output loss = sum(g.features)\n}\n\n' +
        'plan p {\n  model: M\n  task: infer\n  blocks: 51\n}\n',
    );
    const d = compile(file, 'p').diagnostics;
    rmSync(dir, { recursive: true });
    expect(d.map((x) => [x.code, x.span.line, x.message, x.hint])).toEqual([
      ['FLX5016', 13, '`blocks: 51`: the graph has 50 nodes', 'give `blocks: 50` or fewer'],
    ]);
  });
});
