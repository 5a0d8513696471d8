import type { Value } from '../../ir/graph.ts';
import { num } from '../../ir/ops/util.ts';
import * as K from '../build.ts';
import type { Stmt } from '../ir.ts';
import { count, flat, type Lowering, read, res, shape } from './common.ts';

const i = K.ref('i');
const f = (name: string) => K.ref(name, 'f32');
const s = (name: string) => K.ref(name, 'i32');
const u = (name: string) => K.ref(name);
const signed = (x: Parameters<typeof K.cast>[1]) => K.cast('i32', x);

/**
 * An expert's walk over the [T, k] choices (operand 0 of `v`) in routing order (every token's first choice, then
 * every second, …): `body` runs for each assignment to expert `i`, at `at`, with `p` the number before it.
 */
function walk(v: Value, tokens: number, k: number, body: Stmt[]): Stmt[] {
  const at = K.add(K.mul(u('t'), K.u32(k)), u('r'));
  return [
    K.var_('p', K.u32(0)),
    K.loop('r', K.u32(0), K.u32(k), [
      K.loop('t', K.u32(0), K.u32(tokens), [
        K.let_('at', at),
        K.if_(K.eq(read(v, 0, u('at')), signed(i)), [...body, K.set('p', K.add(u('p'), K.u32(1)))]),
      ]),
    ]),
  ];
}

/** Each op of ops/moe.ts as a kernel of independent invocations (a row, an element, an expert), for both classes. */
export const moeLowerings: Record<string, Lowering> = {
  // one invocation per row: the r-th choice is the best of the values after the (r-1)-th in the order
  // (value descending, index ascending), so no list of chosen indices is kept
  topk: (v) => {
    const k = num(v.attrs, 'k');
    const n = shape(v.inputs[0]!).at(-1)!;
    const x = read(v, 0, K.add(K.mul(i, K.u32(n)), u('j')));
    const after = K.or(
      K.lt(s('pi'), K.i32(0)),
      K.or(K.lt(f('xj'), f('pv')), K.and(K.eq(f('xj'), f('pv')), K.gt(signed(u('j')), s('pi')))),
    );
    const better = K.or(K.lt(s('bi'), K.i32(0)), K.gt(f('xj'), f('bv')));
    return flat(count(v) / k, [
      K.var_('pv', K.f32(0)),
      K.var_('pi', K.i32(-1)),
      K.loop('r', K.u32(0), K.u32(k), [
        K.var_('bv', K.f32(0)),
        K.var_('bi', K.i32(-1)),
        K.loop('j', K.u32(0), K.u32(n), [
          K.let_('xj', x),
          K.if_(K.and(after, better), [K.set('bv', f('xj')), K.set('bi', signed(u('j')))]),
        ]),
        K.store(res, K.add(K.mul(i, K.u32(k)), u('r')), s('bi')),
        K.set('pv', f('bv')),
        K.set('pi', s('bi')),
      ]),
    ]);
  },
  take: (v) => {
    const n = shape(v.inputs[0]!).at(-1)!;
    const k = shape(v).at(-1)!;
    return flat(count(v), [
      K.let_('j', read(v, 1, i)),
      K.if_(K.or(K.lt(s('j'), K.i32(0)), K.ge(s('j'), K.i32(n))), [K.store(res, i, K.f32(0)), K.ret]),
      K.store(res, i, read(v, 0, K.add(K.mul(K.div(i, K.u32(k)), K.u32(n)), K.cast('u32', s('j'))))),
    ]);
  },
  // one invocation per element of the result: the row's dy added where its index names the element, in order
  take_grad: (v) => {
    const n = shape(v).at(-1)!;
    const k = shape(v.inputs[0]!).at(-1)!;
    const at = K.add(K.mul(K.div(i, K.u32(n)), K.u32(k)), u('r'));
    return flat(count(v), [
      K.var_('acc', K.f32(0)),
      K.loop('r', K.u32(0), K.u32(k), [
        K.if_(K.eq(read(v, 1, at), signed(K.mod(i, K.u32(n)))), [K.set('acc', read(v, 0, at), '+')]),
      ]),
      K.store(res, i, f('acc')),
    ]);
  },
  // one invocation per expert, each walking every choice in routing order
  moe_slots: (v) => {
    const [e, c] = [num(v.attrs, 'experts'), num(v.attrs, 'capacity')];
    const [t, k] = shape(v) as [number, number];
    const slot = K.select(K.lt(u('p'), K.u32(c)), signed(K.add(K.mul(i, K.u32(c)), u('p'))), K.i32(e * c));
    return flat(e, walk(v, t, k, [K.store(res, u('at'), slot)]));
  },
  moe_tokens: (v) => {
    const [e, c] = [num(v.attrs, 'experts'), num(v.attrs, 'capacity')];
    const [t, k] = shape(v.inputs[0]!) as [number, number];
    const place = K.store(res, K.add(K.mul(i, K.u32(c)), u('p')), signed(u('t')));
    return flat(e, [
      ...walk(v, t, k, [K.if_(K.lt(u('p'), K.u32(c)), [place])]),
      K.loop('q', K.min(u('p'), K.u32(c)), K.u32(c), [K.store(res, K.add(K.mul(i, K.u32(c)), u('q')), K.i32(t))]),
    ]);
  },
};
