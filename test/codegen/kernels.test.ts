import { describe, expect, it } from 'vitest';
import { graphResolver } from '../../compiler/cli/run.ts';
import { bindingsOf } from '../../compiler/codegen/bindings.ts';
import { LOWERINGS, lowerValue } from '../../compiler/kernel/lower/index.ts';
import { TARGETS } from '../../compiler/targets/registry.ts';
import { nativeKernels } from '../helpers/native.ts';
import { compile } from '../../compiler/compile.ts';
import { runModule } from '../../compiler/interp/interpret.ts';
import { CpuSession } from '../../compiler/interp/session.ts';
import type { Module } from '../../compiler/ir/graph.ts';
import type { NDArray } from '../../compiler/ir/op.ts';
import { OPS } from '../../compiler/ir/ops/registry.ts';
import { NO_KERNEL_OPS } from '../../compiler/ir/ops/tier.ts';
import { differentiate } from '../../compiler/passes/autodiff.ts';
import { runOnGpu } from '../helpers/gpu.ts';
import { type Case, randomData, relErr, singleOpModule } from '../helpers/oracle.ts';
import { OP_CASES } from '../ir/op-cases.ts';
import { once } from '../helpers/once.ts';
import { spmmAccModule } from '../helpers/spmm-acc.ts';

const LEAVES = new Set(['input', 'param', 'state']);
/** The ops that run as kernels: every op but copies between tiers (`copy` steps of a plan), workspace and parts. */
const NO_KERNEL = NO_KERNEL_OPS;
const KERNEL_OPS = [...OPS.keys()].filter((op) => !NO_KERNEL.has(op));

/** Each op case's forward and backward step, as the tests below build it. */
const opCaseModule = (c: Case) => {
  const m = singleOpModule(c);
  return differentiate(m, m.outputs[0]!.value);
};

/** Every op case's C kernels in one library. */
const opCaseKernels = once(() =>
  nativeKernels(
    OP_CASES.flatMap((c) =>
      opCaseModule(c)
        .values.filter((v) => !LEAVES.has(v.op) && !NO_KERNEL.has(v.op))
        .map((v) => lowerValue(v, 'cpu')),
    ),
  ),
);
const tested = new Set<string>();

/** A target and a class of its kernels, as the tests run them. */
const RUNS = Object.values(TARGETS).flatMap((t) =>
  t.name === 'cuda' ? [] : t.deviceClasses.map((cls) => ({ target: t.name, cls })),
);
const runName = (r: (typeof RUNS)[number]) => `${r.target}/${r.cls}`;

/**
 * Runs every non-leaf value of `m` through its kernels (each target's, each device class's: WGSL on WebGPU, C compiled
 * and called through the FFI) on the CPU reference's operands and compares.
 */
async function compareModule(
  m: Module,
  feeds: Map<string, NDArray>,
  params: Map<string, NDArray>,
  step: number,
  label: string,
) {
  const f32 = (t: Map<string, NDArray>) =>
    new Map(
      [...t].map(([k, a]) => [
        k,
        a.data instanceof Float64Array ? { data: Float32Array.from(a.data), shape: a.shape } : a,
      ]),
    );
  const values = runModule(m, f32(feeds), f32(params), { precision: 'f32', step, keepValues: true }).values!;
  const ops = m.values.filter((v) => !LEAVES.has(v.op) && !NO_KERNEL.has(v.op));
  const cpu = ops.map((v) => lowerValue(v, 'cpu'));
  // the op cases' kernels share one library (one compiler run, not one per case); the examples' have their own
  const native = cpu.every((k) => opCaseKernels().has(k.name)) ? opCaseKernels() : nativeKernels(cpu);
  for (const v of ops) {
    const want = values.get(v)!;
    for (const run of RUNS) {
      const k = lowerValue(v, run.cls);
      const operands = v.inputs.map((x) => values.get(x)!);
      const got =
        run.target === 'wgsl'
          ? await runOnGpu(v, operands, run.cls)
          : native.run(
              k,
              bindingsOf(v).operands.map((x) => values.get(x)!),
              want.data.length,
            );
      tested.add(`${v.op}/${runName(run)}`);
      const err = relErr(got, want.data);
      // WGSL allows sin and cos an absolute error of 2^-11 on [-π, π] (WGSL spec, "Floating Point Accuracy"); its
      // other functions (exp, log, tanh) are looser than C's libm too
      const tolerance = run.target === 'wgsl' ? (v.op === 'rope' ? 2 ** -11 : 2e-5) : 1e-5;
      expect(err, `${label}: ${v.op} "${v.name ?? ''}" (${runName(run)} kernel ${k.name})`).toBeLessThan(tolerance);
    }
  }
}

