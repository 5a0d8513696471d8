import type { Value } from '../../ir/graph.ts';
import { num } from '../../ir/ops/util.ts';
import * as K from '../build.ts';
import type { Expr, Stmt } from '../ir.ts';
import {
  count,
  type DeviceClass,
  flat,
  type KernelBody,
  type Lowering,
  perWorkgroup,
  read,
  res,
  shape,
  WG,
} from './common.ts';

const [o, j, w, lid] = [K.ref('o'), K.ref('j'), K.ref('w'), K.lid];
const f = (name: string) => K.ref(name, 'f32');
const last = (v: Value) => shape(v).at(-1)!;
/** Operand k at o + j. */
const at = (v: Value, k: number) => read(v, k, K.add(o, j));
const put = (value: Expr) => K.store(res, K.add(o, j), value);

/** `for j` over the row of n: all of it (an invocation per row), or this invocation's share (a workgroup per row). */
const over = (n: number, cls: DeviceClass, body: Stmt[]) =>
  cls === 'gpu' ? K.loop('j', lid, K.u32(n), body, K.u32(WG)) : K.loop('j', K.u32(0), K.u32(n), body);

/** Sums `value` (over j) into a new `let name`: a loop, then a workgroup reduction on GPUs. */
function rowSum(name: string, n: number, cls: DeviceClass, value: Expr, op: 'sum' | 'max' = 'sum'): Stmt[] {
  const part = `${name}_p`;
  const init = op === 'max' ? K.f32(-Infinity) : K.f32(0);
  const step = op === 'max' ? K.set(part, K.max(f(part), value)) : K.set(part, value, '+');
  const combine = cls === 'gpu' ? K.wreduce(op, f(part), name) : K.let_(name, f(part));
  return [K.var_(part, init), over(n, cls, [step]), combine];
}

/** Declares `l`, the row's log-sum-exp of operand 0. */
const lse = (v: Value, n: number, cls: DeviceClass): Stmt[] => [
  ...rowSum('mx', n, cls, at(v, 0), 'max'),
  ...rowSum('s', n, cls, K.call('exp', K.sub(at(v, 0), f('mx')))),
  K.let_('l', K.add(f('mx'), K.call('log', f('s')))),
];

/** Declares `mean` of the row of operand 0. */
const mean = (v: Value, n: number, cls: DeviceClass): Stmt[] => [
  ...rowSum('sx', n, cls, at(v, 0)),
  K.let_('mean', K.div(f('sx'), K.f32(n))),
];

/**
 * Ops over the last axis. CPU class: one invocation per row, the CPU reference's loops. GPU class: one workgroup per
 * row, its invocations striding over the row and combining statistics with workgroup reductions. `o` is the row's
 * offset, `w` its index.
 */
function perRow(v: Value, n: number, cls: DeviceClass, body: Stmt[], rows = count(v) / n): KernelBody {
  if (cls === 'gpu') {
    const { dispatch, index } = perWorkgroup(rows);
    return { workgroup: [WG, 1, 1], dispatch, body: [...index, K.let_('o', K.mul(w, K.u32(n))), ...body] };
  }
  return flat(rows, [K.let_('w', K.ref('i')), K.let_('o', K.mul(w, K.u32(n))), ...body]);
}

/** The statement of one invocation of a row op whose result is written once per row (on GPUs, by invocation 0). */
const once = (cls: DeviceClass, s: Stmt): Stmt => (cls === 'gpu' ? K.if_(K.eq(lid, K.u32(0)), [s]) : s);

