import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webgpuSession } from '../../compiler/cli/trainers.ts';
import { buildPlan } from '../../compiler/codegen/plan.ts';
import { CpuPlanSession } from '../../compiler/interp/plan-session.ts';
import { CpuSession } from '../../compiler/interp/session.ts';
import { parseModule } from '../../compiler/ir/parser.ts';
import { gradOutput } from '../../compiler/passes/autodiff.ts';
import { runPipeline } from '../../compiler/passes/pipeline.ts';
import { planConfig, trainTask } from '../helpers/plan-config.ts';
import { WebGpuSession } from '../../runtime/webgpu/session.ts';
import { sharedGpu } from '../helpers/gpu.ts';
import { relErr, tf, tfReady } from '../helpers/oracle.ts';

/**
 * Every transposition of a matmul's operands inside whole training steps (autodiff, the optimizer,
 * the plan) against tfjs, and on WebGPU against the CPU reference. The language writes transposes
 * as their own op, so a step only meets `ta`/`tb` in the backward pass ((F,T) and (T,F)); these
 * modules put each flag pair in the forward, so the backward runs all four gradient rules, with
 * batch dimensions on both sides, on one side (a weight shared across a batch: its gradient sums
 * over the batch) and broadcast from size 1 on each side.
 */
const LR = 0.1;
const STEPS = 2;
const FLAGS = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
] as const;
/** Batch dims of a and b: both, b shared, a shared, broadcast 2×1 against 1×3. */
const LAYOUTS = {
  batched: [[2], [2]],
  'weight right': [[3], []],
  'weight left': [[], [3]],
  broadcast: [
    [2, 1],
    [1, 3],
  ],
} as const;

function stepModule(ta: boolean, tb: boolean, layout: keyof typeof LAYOUTS, [m, k, n]: number[]) {
  const [ba, bb] = LAYOUTS[layout].map((d) => [...d]);
  const a = [...ba!, ...(ta ? [k!, m!] : [m!, k!])];
  const b = [...bb!, ...(tb ? [n!, k!] : [k!, n!])];
  const batch = ba!.length >= bb!.length ? ba!.map((d, i) => Math.max(d, bb![i] ?? 1)) : bb!;
  const y = [...batch, m!, n!];
  const all = y.map((_, i) => i).join(', ');
  const flags = [ta && 'ta = true', tb && 'tb = true'].filter(Boolean).join(', ');
  const text = `module @m {
  %0 = param "a" {init = "normal", mean = 0, std = 1} : f32[${a}]
  %1 = param "b" {init = "normal", mean = 0, std = 0.5} : f32[${b}]
  %2 = matmul %0, %1${flags ? ` {${flags}}` : ''} : f32[${y}]
  %3 = tanh %2 : f32[${y}]
  %4 = mul %3, %3 : f32[${y}]
  %5 = mean %4 {axes = [${all}], keepdims = false} : f32[]
  output "loss" = %5
}
`;
  const config = planConfig({ name: `matmul_${+ta}${+tb}`, steps: STEPS, task: trainTask('sgd', LR) });
  return { module: runPipeline(parseModule(text), { config }), config, a, b, y };
}

const noGraphs = (g: string): never => {
  throw new Error(`no graph ${g}`);
};

const CASES = FLAGS.flatMap(([ta, tb]) =>
  Object.keys(LAYOUTS).map((layout) => ({
    ta,
    tb,
    layout: layout as keyof typeof LAYOUTS,
    // one case crosses the gpu-class kernel's 32×32 tiles and 16-deep slices
    dims: layout === 'batched' ? [37, 18, 33] : [5, 7, 6],
  })),
);
const label = (c: (typeof CASES)[number]) => `matmul {ta: ${c.ta}, tb: ${c.tb}}, ${c.layout}`;

beforeAll(tfReady);

