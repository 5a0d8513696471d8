import type { OpName } from '../ir/op-names.ts';
import type { Attrs, Value } from '../ir/graph.ts';
import { dimMul, type Dim } from '../ir/types.ts';
import type { ArgSpec, Args, Builtin, BuiltinContext, NumberRule } from './builtins.ts';
import { asDim, type EVal } from './values.ts';
import {
  type Emit,
  type ExpertAct,
  moeAttrs,
  moeBalanceLoss,
  moeCombine,
  moeDispatch,
  moeGates,
  moeParts,
} from '../ir/ops/moe-layer.ts';

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

/** The elaborator's ops as the decomposition's `emit`. */
const emitOf =
  (cx: BuiltinContext): Emit =>
  (n, ins, at) =>
    op(cx, n, ins, at);

const ROUTING: ArgSpec[] = [
  { name: 'k', kind: 'int', valid: { test: (n) => n > 0, says: 'more than 0' } },
  {
    name: 'capacity_factor',
    kind: 'float',
    default: { kind: 'num', n: 1.25 },
    valid: { test: (n) => n > 0, says: 'more than 0' },
  },
  { name: 'dropless', kind: 'bool', default: { kind: 'bool', b: false } },
  { name: 'renormalize', kind: 'bool', default: { kind: 'bool', b: true } },
];

/**
 * A whole MoE layer on tokens [T, d] as one `moe` op: router, top-k, routing with a capacity, the experts (GeLU MLPs
 * w1, b1, w2, b2, or SwiGLU w_gate, w_up, w_down) and combine. The pipeline keeps it for a fused kernel
 * (`fuse: [moe]`) or decomposes it into the ops of moe_dispatch and moe_combine.
 */
function moeLayerBuiltin(act: ExpertAct): Builtin {
  const names = act === 'gelu' ? ['w1', 'b1', 'w2', 'b2'] : ['w_gate', 'w_up', 'w_down'];
  return {
    params: [
      { name: 'x', kind: 'tensor' },
      { name: 'router', kind: 'tensor' },
      ...names.map((name) => ({ name, kind: 'tensor' }) as const),
      ...ROUTING,
      { name: 'balance', kind: 'float', default: { kind: 'num', n: 0 }, valid: NON_NEGATIVE },
    ],
    doc:
      `a mixture-of-experts layer on tokens x [..., d] (its rows; router [d, E]; ` +
      `${act === 'gelu' ? 'GeLU' : 'SwiGLU'} experts ` +
      `${names.join(', ')}): each token's k experts by router probability, C = ⌈k·T/E · capacity_factor⌉ slots ` +
      'per expert (T when dropless) filled in routing order, outputs combined by the (renormalised) gates; one op, ' +
      'a fused kernel with `fuse: [moe]`; with `balance` > 0 adds balance · its load-balancing loss ' +
      '(moe_balance_loss) to the model’s `aux_loss` when training, computed in the same op',
    build: (cx, a) => {
      const x = tensor(a, 'x');
      const router = tensor(a, 'router');
      if (x.type.shape.length < 2)
        cx.fail('FLX3050', `moe takes tokens as rows [..., d], got rank ${x.type.shape.length}`);
      const t = x.type.shape.slice(0, -1).reduce<Dim>((a, n) => dimMul(a, n), 1);
      if (router.type.shape.length !== 2)
        cx.fail('FLX3050', `moe's router is [d, experts], got rank ${router.type.shape.length}`);
      const k = size(a, 'k');
      const c = capacityOf(t, k, router.type.shape[1]!, number(a, 'capacity_factor'), flag(a, 'dropless'));
      // a term weighed 0 trains nothing, and inference trains nothing: no loss then
      const balance = cx.training ? number(a, 'balance') : 0;
      const layer = { k, capacity: c, renormalize: flag(a, 'renormalize'), act, balance, ranks: 1 };
      const out = cx.op('moe', [x, router, ...names.map((n) => tensor(a, n))], moeAttrs(layer));
      if (!(balance > 0)) return out;
      const { y, aux } = moeParts(emitOf(cx), (out as EVal & { kind: 'tensor' }).v, x);
      cx.auxLoss(aux);
      return { kind: 'tensor', v: y };
    },
  };
}

const CHOICES = { name: 'choices', kind: 'tensor' } as const;
// builtins.ts's POSITIVE and NON_NEGATIVE, not imported: that module imports this one
const POSITIVE: NumberRule = { test: (n) => n > 0, says: 'more than 0' };
const NON_NEGATIVE: NumberRule = { test: (n) => n >= 0, says: 'at least 0' };

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
    build: (cx, a) => ({
      kind: 'tensor',
      v: moeGates(emitOf(cx), tensor(a, 'probs'), tensor(a, CHOICES.name), flag(a, 'renormalize')),
    }),
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
      const [t] = rowsOf(cx, x, 'moe_dispatch');
      const k = choices.type.shape[1]!;
      const e = size(a, 'experts');
      const c = capacityOf(t, k, e, number(a, 'capacity_factor'), flag(a, 'dropless'));
      return { kind: 'tensor', v: moeDispatch(emitOf(cx), x, choices, e, c) };
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
      rowsOf(cx, choices, 'moe_combine');
      return { kind: 'tensor', v: moeCombine(emitOf(cx), y, choices, tensor(a, 'gates')) };
    },
  },
  moe: moeLayerBuiltin('gelu'),
  moe_swiglu: moeLayerBuiltin('swiglu'),
  moe_balance_loss: {
    params: [{ name: 'probs', kind: 'tensor' }, CHOICES],
    doc:
      'E · Σ_e f_e · P_e (Switch Transformer’s load-balancing loss): f_e the fraction of choices [T, k] that name ' +
      'expert e, P_e the mean router probability of e over the T tokens',
    build: (cx, a) => {
      const probs = tensor(a, 'probs');
      rowsOf(cx, probs, 'moe_balance_loss');
      return { kind: 'tensor', v: moeBalanceLoss(emitOf(cx), probs, tensor(a, CHOICES.name)) };
    },
  },
};
