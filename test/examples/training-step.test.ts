import { beforeAll, describe, expect, it } from 'vitest';
import { graphResolver } from '../../compiler/cli/run.ts';
import { compile } from '../../compiler/compile.ts';
import { CpuSession } from '../../compiler/interp/session.ts';
import { leafName } from '../../compiler/ir/graph.ts';
import type { NDArray } from '../../compiler/ir/op.ts';
import { gradOutput } from '../../compiler/passes/autodiff.ts';
import { weightDecayOf } from '../../compiler/passes/optimizer.ts';
import { directional, lossF64, relErr, tf, tfReady } from '../helpers/oracle.ts';
import { gatTf, gcnTf, gptTf, mlpTf, sageTf, type TfModel } from './tf-models.ts';
import { differentiate } from '../../compiler/passes/autodiff.ts';
import { runModule } from '../../compiler/interp/interpret.ts';

beforeAll(tfReady);

interface Example {
  file: string;
  plan: string;
  model: (seeds: number[]) => TfModel;
  /** The finite-difference step (1e-5 unless said): smaller where ReLU inputs lie within it of their kink. */
  eps?: number;
}

const EXAMPLES: Example[] = [
  { file: 'examples/mlp.flex', plan: 'small', model: () => mlpTf },
  { file: 'examples/gpt.flex', plan: 'tiny', model: () => gptTf({ d: 16, heads: 2, depth: 2 }) },
  { file: 'examples/gcn-cora.flex', plan: 'train', model: (s) => gcnTf([s[0]!, s[1]!], 0.5) },
  // 224 of GraphSAGE's 43,328 hidden pre-activations lie within 1e-4 of 0: a step of 1e-5 crosses ReLU's kink
  { file: 'examples/sage-cora.flex', plan: 'train', model: (s) => sageTf([s[0]!, s[1]!], 0.5), eps: 1e-6 },
  {
    // the oracle's sums over edges take time and memory in nodes × edges: a small generated graph, not Cora
    file: 'test/examples/fixtures/gat-sbm.flex',
    plan: 'train',
    model: (s) =>
      gatTf(s, 0.6, [
        { heads: 8, out: 8 },
        { heads: 1, out: 4 },
      ]),
    eps: 1e-6,
  },
];

const STEPS = 3;

describe.each(EXAMPLES)('$file ($plan): a full training step', (ex) => {
  const r = compile(ex.file, ex.plan);
  it('compiles', () => expect(r.diagnostics).toEqual([]));
  const config = r.lowered!.config;
  const m = r.module!;
  const opt = config.task.kind === 'train' ? config.task.optimizer : undefined;

  it(`matches tfjs for ${STEPS} steps: loss, every gradient, and the optimizer update (1e-4 relative)`, () => {
    const session = new CpuSession(m, { seed: 0, graphs: graphResolver(r.program) });
    const params = m.values.filter((v) => v.op === 'param').map(leafName);
    const vars = new Map(
      params.map((p) => [
        p,
        tf.variable(
          tf.tensor(Float32Array.from(session.params.get(p)!.data), session.params.get(p)!.shape),
          true,
          `${ex.plan}-${Math.random()}-${p}`,
        ),
      ]),
    );
    const optimizer =
      opt!.kind === 'sgd' ? tf.train.sgd(opt!.lr) : tf.train.adam(opt!.lr, opt!.beta1, opt!.beta2, opt!.eps);
    const seeds = m.values
      .filter((v) => v.op === 'dropout' && v.inputs[0]!.op !== 'dropout')
      .map((v) => Number(v.attrs['seed']));
    const fwdSeeds = [...new Set(seeds)];
    const model = ex.model(fwdSeeds);
    // Where a gradient is numerically zero (e.g. attention's key bias: softmax ignores a constant shift),
    // Adam's direction g/(|g|+eps) is rounding noise; such elements are left out of the update check.
    const live = new Map(params.map((p) => [p, new Uint8Array(session.params.get(p)!.data.length).fill(1)]));
    const masked = (a: ArrayLike<number>, keep: Uint8Array) => Array.from(a).filter((_, i) => keep[i]);
    for (let step = 1; step <= STEPS; step++) {
      const feeds = session.feeds(m, step);
      const ours = session.run();
      let pure = 0;
      const { grads } = tf.variableGrads(() => {
        const loss = model((n) => vars.get(n)!, feeds, step);
        pure = loss.dataSync()[0]!;
        let total: tf.Scalar = loss;
        for (const p of params) {
          const wd = weightDecayOf(opt!, p);
          if (wd) total = tf.add(total, tf.mul(wd / 2, tf.sum(tf.square(vars.get(p)!)))) as tf.Scalar;
        }
        return total;
      }, [...vars.values()]);
      expect(Math.abs(ours.get('loss')!.data[0]! - pure) / Math.abs(pure), `loss at step ${step}`).toBeLessThan(1e-4);
      for (const p of params) {
        const g = grads[vars.get(p)!.name]!;
        const wd = weightDecayOf(opt!, p);
        const pureGrad = wd ? tf.sub(g, tf.mul(wd, vars.get(p)!)).dataSync() : g.dataSync();
        expect(relErr(ours.get(gradOutput(p))!.data, pureGrad), `grad of ${p} at step ${step}`).toBeLessThan(1e-4);
        const full = Array.from(g.dataSync());
        const scale = full.reduce((a, x) => Math.max(a, Math.abs(x)), 0);
        full.forEach((x, i) => Math.abs(x) <= 1e-6 * scale && (live.get(p)![i] = 0));
      }
      optimizer.applyGradients(grads as unknown as { name: string; tensor: tf.Tensor }[]);
      for (const p of params) {
        const keep = live.get(p)!;
        expect(
          relErr(masked(session.params.get(p)!.data, keep), masked(vars.get(p)!.dataSync(), keep)),
          `${p} after step ${step}`,
        ).toBeLessThan(1e-4);
      }
    }
  });

  it('agrees with central finite differences in float64 along random directions', () => {
    const session = new CpuSession(r.lowered!.forward, { seed: 0, graphs: graphResolver(r.program), precision: 'f64' });
    const feeds = session.feeds(r.lowered!.forward, 1);
    const loss = r.lowered!.forward.outputs.find((o) => o.name === 'loss')!.value;
    const d = differentiate(r.lowered!.forward, loss);
    const out = runModule(d, feeds, new Map(session.params), { precision: 'f64', step: 1 }).outputs;
    expect(lossF64(r.lowered!.forward, feeds, session.params)).toBeCloseTo(out.get('loss')!.data[0]!, 12);
    for (const seed of [1, 2]) {
      const { fd, dirs } = directional(
        r.lowered!.forward,
        feeds,
        session.params as Map<string, NDArray>,
        seed,
        ex.eps ?? 1e-5,
      );
      let analytic = 0;
      for (const [k, dir] of dirs) {
        const g = out.get(gradOutput(k))!.data;
        for (let i = 0; i < dir.length; i++) analytic += g[i]! * dir[i]!;
      }
      expect(Math.abs(analytic - fd) / Math.max(Math.abs(fd), 1e-12), `direction ${seed}`).toBeLessThan(1e-6);
    }
  });
});
