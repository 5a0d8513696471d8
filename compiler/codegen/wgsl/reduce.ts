import type { Value } from '../../ir/graph.ts';
import { ints } from '../../ir/ops/util.ts';
import { normAxis } from '../../ir/types.ts';
import { count, type Emitter, f32, linear, offsetFn, shape, strides, WG, u32 } from './kernel.ts';

/**
 * One thread per output element, looping over the reduced coordinates in row-major order
 * (the CPU reference's order, so sums agree to the last bit on equal inputs).
 */
function reduceKernel(v: Value, reduced: boolean[], op: 'sum' | 'mean' | 'max'): ReturnType<Emitter> {
  const inShape = shape(v.inputs[0]!);
  const inStr = strides(inShape);
  // output coordinates walk the kept dims; reduced coordinates walk the others
  const outShape = inShape.map((d, k) => (reduced[k] ? 1 : d));
  const redShape = inShape.map((d, k) => (reduced[k] ? d : 1));
  const total = redShape.reduce((a, d) => a * d, 1);
  const helpers = [offsetFn('base', outShape, inStr), offsetFn('step', redShape, inStr)].join('\n\n');
  const init = op === 'max' ? f32(-Infinity) : '0.0f';
  const acc = op === 'max' ? 'acc = max(acc, a0[b + step(r)]);' : 'acc += a0[b + step(r)];';
  const fin = op === 'mean' ? `acc / ${f32(total)}` : 'acc';
  const { dispatch, index } = linear(count(v));
  return { workgroup: [WG, 1, 1], dispatch, helpers, body: `${index}\n  let b = base(i);\n  var acc = ${init};\n  for (var r = 0u; r < ${u32(total)}; r++) { ${acc} }\n  res[i] = ${fin};` };
}

function reducedOf(v: Value): boolean[] {
  const r = shape(v.inputs[0]!).length;
  const axes = new Set(ints(v.attrs, 'axes').map((a) => normAxis(a, r)));
  return shape(v.inputs[0]!).map((_, k) => axes.has(k));
}

export const reduceEmitters: Record<string, Emitter> = {
  sum: (v) => reduceKernel(v, reducedOf(v), 'sum'),
  mean: (v) => reduceKernel(v, reducedOf(v), 'mean'),
  max: (v) => reduceKernel(v, reducedOf(v), 'max'),
  sum_to: (v) => {
    const to = shape(v);
    const from = shape(v.inputs[0]!);
    const pad = [...new Array<number>(from.length - to.length).fill(1), ...to];
    return reduceKernel(v, pad.map((d, k) => d === 1 && from[k] !== 1), 'sum');
  },
};