describe('kernels of every target against the CPU reference: WGSL on WebGPU (SwiftShader here), C natively', () => {
  it('every op in the registry has exactly one lowering to the kernel IR (copies, workspace, parts have none)', () => {
    for (const op of KERNEL_OPS) expect(LOWERINGS[op], op).toBeTypeOf('function');
    for (const op of NO_KERNEL) expect(LOWERINGS[op], op).toBeUndefined();
    for (const op of Object.keys(LOWERINGS)) expect(OPS.has(op), `lowering for unknown op ${op}`).toBe(true);
  });

  for (const c of OP_CASES) {
    it(`${c.label}: forward and backward kernels match the CPU reference`, async () => {
      const { feeds, params } = randomData(c, 99);
      await compareModule(opCaseModule(c), feeds, params, 3, c.label);
    });
  }

  // longer than the op cases: several workgroups of 64 query rows and several tiles of keys (gpu class), blocks of 8
  // rows (8×8 register blocks on WGSL's cpu class) with a partial last one, heads of 64 (tiles of 32 keys)
  const long: (Omit<Case, 'op'> & { label: string })[] = [
    {
      label: 'attention at T 150 (causal, GQA, ALiBi, dropout 0.1)',
      attrs: { causal: true, scale: 0.3, alibi: 8, dropout: 0.1, seed: 3 },
      inputs: [
        { shape: [1, 4, 150, 8] },
        { shape: [1, 2, 150, 8] },
        { shape: [1, 2, 150, 8] },
        { shape: [], ints: [2] },
      ],
    },
    {
      label: 'attention of 70 queries over 130 keys (causal, heads of 64)',
      attrs: { causal: true, scale: 0.125 },
      inputs: [{ shape: [2, 1, 70, 64] }, { shape: [2, 1, 130, 64] }, { shape: [2, 1, 130, 64] }],
    },
    {
      label: 'attention of 67 queries over 90 keys (not causal, heads of 64)',
      attrs: { causal: false, scale: 0.125 },
      inputs: [{ shape: [1, 2, 67, 64] }, { shape: [1, 2, 90, 64] }, { shape: [1, 2, 90, 64] }],
    },
  ];
  for (const c of long)
    it(`${c.label}: forward and backward kernels match the CPU reference`, async () => {
      const oc: Case = { ...c, op: 'attention' };
      const { feeds, params } = randomData(oc, 7);
      await compareModule(opCaseModule(oc), feeds, params, 2, c.label);
    }, 120_000);

  for (const [file, plan] of [
    ['examples/mlp.flex', 'small'],
    ['examples/gpt.flex', 'tiny'],
    ['examples/gcn-cora.flex', 'train'],
  ] as const) {
    it(`${file} --plan ${plan}: every kernel of a training ` +
      `step (with the optimizer) matches the CPU reference`, async () => {
      const r = compile(file, plan);
      const s = new CpuSession(r.module!, { seed: 0, graphs: graphResolver(r.program) });
      await compareModule(r.module!, s.feeds(r.module!, 2), s.params, 2, `${file}:${plan}`);
    }, 600_000);
  }

  it("examples/gpt.flex --plan tiny_serve: every kernel of the prompt's " +
    'pass and of a decode step (KV cache) matches the CPU reference', async () => {
    const r = compile('examples/gpt.flex', 'tiny_serve');
    for (const m of [r.module!, r.decode!.at(-1)!.module]) {
      const s = new CpuSession(m, { seed: 0, graphs: graphResolver(r.program) });
      await compareModule(m, s.feeds(m, 1), s.params, 1, `tiny_serve:${m.name}`);
    }
  }, 600_000);

  it('spmm_acc (a block of a product, made after autodiff): its kernels continue each sum from acc', async () => {
    const { m, feeds, params } = spmmAccModule();
    await compareModule(m, feeds, params, 1, 'spmm_acc');
  });

  it('the tests above ran a kernel of every op for every target and device class', () => {
    for (const op of KERNEL_OPS)
      for (const run of RUNS)
        expect(tested.has(`${op}/${runName(run)}`), `no kernel test ran ${op} (${runName(run)})`).toBe(true);
  });
});
