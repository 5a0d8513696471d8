import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { graphResolver } from '../../compiler/cli/run.ts';
import { buildPlan } from '../../compiler/codegen/plan.ts';
import { compile } from '../../compiler/compile.ts';
import { CpuSession } from '../../compiler/interp/session.ts';
import { WebGpuSession } from '../../runtime/webgpu/session.ts';
import { sharedGpu } from '../helpers/gpu.ts';

/**
 * AdamW against a float64 update written here from its definition (Loshchilov & Hutter 2019,
 * "Decoupled Weight Decay Regularization", Algorithm 2, with the schedule multiplier folded into
 * the learning rate as torch.optim.AdamW does): m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g²,
 * θ ← θ − lr·(m/(1−β1^t) / (√(v/(1−β2^t)) + ε) + λ·θ). The gradient of each step is the one the
 * implementation reports; everything else is recomputed here.
 */
const LR = 0.01;
const WD = 0.1;
const [B1, B2, EPS] = [0.9, 0.999, 1e-8];
const FILE = 'examples/_adamw_oracle.flex';
writeFileSync(
  FILE,
  `${readFileSync('examples/mlp.flex', 'utf8')}\nplan adamw {\n  model: Mlp(features: 12, hidden: 16, classes: 5)\n` +
    `  bind: { B: 6 }\n  task: train { optimizer: adamw(lr: ${LR}, weight_decay: ${WD}) }\n}\n`,
);
afterAll(() => rmSync(FILE, { force: true }));

/**
 * The moments, kept in float64 from the gradients the implementation reports; each step's update
 * is applied to the implementation's parameter before the step.
 */
class Reference {
  private readonly m = new Map<string, Float64Array>();
  private readonly v = new Map<string, Float64Array>();
  private t = 0;
  step(grads: Map<string, ArrayLike<number>>, before: Map<string, ArrayLike<number>>): Map<string, Float64Array> {
    this.t++;
    const after = new Map<string, Float64Array>();
    for (const [k, th] of before) {
      const g = grads.get(k)!;
      const m = this.m.get(k) ?? this.m.set(k, new Float64Array(th.length)).get(k)!;
      const v = this.v.get(k) ?? this.v.set(k, new Float64Array(th.length)).get(k)!;
      const next = new Float64Array(th.length);
      for (let i = 0; i < th.length; i++) {
        m[i] = B1 * m[i]! + (1 - B1) * g[i]!;
        v[i] = B2 * v[i]! + (1 - B2) * g[i]! * g[i]!;
        const mHat = m[i]! / (1 - B1 ** this.t);
        const vHat = v[i]! / (1 - B2 ** this.t);
        next[i] = th[i]! - LR * (mHat / (Math.sqrt(vHat) + EPS) + WD * th[i]!);
      }
      after.set(k, next);
    }
    return after;
  }
}

/**
 * How far a step's result is from the reference, as a multiple of what is allowed: `tol` of the
 * update (new − old parameter; a parameter that ends near zero makes its own relative error
 * meaningless) plus a few float32 ulps of the parameter, which is stored in float32.
 */
const updateError = (before: ArrayLike<number>, got: ArrayLike<number>, want: ArrayLike<number>, tol: number) => {
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    const allowed = tol * Math.abs(want[i]! - before[i]!) + 4 * 2 ** -24 * Math.abs(want[i]!);
    worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / Math.max(allowed, 1e-30));
  }
  return worst;
};

describe('AdamW against its definition in float64', () => {
  const r = compile(FILE, 'adamw');
  const weights = ['linear.w', 'linear.b', 'linear_1.w', 'linear_1.b'];

  it("the CPU reference: 3 steps, every parameter's update within 1e-5", () => {
    const cpu = new CpuSession(r.module!, { seed: 0, graphs: graphResolver(r.program) });
    const ref = new Reference();
    for (let s = 0; s < 3; s++) {
      const before = new Map(weights.map((k) => [k, Float64Array.from(cpu.params.get(k)!.data)]));
      const out = cpu.run();
      const want = ref.step(new Map(weights.map((k) => [k, out.get(`grad:${k}`)!.data])), before);
      for (const k of weights) {
        const err = updateError(before.get(k)!, cpu.params.get(k)!.data, want.get(k)!, 1e-5);
        expect(err, `${k} step ${s + 1}`).toBeLessThan(1);
      }
    }
  });

  // 1e-4: the kernel computes the bias corrections 1 − β^t in f32, where 1 − 0.999 loses 1.3e-5 of v̂
  it("the WGSL kernels on WebGPU: 3 steps, every parameter's update within 1e-4", async () => {
    const built = buildPlan(r.module!, r.lowered!.config, {});
    const session = await WebGpuSession.create(await sharedGpu(), built.plan, (k) => built.sources.get(k)!);
    try {
      const ref = new Reference();
      for (let s = 0; s < 3; s++) {
        const params = await session.parameters();
        const before = new Map(weights.map((k) => [k, Float64Array.from(params.get(k)!)]));
        const out = await session.run();
        const want = ref.step(new Map(weights.map((k) => [k, out.get(`grad:${k}`)!])), before);
        const now = await session.parameters();
        for (const k of weights) {
          expect(updateError(before.get(k)!, now.get(k)!, want.get(k)!, 1e-4), `${k} step ${s + 1}`).toBeLessThan(1);
        }
      }
    } finally {
      session.destroy();
    }
  });
});