export const rowLowerings: Record<string, Lowering> = {
  softmax: (v, cls) => {
    const n = last(v);
    return perRow(v, n, cls, [...lse(v, n, cls), over(n, cls, [put(K.call('exp', K.sub(at(v, 0), f('l'))))])]);
  },
  log_softmax: (v, cls) => {
    const n = last(v);
    return perRow(v, n, cls, [...lse(v, n, cls), over(n, cls, [put(K.sub(at(v, 0), f('l')))])]);
  },
  softmax_grad: (v, cls) => {
    const n = last(v);
    return perRow(v, n, cls, [
      ...rowSum('s', n, cls, K.mul(at(v, 1), at(v, 0))),
      over(n, cls, [put(K.mul(at(v, 0), K.sub(at(v, 1), f('s'))))]),
    ]);
  },
  log_softmax_grad: (v, cls) => {
    const n = last(v);
    return perRow(v, n, cls, [
      ...rowSum('s', n, cls, at(v, 1)),
      over(n, cls, [put(K.sub(at(v, 1), K.mul(K.call('exp', at(v, 0)), f('s'))))]),
    ]);
  },
  layernorm_rstd: (v, cls) => {
    const n = last(v.inputs[0]!);
    const eps = num(v.attrs, 'eps');
    return perRow(
      v,
      n,
      cls,
      [
        ...mean(v, n, cls),
        ...rowSum('vr', n, cls, K.mul(K.sub(at(v, 0), f('mean')), K.sub(at(v, 0), f('mean')))),
        once(cls, K.store(res, w, K.div(K.f32(1), K.call('sqrt', K.add(K.div(f('vr'), K.f32(n)), K.f32(eps)))))),
      ],
      count(v),
    );
  },
  layernorm: (v, cls) => {
    const n = last(v);
    return perRow(v, n, cls, [
      ...mean(v, n, cls),
      K.let_('inv', read(v, 1, w)),
      over(n, cls, [put(K.mul(K.sub(at(v, 0), f('mean')), f('inv')))]),
    ]);
  },
  layernorm_grad: (v, cls) => {
    const n = last(v);
    return perRow(v, n, cls, [
      ...rowSum('sdy', n, cls, at(v, 2)),
      ...rowSum('sdyy', n, cls, K.mul(at(v, 2), at(v, 0))),
      K.let_('inv', read(v, 1, w)),
      over(n, cls, [
        put(
          K.mul(
            f('inv'),
            K.sub(K.sub(at(v, 2), K.div(f('sdy'), K.f32(n))), K.mul(at(v, 0), K.div(f('sdyy'), K.f32(n)))),
          ),
        ),
      ]),
    ]);
  },
  cross_entropy_grad: (v, cls) => {
    const n = last(v);
    const rows = count(v.inputs[1]!);
    const t = K.cast('u32', read(v, 1, w));
    const g = f('g');
    const p = K.mul(K.call('exp', K.sub(at(v, 0), f('l'))), g);
    // a target outside the row (a label of -1, a corrupt id) makes the row's gradient NaN, as the loss
    const grad = K.select(K.lt(t, K.u32(n)), K.select(K.eq(j, t), K.sub(p, g), p), K.f32(NaN));
    return perRow(v, n, cls, [
      K.let_('g', K.div(read(v, 2, K.u32(0)), K.f32(rows))),
      ...lse(v, n, cls),
      over(n, cls, [put(grad)]),
    ]);
  },
  cross_entropy: (v, cls) => {
    const c = shape(v.inputs[0]!).at(-1)!;
    const rows = count(v.inputs[1]!);
    const r = K.ref('r');
    const row: Stmt[] = [
      K.let_('o', K.mul(r, K.u32(c))),
      K.var_('mx', read(v, 0, o)),
      K.loop('j', K.u32(1), K.u32(c), [K.set('mx', K.max(f('mx'), at(v, 0)))]),
      K.var_('s', K.f32(0)),
      K.loop('j', K.u32(0), K.u32(c), [K.set('s', K.call('exp', K.sub(at(v, 0), f('mx'))), '+')]),
      // the target is read in bounds; one outside the row makes the loss NaN (the CPU reference reports it)
      K.let_('t', K.cast('u32', read(v, 1, r))),
      K.set(
        'acc',
        K.select(
          K.lt(K.ref('t'), K.u32(c)),
          K.sub(K.add(f('mx'), K.call('log', f('s'))), read(v, 0, K.add(o, K.min(K.ref('t'), K.u32(c - 1))))),
          K.f32(NaN),
        ),
        '+',
      ),
    ];
    // GPU: each invocation sums a strided set of rows, then a workgroup reduction; CPU: one invocation, in order
    const gpu = cls === 'gpu';
    return {
      workgroup: [gpu ? WG : 1, 1, 1],
      dispatch: [1, 1, 1],
      body: [
        K.var_('acc', K.f32(0)),
        gpu ? K.loop('r', lid, K.u32(rows), row, K.u32(WG)) : K.loop('r', K.u32(0), K.u32(rows), row),
        ...(gpu ? [K.wreduce('sum', f('acc'), 'total')] : [K.let_('total', f('acc'))]),
        once(cls, K.store(res, K.u32(0), K.div(f('total'), K.f32(rows)))),
      ],
    };
  },
};
