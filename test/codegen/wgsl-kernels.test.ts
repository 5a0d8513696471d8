import { describe, expect, it } from 'vitest';
import { graphResolver } from '../../compiler/cli/run.ts';
import { DEVICE_CLASSES, WGSL_EMITTERS, wgslKernel, type DeviceClass } from '../../compiler/codegen/wgsl/index.ts';
import { compile } from '../../compiler/compile.ts';
import { runModule } from '../../compiler/interp/interpret.ts';
import { CpuSession } from '../../compiler/interp/session.ts';
import type { Module } from '../../compiler/ir/graph.ts';
import type { NDArray } from '../../compiler/ir/op.ts';
import { OPS } from '../../compiler/ir/ops/registry.ts';
import { differentiate } from '../../compiler/passes/autodiff.ts';
import { runOnGpu } from '../helpers/gpu.ts';
import { randomData, relErr, singleOpModule } from '../helpers/oracle.ts';
import { OP_CASES } from '../ir/op-cases.ts';

const LEAVES = new Set(['input', 'param', 'state']);
const tested = new Set<string>();

/**
 * Runs every non-leaf value of `m` through its WGSL kernels (each device class's) on the CPU reference's operands and
 * compares.
 */
async function compareModule(
  m: Module,
  feeds: Map<string, NDArray>,
  params: Map<string, NDArray>,
  step: number,
  label: string,
  classes: readonly DeviceClass[] = DEVICE_CLASSES,
) {
  const f32 = (t: Map<string, NDArray>) =>
    new Map(
      [...t].map(([k, a]) => [
        k,
        a.data instanceof Float64Array ? { data: Float32Array.from(a.data), shape: a.shape } : a,
      ]),
    );
  const values = runModule(m, f32(feeds), f32(params), { precision: 'f32', step, keepValues: true }).values!;
  for (const v of m.values) {
    if (LEAVES.has(v.op)) continue;
    const want = values.get(v)!;
    for (const cls of classes) {
      const got = await runOnGpu(
        v,
        v.inputs.map((x) => values.get(x)!),
        cls,
      );
      tested.add(`${v.op}/${cls}`);
      const err = relErr(got, want.data);
      // WGSL allows sin and cos an absolute error of 2^-11 on [-π, π] (WGSL spec, "Floating Point Accuracy")
      const tolerance = v.op === 'rope' ? 2 ** -11 : 2e-5;
      expect(err, `${label}: ${v.op} "${v.name ?? ''}" (${cls} kernel ${wgslKernel(v, cls).name})`).toBeLessThan(
        tolerance,
      );
    }
  }
}

describe('WGSL kernels on WebGPU (Dawn; SwiftShader when there is no GPU)', () => {
  it('every op in the registry has exactly one WGSL kernel emitter', () => {
    for (const op of OPS.keys()) expect(WGSL_EMITTERS[op], op).toBeTypeOf('function');
    for (const op of Object.keys(WGSL_EMITTERS)) expect(OPS.has(op), `emitter for unknown op ${op}`).toBe(true);
  });

  for (const c of OP_CASES) {
    it(`${c.label}: forward and backward kernels match the CPU reference`, async () => {
      const m = singleOpModule(c);
      const { feeds, params } = randomData(c, 99);
      const d = differentiate(m, m.outputs[0]!.value);
      await compareModule(d, feeds, params, 3, c.label);
    });
  }

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

  it('the tests above ran a kernel of every op for every device class', () => {
    for (const op of OPS.keys())
      for (const cls of DEVICE_CLASSES)
        expect(tested.has(`${op}/${cls}`), `no kernel test ran ${op} (${cls})`).toBe(true);
  });
});
