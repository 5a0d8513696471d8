import type { Value } from '../../ir/graph.ts';
import { ints } from '../../ir/ops/util.ts';
import { normAxis } from '../../ir/types.ts';
import {
  count,
  type DeviceClass,
  type Emitter,
  f32,
  linear,
  offsetFn,
  perWorkgroup,
  shape,
  strides,
  WG,
  WG_REDUCE,
  u32,
} from './kernel.ts';

/**
 * CPU class: one thread per output element, looping over the reduced coordinates in row-major order
 * (the CPU reference's order, so sums agree to the last bit on equal inputs). GPU class: one
 * workgroup per output element, its invocations striding over the reduced coordinates, combined by
 * a workgroup reduction.
 */
function reduceKernel(v: Value, reduced: boolean[], op: 'sum' | 'mean' | 'max', cls: DeviceClass): ReturnType<Emitter> {
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
  if (cls === 'gpu') {
    const { dispatch, index } = perWorkgroup(count(v));
    return {
      workgroup: [WG, 1, 1],
      dispatch,
      helpers: `${helpers}\n\n${WG_REDUCE}`,
      body:
        `${index}\n  let b = base(w);\n  var acc = ${init};\n  for (var r = lid; r < ${u32(total)}; r += ${u32(WG)}) ` +
        `{ ${acc} }\n  acc = ${op === 'max' ? 'wmax' : 'wsum'}(acc, lid);\n  if (lid == 0u) { res[w] = ${fin}; }`,
    };
  }
  const { dispatch, index } = linear(count(v));
  return {
    workgroup: [WG, 1, 1],
    dispatch,
    helpers,
    body:
      `${index}\n  let b = base(i);\n  var acc = ${init};\n  for (var ` +
      `r = 0u; r < ${u32(total)}; r++) { ${acc} }\n  res[i] = ${fin};`,
  };
}

function reducedOf(v: Value): boolean[] {
  const r = shape(v.inputs[0]!).length;
  const axes = new Set(ints(v.attrs, 'axes').map((a) => normAxis(a, r)));
  return shape(v.inputs[0]!).map((_, k) => axes.has(k));
}

export const reduceEmitters: Record<string, Emitter> = {
  sum: (v, cls) => reduceKernel(v, reducedOf(v), 'sum', cls),
  mean: (v, cls) => reduceKernel(v, reducedOf(v), 'mean', cls),
  max: (v, cls) => reduceKernel(v, reducedOf(v), 'max', cls),
  sum_to: (v, cls) => {
    const to = shape(v);
    const from = shape(v.inputs[0]!);
    const pad = [...new Array<number>(from.length - to.length).fill(1), ...to];
    return reduceKernel(
      v,
      pad.map((d, k) => d === 1 && from[k] !== 1),
      'sum',
      cls,
    );
  },
};