describe.each(CASES.map((c) => [label(c), c] as const))('%s: a whole training step', (_, c) => {
  const s = stepModule(c.ta, c.tb, c.layout, c.dims);

  it(`matches tfjs for ${STEPS} SGD steps: loss, both gradients and the updated parameters (1e-5)`, () => {
    const cpu = new CpuSession(s.module, { seed: 0, graphs: noGraphs });
    const vars = ['a', 'b'].map((p) => tf.tensor(Float32Array.from(cpu.params.get(p)!.data), cpu.params.get(p)!.shape));
    for (let step = 1; step <= STEPS; step++) {
      const ours = cpu.run();
      const f = (a: tf.Tensor, b: tf.Tensor) => {
        const batch = s.y.slice(0, -2);
        const bc = (t: tf.Tensor) => tf.broadcastTo(t, [...batch, ...t.shape.slice(-2)]);
        return tf.mean(tf.square(tf.tanh(tf.matMul(bc(a), bc(b), c.ta, c.tb)))) as tf.Scalar;
      };
      const { value, grads } = tf.valueAndGrads(f)([vars[0]!, vars[1]!]);
      expect(relErr(ours.get('loss')!.data, value.dataSync()), `loss at step ${step}`).toBeLessThan(1e-5);
      ['a', 'b'].forEach((p, i) =>
        expect(relErr(ours.get(gradOutput(p))!.data, grads[i]!.dataSync()), `grad of ${p} at ${step}`).toBeLessThan(
          1e-5,
        ),
      );
      for (let i = 0; i < 2; i++) vars[i] = tf.sub(vars[i]!, tf.mul(LR, grads[i]!));
      ['a', 'b'].forEach((p, i) =>
        expect(relErr(cpu.params.get(p)!.data, vars[i]!.dataSync()), `${p} after ${step}`).toBeLessThan(1e-5),
      );
    }
    // the plan in its own arena on the CPU (poisoned) computes bitwise the same; `x * x` reads one binding
    const again = new CpuSession(s.module, { seed: 0, graphs: noGraphs });
    const built = buildPlan(s.module, s.config, {}).plan;
    const arena = new CpuPlanSession(s.module, built, { graphs: noGraphs }, true);
    arena.loadParameters(new Map([...again.params].map(([k, v]) => [k, v.data])));
    for (let step = 1; step <= STEPS; step++) {
      const got = arena.run();
      for (const [name, w] of again.run()) expect(Array.from(got.get(name)!), name).toEqual(Array.from(w.data));
    }
    const square = built.steps.find((st) => st.kind === 'launch' && st.value.endsWith(' mul'));
    expect(square?.kind === 'launch' && square.bindings.length).toBe(2);
    // the backward pass really runs the transposed kernels this case is about
    const used = s.module.values.filter((v) => v.op === 'matmul').map((v) => `${!!v.attrs['ta']}${!!v.attrs['tb']}`);
    expect(used).toContain(`${c.ta}${c.tb}`);
    expect(new Set(used).size).toBe(c.ta === c.tb ? (c.ta ? 1 : 3) : 3);
  });
});

afterAll(async () => (await sharedGpu()).device.destroy());

describe('every matmul transposition in training steps on WebGPU', () => {
  it.each(['cpu', 'gpu'] as const)(
    '%s-class kernels match the CPU reference on all 16 cases for 2 steps, freed memory poisoned (1e-5)',
    async (deviceClass) => {
      for (const c of CASES) {
        const s = stepModule(c.ta, c.tb, c.layout, c.dims);
        const cpu = new CpuSession(s.module, { seed: 0, graphs: noGraphs });
        const gpu = await webgpuSession(await sharedGpu(), s.module, s.config, noGraphs, { deviceClass, poison: true });
        gpu.loadParameters(new Map([...cpu.params].map(([k, v]) => [k, v.data])));
        for (let step = 1; step <= STEPS; step++) {
          const want = cpu.run();
          const got = await gpu.run();
          for (const [name, w] of want)
            expect(relErr(got.get(name)!, w.data), `${label(c)}: ${name} at ${step}`).toBeLessThan(1e-5);
        }
        gpu.destroy();
      }
    },
    300_000,
  );

  it('a step the device rejects (a result bound over its operand) fails instead of returning zeros', async () => {
    const s = stepModule(false, false, 'batched', [5, 7, 6]);
    const { plan, sources } = buildPlan(s.module, s.config, {}, { deviceClass: 'cpu' });
    const open = (p: typeof plan) => WebGpuSession.create(gpu, p, (k) => sources.get(k)!);
    const gpu = await sharedGpu();
    const good = await open(plan);
    await expect(good.run()).resolves.toBeDefined();
    good.destroy();
    const tanh = plan.steps.find((st) => st.kind === 'launch' && st.value.endsWith(' tanh'));
    const [operand, result] = (tanh?.kind === 'launch' ? tanh.bindings : []).map((id) => plan.buffers[id]!);
    const buffers = plan.buffers.map((b) => (b.id === result!.id ? { ...b, offset: operand!.offset } : b));
    const bad = await open({ ...plan, buffers });
    await expect(bad.run()).rejects.toThrow(/the device rejected step 1 of plan `matmul_00`/);
    bad.destroy();
  });
});
