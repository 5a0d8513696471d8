import type { Value } from '../../ir/graph.ts';
import * as K from '../build.ts';
import type { Expr, Stmt } from '../ir.ts';
import { flat, type Lowering, read, res, shape } from './common.ts';

const [i, r, h, e] = [K.ref('i'), K.ref('r'), K.ref('h'), K.ref('e')];
const f = (name: string) => K.ref(name, 'f32');
/** Element (e, h) of an [nnz, H] operand or of the result. */
const at = (heads: number) => K.add(K.mul(e, K.u32(heads)), h);

/**
 * One invocation per row of the CSR at operand 0 and head: each of `passes` loops over the row's entries e, after its
 * statements in `before`, for an [nnz, H] result (each row's entries are contiguous).
 */
function perRowAndHead(v: Value, passes: (heads: number) => Stmt[][], before: Stmt[][]): ReturnType<Lowering> {
  const heads = shape(v)[1]!;
  const rows = (v.inputs[0]!.type.shape[0] as number) - 1;
  const ptr = (at: Expr) => K.cast('u32', read(v, 0, at));
  const over = (body: Stmt[]) => K.loop('e', ptr(r), ptr(K.add(r, K.u32(1))), body);
  const ps = passes(heads);
  return flat(rows * heads, [
    K.let_('r', K.div(i, K.u32(heads))),
    K.let_('h', K.mod(i, K.u32(heads))),
    ...ps.flatMap((p, k) => [...before[k]!, over(p)]),
  ]);
}

/** Graph attention's edge kernels: softmax over each row's entries (and its backward), and SDDMM. */
export const edgeLowerings: Record<string, Lowering> = {
  edge_softmax: (v) =>
    perRowAndHead(
      v,
      (hs) => [
        [K.set('m', K.max(f('m'), read(v, 1, at(hs))))],
        [K.set('s', K.call('exp', K.sub(read(v, 1, at(hs)), f('m'))), '+')],
        [K.store(res, at(hs), K.div(K.call('exp', K.sub(read(v, 1, at(hs)), f('m'))), f('s')))],
      ],
      [[K.var_('m', K.f32(-Infinity))], [K.var_('s', K.f32(0))], []],
    ),
  edge_softmax_grad: (v) =>
    perRowAndHead(
      v,
      (hs) => [
        [K.set('s', K.mul(read(v, 1, at(hs)), read(v, 2, at(hs))), '+')],
        [K.store(res, at(hs), K.mul(read(v, 1, at(hs)), K.sub(read(v, 2, at(hs)), f('s'))))],
      ],
      [[K.var_('s', K.f32(0))], []],
    ),
  sddmm: (v) => {
    const [nnz, heads] = shape(v) as [number, number];
    const w = v.inputs[2]!.type.shape[1] as number;
    const per = w / heads;
    const base = (k: number) => K.add(K.mul(K.cast('u32', read(v, k, e)), K.u32(w)), K.mul(h, K.u32(per)));
    return flat(nnz * heads, [
      K.let_('e', K.div(i, K.u32(heads))),
      K.let_('h', K.mod(i, K.u32(heads))),
      K.let_('pa', base(0)),
      K.let_('pb', base(1)),
      K.var_('acc', K.f32(0)),
      K.loop('j', K.u32(0), K.u32(per), [
        K.set(
          'acc',
          K.mul(read(v, 2, K.add(K.ref('pa'), K.ref('j'))), read(v, 3, K.add(K.ref('pb'), K.ref('j')))),
          '+',
        ),
      ]),
      K.store(res, i, f('acc')),
    ]);
  },
};
