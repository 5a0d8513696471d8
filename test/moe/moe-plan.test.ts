import { getOp } from '../../compiler/ir/ops/registry.ts';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compile } from '../../compiler/compile.ts';
import { summarize } from '../../compiler/cost/plan-summary.ts';
import { buildPlan } from '../../compiler/codegen/plan.ts';

/**
 * Expert parallelism in plans, against closed forms written here: a GPU of a group of N holds 1/N of each MoE layer's
 * experts, so their model states (16 bytes per parameter in mixed precision: bf16 weight and gradient, fp32 master
 * weight and Adam's two moments; Rajbhandari et al. 2020) shrink by 1 − 1/N; every MoE layer moves its dispatched rows
 * [E·C, d] by all-to-all four times a training step (dispatch and combine, forward and backward), each
 * (N−1)/N · bytes / bandwidth + (N−1) · latency.
 */
const FILE = 'examples/switch-moe.flex';
const plan = (name: string) => {
  const r = compile(FILE, name);
  expect(r.diagnostics).toEqual([]);
  return summarize(r.module!, r.lowered!).summary;
};

describe('expert parallelism (examples/switch-moe.flex: 6 MoE layers of 64 experts, top-1, on 8 GPUs)', () => {
  const ep = plan('train');
  const dense = plan('dense_experts');
  const { count, active, moe } = ep.parameters;
  const expertParams = (count - active!) / (1 - 1 / moe!.experts);

  it('counts parameters the same way with and without it', () => {
    expect(dense.parameters).toEqual(ep.parameters);
    expect(moe).toMatchObject({ layers: 6, experts: 64, k: 1, capacity: 80 }); // ⌈4096 / 64 · 1.25⌉
  });

  it('holds 1/8 of the experts’ 16 bytes per parameter on each GPU', () => {
    const saved = dense.memory.gpu.model_states_bytes - ep.memory.gpu.model_states_bytes;
    expect(saved / (16 * expertParams * (1 - 1 / 8))).toBeCloseTo(1, 9);
  });

  it('adds four all-to-alls of the dispatched rows per MoE layer to the step, and updates 1/8 of the experts', () => {
    const [n, bw, lat] = [8, 300e9, 5e-6];
    const rows = 64 * 80 * 768 * 2; // E·C rows of d bf16 values
    const a2a = ((n - 1) / n) * (rows / bw) + (n - 1) * lat;
    expect(ep.time!.by_class.communication / (4 * 6 * a2a)).toBeCloseTo(1, 9);
    // its gradient all-reduce overlaps the backward pass; what is left over shows
    const { communication_seconds: allReduce, backward_seconds: backward } = dense.time!;
    expect(dense.time!.by_class.communication).toBeCloseTo(Math.max(0, allReduce - backward), 12);
    expect(ep.time!.optimizer_seconds).toBeLessThan(dense.time!.optimizer_seconds / 4);
  });
});

describe('expert parallelism: malformed plans get coded diagnostics', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flexc-ep-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  /** The example with `train`'s parallel block replaced, and a plan of a model without experts; the diagnostics. */
  const diagnose = (parallel: string) => {
    const file = join(dir, `p${Math.random().toString(36).slice(2)}.flex`);
    const text = readFileSync(FILE, 'utf8').replace('parallel: { data: 8, expert: 8 }', `parallel: ${parallel}`);
    const plain =
      'model Plain(d: 8) {\n  input x: f32[B, d]\n  output loss = mean(Mlp(x, hidden: 8))\n}\n' +
      'plan plain { model: Plain  on: A100x8  bind: { B: 8 }  task: train { optimizer: sgd(lr: 0.1) }  ' +
      'parallel: { data: 8, expert: 2 } }\n';
    writeFileSync(file, `${text}\n${plain}`);
    return (name: string) => compile(file, name).diagnostics.map((d) => `${d.code} ${d.message}`);
  };

  it('a group that does not divide the data-parallel GPUs, or the experts; a model without experts; a typo', () => {
    expect(diagnose('{ data: 8, expert: 3 }')('train')).toEqual([
      'FLX5013 `expert: 3` splits experts over groups of the data-parallel GPUs, but 3 does not divide `data: 8`',
    ]);
    expect(diagnose('{ data: 8, expert: 8 }')('plain')).toEqual([
      'FLX5013 `expert: 2` splits the experts of MoE layers, but model `Plain` has none',
    ]);
    const typo = diagnose('{ data: 8, experts: 8 }')('train');
    expect(typo[0]).toMatch(/^FLX5001 `parallel` has no field `experts`/);
  });

  it('experts that do not split evenly', () => {
    const file = join(dir, 'uneven.flex');
    writeFileSync(file, readFileSync(FILE, 'utf8').replace('depth: 12, experts: 64', 'depth: 12, experts: 60'));
    expect(compile(file, 'train').diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual([
      "FLX5013 `expert: 8` cannot split an MoE layer's 60 experts evenly",
    ]);
  });
});

describe('flexc plan counts an MoE layer’s kernels', () => {
  it('as many as the built plan launches for the values in the layer’s scope (one launch each, unfused)', () => {
    const r = compile('test/moe/fixtures/moe-mlp.flex', 'top2');
    const { kernels } = summarize(r.module!, r.lowered!).summary.parameters.moe!;
    const built = buildPlan(r.module!, r.lowered!.config, {});
    const named = built.plan.steps.filter((st) => {
      // a launch of a value is labelled `%<index> <op>` (an update's copy back, `update <leaf>`)
      if (st.kind !== 'launch' || !st.value.startsWith('%')) return false;
      const name = r.module!.values[Number(st.value.split(' ')[0]!.slice(1))]!.name ?? '';
      const v = r.module!.values[Number(st.value.split(' ')[0]!.slice(1))]!;
      // the optimizer's updates are the step's, not the layer's
      return (name === 'moe' || name.startsWith('moe.')) && getOp(v.op).class !== 'optimizer';
    });
    expect(kernels.forward).toBeGreaterThan(10);
    expect(kernels.backward).toBeGreaterThan(10);
    expect(named).toHaveLength(kernels.forward + kernels.backward);
  });

  it.each([
    ['bare_fused', 'without a balance loss'],
    ['top2_fused', 'with its balance loss, computed in the same kernels'],
  ])('fused (%s, %s): the layer is one launch each way, its `moe` and `moe_grad` ops', (plan) => {
    const r = compile('test/moe/fixtures/moe-mlp.flex', plan);
    const { kernels, fused } = summarize(r.module!, r.lowered!).summary.parameters.moe!;
    expect(fused).toBe(1);
    expect(kernels).toEqual({ forward: 1, backward: 1 });
    const built = buildPlan(r.module!, r.lowered!.config, {});
    for (const op of [' moe', ' moe_grad'])
      expect(built.plan.steps.filter((st) => st.kind === 'launch' && st.value.endsWith(op))).toHaveLength(1);
  });
});

describe('flexc plan: a capacity below the choices', () => {
  it('has no padding, and drops at least 1 − E·C / (k·T) of the choices', () => {
    // 32 tokens, top-2 of 4 experts, capacity factor 0.5: C = ⌈2·32/4 · 0.5⌉ = 8 slots, 32 of 64 choices placed
    const r = compile('test/moe/fixtures/moe-mlp.flex', 'tight');
    const { moe } = summarize(r.module!, r.lowered!).summary.parameters;
    expect(moe).toMatchObject({ capacity: 8, padding: 0, dropped: 0.5 });
  });
});
