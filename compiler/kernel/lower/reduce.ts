import type { Value } from '../../ir/graph.ts';
import { ints } from '../../ir/ops/util.ts';
import { normAxis } from '../../ir/types.ts';
import * as K from '../build.ts';
import {
  count,
  type DeviceClass,
  flat,
  type KernelBody,
  type Lowering,
  offset,
  perWorkgroup,
  read,
  res,
  shape,
  strides,
  WG,
} from './common.ts';

/**
 * CPU class: one invocation per output element, looping over the reduced coordinates in row-major order (the CPU
 * reference's order, so sums agree to the last bit on equal inputs). GPU class: one workgroup per output element, its
 * invocations striding over the reduced coordinates, combined by a workgroup reduction.
 */
function reduceKernel(v: Value, reduced: boolean[], op: 'sum' | 'mean' | 'max', cls: DeviceClass): KernelBody {
  const inShape = shape(v.inputs[0]!);
  const inStr = strides(inShape);
  // output coordinates walk the kept dims; reduced coordinates walk the others
  const outShape = inShape.map((d, k) => (reduced[k] ? 1 : d));
  const redShape = inShape.map((d, k) => (reduced[k] ? d : 1));
  const total = redShape.reduce((a, d) => a * d, 1);
  const acc = K.ref('acc', 'f32');
  const r = K.ref('r');
  const x = read(v, 0, K.add(K.ref('b'), offset(r, redShape, inStr)));
  const step = op === 'max' ? K.set('acc', K.max(acc, x)) : K.set('acc', x, '+');
  const init = K.var_('acc', op === 'max' ? K.f32(-Infinity) : K.f32(0));
  const fin = (e: ReturnType<typeof K.ref>) => (op === 'mean' ? K.div(e, K.f32(total)) : e);
  if (cls === 'gpu') {
    const { dispatch, index } = perWorkgroup(count(v));
    const w = K.ref('w');
    return {
      workgroup: [WG, 1, 1],
      dispatch,
      body: [
        ...index,
        K.let_('b', offset(w, outShape, inStr)),
        init,
        K.loop('r', K.lid, K.u32(total), [step], K.u32(WG)),
        K.wreduce(op === 'max' ? 'max' : 'sum', acc, 'all'),
        K.if_(K.eq(K.lid, K.u32(0)), [K.store(res, w, fin(K.ref('all', 'f32')))]),
      ],
    };
  }
  const i = K.ref('i');
  return flat(count(v), [
    K.let_('b', offset(i, outShape, inStr)),
    init,
    K.loop('r', K.u32(0), K.u32(total), [step]),
    K.store(res, i, fin(acc)),
  ]);
}

function reducedOf(v: Value): boolean[] {
  const r = shape(v.inputs[0]!).length;
  const axes = new Set(ints(v.attrs, 'axes').map((a) => normAxis(a, r)));
  return shape(v.inputs[0]!).map((_, k) => axes.has(k));
}

export const reduceLowerings: Record<string, Lowering> = {
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
