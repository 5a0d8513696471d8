import { beforeAll, describe, expect, it } from 'vitest';
import { OPS } from '../../compiler/ir/ops/registry.ts';
import { finiteDiff, ourGrads, randomData, relErr, singleOpModule, tf, tfReady } from '../helpers/oracle.ts';
import { OP_CASES } from './op-cases.ts';

beforeAll(tfReady);

describe('op gradients', () => {
  it('every op has a gradient rule or says why not, and a test case covers each gradient rule', () => {
    const covered = new Set<string>(OP_CASES.map((c) => c.op));
    for (const [name, def] of OPS) {
      expect(def.grad !== undefined || def.noGrad !== undefined, `${name} has neither a gradient nor a reason`).toBe(
        true,
      );
      if (def.grad) expect(covered.has(name), `${name} has a gradient rule but no gradient test`).toBe(true);
    }
  });

  for (const c of OP_CASES) {
    it(`${c.label}: autodiff agrees with tfjs (f32, 1e-4) and with central differences (f64)`, () => {
      const m = singleOpModule(c);
      const { feeds, params, R } = randomData(c, 1234);
      const step = 3;
      // tfjs oracle: d/dp sum(op(p…) * R)
      const tfInputs = c.inputs.map((s, k) =>
        s.ints
          ? tf.tensor(s.ints, s.shape, 'int32')
          : s.fixed
            ? tf.tensor(s.fixed, s.shape)
            : tf.tensor(Float32Array.from(params.get(`p${k}`)!.data), s.shape),
      );
      const floatIdx = c.inputs.map((s, k) => (s.ints || s.fixed ? -1 : k)).filter((k) => k >= 0);
      const outShape = m.outputs[1]!.value.type.shape as number[];
      const rT = tf.tensor(Float32Array.from(R), outShape);
      const f = (...fs: tf.Tensor[]) => {
        const xs = tfInputs.slice();
        floatIdx.forEach((k, j) => (xs[k] = fs[j]!));
        return tf.sum(tf.mul(c.tf(xs), rT)) as tf.Scalar;
      };
      const tfGrads = tf.grads(f)(floatIdx.map((k) => tfInputs[k]!));
      const ours32 = ourGrads(m, feeds, params, 'f32', step);
      const ours64 = ourGrads(m, feeds, params, 'f64', step);
      const fd = finiteDiff(m, feeds, params, 1e-6, step);
      floatIdx.forEach((k, j) => {
        const name = `p${k}`;
        const tfg = tfGrads[j]!.dataSync();
        expect(relErr(ours32.grads.get(name)!.data, tfg), `${name} vs tfjs`).toBeLessThan(1e-4);
        if (!c.straightThrough)
          expect(relErr(ours64.grads.get(name)!.data, fd.get(name)!), `${name} vs finite differences`).toBeLessThan(
            1e-6,
          );
      });
      expect(Math.abs(ours32.loss - f(...floatIdx.map((k) => tfInputs[k]!)).dataSync()[0]!)).toBeLessThan(
        1e-4 * Math.max(1, Math.abs(ours32.loss)),
      );
    });
  }
});
