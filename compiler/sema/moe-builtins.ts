import type { OpName } from '../ir/op-names.ts';
import type { Attrs, Value } from '../ir/graph.ts';
import { dimMul, type Dim } from '../ir/types.ts';
import type { Args, Builtin, BuiltinContext, NumberRule } from './builtins.ts';
import { asDim, type EVal } from './values.ts';

const tensor = (a: Args, k: string) => (a[k] as EVal & { kind: 'tensor' }).v;
const number = (a: Args, k: string) => (a[k] as EVal & { kind: 'num' }).n;
/** An int argument as a size: a size name while a layer is checked on its own. */
const size = (a: Args, k: string): Dim => asDim(a[k]!) ?? NaN;
const flag = (a: Args, k: string) => (a[k] as EVal & { kind: 'bool' }).b;
const op = (cx: BuiltinContext, name: OpName, inputs: Value[], attrs?: Attrs): Value =>
  (cx.op(name, inputs, attrs) as EVal & { kind: 'tensor' }).v;

/** The [T, k] choices of a routing builtin, and x's [T, d] rows. */
function rowsOf(cx: BuiltinContext, x: Value, what: string): [Dim, Dim] {
  if (x.type.shape.length !== 2)
    cx.fail('FLX3050', `${what} takes tokens as rows [T, d], got rank ${x.type.shape.length}`, 'reshape to [-1, d]');
  return x.type.shape as [Dim, Dim];
}

/**
 * Slots per expert: Switch Transformer's C = ⌈k·T/E · capacity_factor⌉, at most T (a token chooses an expert once);
 * T when dropless. Symbolic while a model is checked without a plan.
 */
function capacityOf(tokens: Dim, k: Dim, experts: Dim, factor: number, dropless: boolean): Dim {
  if (dropless) return tokens;
  if (typeof tokens !== 'number' || typeof k !== 'number' || typeof experts !== 'number')
    return `ceil(${k}*${tokens}*${factor}/${experts})`;
  return Math.min(tokens, Math.ceil(((k * tokens) / experts) * factor));
}

/** A row of d zeros: what an empty slot dispatches, and what a dropped choice brings back. */
const zeroRow = (cx: BuiltinContext, d: Dim) =>
  op(cx, 'full', [], { value: 0, shape: [1, d] as number[], dtype: 'f32' });

const CHOICES = { name: 'choices', kind: 'tensor' } as const;
// builtins.ts's POSITIVE, not imported: that module imports this one
const POSITIVE: NumberRule = { test: (n) => n > 0, says: 'more than 0' };

/** Builtins of mixture-of-experts layers: routing, dispatch to experts with a capacity, combine, balance. */
export const MOE_BUILTINS: Record<string, Builtin> = {
  topk: {
    params: [
      { name: 'x', kind: 'tensor' },
      { name: 'k', kind: 'int', valid: POSITIVE },
    ],
    doc: 'i32 indices of the k largest values of each row of x (last axis), largest first; ties to the lower index',
    build: (cx, a) => cx.op('topk', [tensor(a, 'x')], { k: size(a, 'k') }),
  },
  take: {
    params: [
      { name: 'x', kind: 'tensor' },
      { name: 'idx', kind: 'tensor' },
    ],
    doc: 'x[..., idx[..., r]] per row (last axis): the values at the indices topk chose',
    build: (cx, a) => cx.op('take', [tensor(a, 'x'), tensor(a, 'idx')]),
  },
  moe_gates: {
    params: [
      { name: 'probs', kind: 'tensor' },
      CHOICES,
      { name: 'renormalize', kind: 'bool', default: { kind: 'bool', b: true } },
    ],
    doc: 'the router probabilities of each token’s chosen experts [T, k], renormalised to sum to 1 unless told not to',
    build: (cx, a) => {
      const picked = op(cx, 'take', [tensor(a, 'probs'), tensor(a, CHOICES.name)]);
      if (!flag(a, 'renormalize')) return { kind: 'tensor', v: picked };
      return cx.op('div', [picked, op(cx, 'sum', [picked], { axes: [1], keepdims: true })]);
    },
  },
  moe_dispatch: {
    params: [
      { name: 'x', kind: 'tensor' },
      CHOICES,
      { name: 'experts', kind: 'int', valid: POSITIVE },
      { name: 'capacity_factor', kind: 'float', default: { kind: 'num', n: 1.25 }, valid: POSITIVE },
      { name: 'dropless', kind: 'bool', default: { kind: 'bool', b: false } },
    ],
    doc:
      'the rows of x [T, d] each expert receives, [experts, C, d]: choices [T, k] in routing order (first choices ' +
      'before second, tokens in order) fill C = ⌈k·T/experts · capacity_factor⌉ slots per expert (T when dropless); ' +
      'the rest are dropped, and empty slots are zeros',
    build: (cx, a) => {
      const x = tensor(a, 'x');
      const choices = tensor(a, CHOICES.name);
      const [t, d] = rowsOf(cx, x, 'moe_dispatch');
      const k = choices.type.shape[1]!;
      const e = size(a, 'experts');
      const c = capacityOf(t, k, e, number(a, 'capacity_factor'), flag(a, 'dropless'));
      const tokens = op(cx, 'moe_tokens', [choices], { experts: e, capacity: c } as Attrs);
      const rows = op(cx, 'gather', [op(cx, 'concat', [x, zeroRow(cx, d)], { axis: 0 }), tokens]);
      return cx.op('reshape', [rows], { shape: [e, c, d] as number[] });
    },
  },
  moe_combine: {
    params: [{ name: 'y', kind: 'tensor' }, CHOICES, { name: 'gates', kind: 'tensor' }],
    doc:
      'each token’s Σ over its kept choices r of gates[t, r] · y[expert, slot] [T, d], from the experts’ rows y ' +
      '[experts, C, d] as moe_dispatch placed them (a dropped choice brings zeros)',
    build: (cx, a) => {
      const y = tensor(a, 'y');
      const choices = tensor(a, CHOICES.name);
      if (y.type.shape.length !== 3)
        cx.fail('FLX3050', `moe_combine takes the experts' rows [E, C, d], got rank ${y.type.shape.length}`);
      const [e, c, d] = y.type.shape as [number, Dim, Dim];
      const [t, k] = rowsOf(cx, choices, 'moe_combine');
      const slots = op(cx, 'moe_slots', [choices], { experts: e, capacity: c });
      const flat = op(cx, 'reshape', [y], { shape: [dimMul(e, c), d] as number[] });
      const back = op(cx, 'gather', [op(cx, 'concat', [flat, zeroRow(cx, d)], { axis: 0 }), slots]);
      const gates = op(cx, 'reshape', [tensor(a, 'gates')], { shape: [t, k, 1] as number[] });
      return cx.op('sum', [op(cx, 'mul', [back, gates])], { axes: [1], keepdims: false });
    },
  },
  moe_balance_loss: {
    params: [{ name: 'probs', kind: 'tensor' }, CHOICES],
    doc:
      'E · Σ_e f_e · P_e (Switch Transformer’s load-balancing loss): f_e the fraction of choices [T, k] that name ' +
      'expert e, P_e the mean router probability of e over the T tokens',
    build: (cx, a) => {
      const probs = tensor(a, 'probs');
      const choices = tensor(a, CHOICES.name);
      const [t, e] = rowsOf(cx, probs, 'moe_balance_loss');
      const k = choices.type.shape[1]!;
      const n = dimMul(t, k);
      const ones = op(cx, 'full', [], { value: 1, shape: [n, 1] as number[], dtype: 'f32' });
      const base = op(cx, 'full', [], { value: 0, shape: [e, 1] as number[], dtype: 'f32' });
      const counts = op(cx, 'scatter_add', [base, op(cx, 'reshape', [choices], { shape: [n] as number[] }), ones]);
      const f = op(cx, 'reshape', [counts], { shape: [e] as number[] });
      const p = op(cx, 'mean', [probs], { axes: [0], keepdims: false });
      const dot = op(cx, 'sum', [op(cx, 'mul', [f, p])], { axes: [0], keepdims: false });
      // counts over T·k choices, times E
      const scale = typeof n === 'number' && typeof e === 'number' ? e / n : NaN;
      return cx.op('mul', [dot, op(cx, 'const', [], { value: scale, dtype: 'f32' })]);
    },
  },
};
