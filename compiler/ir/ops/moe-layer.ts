import type { OpName } from '../op-names.ts';
import type { Attrs, Value } from '../graph.ts';
import type { Builder } from '../builder.ts';
import type { NDArray, OpDef, RefContext } from '../op.ts';
import { bytesOf, elems } from '../op.ts';
import { dimAdd, dimMul, ShapeError, type Dim, type DType, type TensorType } from '../types.ts';
import { bool, num, shapeOf } from './util.ts';

/**
 * A whole mixture-of-experts layer as one op, and its decomposition into the IR's ops (MLIR's partial lowering): a
 * target with a fused kernel keeps `moe` (with its workspace, `scratch` operands), every other place gets
 * `decomposeMoe`'s router, top-k, routing, gathers, batched expert products and combine. The decomposition is the
 * layer's one definition: the builtins build it, the CPU reference evaluates it, and the gradient is its gradient.
 *
 * `moe(x [..., d], router [d, E], experts…) {k, capacity, renormalize, act}` (x's rows are the tokens): experts are
 * `w1 [E, d, H], b1 [E, 1, H], w2 [E, H, d], b2 [E, 1, d]` (act `gelu`: gelu(x·w1 + b1)·w2 + b2) or
 * `w_gate, w_up [E, d, H], w_down [E, H, d]` (act `swiglu`: (silu(x·w_gate) ⊙ x·w_up)·w_down). With a fused kernel
 * two workspace operands follow: `scratch` f32 and i32 values the kernel writes (routing, hidden rows, expert
 * outputs) and counts in (its task queue).
 *
 * With `balance` (a weight > 0) the layer also computes its load-balancing loss, weighted, so that the fused kernel
 * computes it too: the result packs it at element 0 and y from BALANCE_WORDS, read as two `part`s (`moeParts`).
 */

/**
 * The registry's op lookup, which it hands over when it loads (it imports this file: importing it here would make
 * the registry read this file's ops before they exist when this file is loaded first).
 */
let getOp: (name: string) => OpDef;
export const useOps = (lookup: (name: string) => OpDef) => {
  getOp = lookup;
};

/** Builds an op: a Builder's, or the elaborator's (which reports a shape error at the source). */
export type Emit = (op: OpName, inputs: Value[], attrs?: Attrs) => Value;

export type ExpertAct = 'gelu' | 'swiglu';
export const EXPERT_WEIGHTS: Record<ExpertAct, number> = { gelu: 4, swiglu: 3 };

/** The router probabilities of each token's chosen experts [T, k], renormalised to sum to 1 when asked. */
export function moeGates(emit: Emit, probs: Value, choices: Value, renormalize: boolean): Value {
  const picked = emit('take', [probs, choices]);
  if (!renormalize) return picked;
  return emit('div', [picked, emit('sum', [picked], { axes: [1], keepdims: true })]);
}

/**
 * Switch Transformer's load-balancing loss E · Σ_e f_e · P_e: f_e the fraction of the choices [T, k] that name
 * expert e (kept or dropped), P_e the mean router probability of e over the T tokens.
 */
export function moeBalanceLoss(emit: Emit, probs: Value, choices: Value): Value {
  const [t, e] = probs.type.shape as [Dim, Dim];
  const dtype = probs.type.dtype;
  const n = dimMul(t, choices.type.shape[1]!);
  const ones = emit('full', [], { value: 1, shape: [n, 1] as number[], dtype });
  const base = emit('full', [], { value: 0, shape: [e, 1] as number[], dtype });
  const counts = emit('scatter_add', [base, emit('reshape', [choices], { shape: [n] as number[] }), ones]);
  const f = emit('reshape', [counts], { shape: [e] as number[] });
  const p = emit('mean', [probs], { axes: [0], keepdims: false });
  const dot = emit('sum', [emit('mul', [f, p])], { axes: [0], keepdims: false });
  // counts over T·k choices, times E
  const scale = typeof n === 'number' && typeof e === 'number' ? e / n : NaN;
  return emit('mul', [dot, emit('const', [], { value: scale, dtype })]);
}

/** A row of d zeros: what an empty slot dispatches, and what a dropped choice brings back. */
const zeroRow = (emit: Emit, like: Value) =>
  emit('full', [], { value: 0, shape: [1, like.type.shape[1]!] as number[], dtype: like.type.dtype });

/** The rows of x [T, d] each expert receives, [E, C, d] (empty slots are zeros). */
export function moeDispatch(emit: Emit, x: Value, choices: Value, e: Dim, c: Dim): Value {
  const d = x.type.shape[1]!;
  const tokens = emit('moe_tokens', [choices], { experts: e, capacity: c } as Attrs);
  const rows = emit('gather', [emit('concat', [x, zeroRow(emit, x)], { axis: 0 }), tokens]);
  return emit('reshape', [rows], { shape: [e, c, d] as number[] });
}

/** Each token's Σ over its kept choices of gate · the expert's row [T, d], from the experts' rows y [E, C, d]. */
export function moeCombine(emit: Emit, y: Value, choices: Value, gates: Value): Value {
  const [e, c, d] = y.type.shape as [Dim, Dim, Dim];
  const [t, k] = choices.type.shape as [Dim, Dim];
  const slots = emit('moe_slots', [choices], { experts: e, capacity: c } as Attrs);
  const flat = emit('reshape', [y], { shape: [dimMul(e, c), d] as number[] });
  const back = emit('gather', [emit('concat', [flat, zeroRow(emit, flat)], { axis: 0 }), slots]);
  const g = emit('reshape', [gates], { shape: [t, k, 1] as number[] });
  return emit('sum', [emit('mul', [back, g])], { axes: [1], keepdims: false });
}

/** The experts on their rows [E, C, d] → [E, C, d]. */
export function moeExperts(emit: Emit, rows: Value, weights: Value[], act: ExpertAct): Value {
  const mm = (a: Value, w: Value) => emit('matmul', [a, w]);
  if (act === 'gelu') {
    const [w1, b1, w2, b2] = weights as [Value, Value, Value, Value];
    return emit('add', [mm(emit('gelu', [emit('add', [mm(rows, w1), b1])]), w2), b2]);
  }
  const [wg, wu, wd] = weights as [Value, Value, Value];
  const g = mm(rows, wg);
  return mm(emit('mul', [emit('mul', [g, emit('sigmoid', [g])]), mm(rows, wu)]), wd);
}

export interface MoeLayer {
  k: Dim;
  capacity: Dim;
  renormalize: boolean;
  act: ExpertAct;
  /** The balance loss's weight: 0 for none. */
  balance: number;
  /**
   * The ranks of expert parallelism its experts are split over (1: every rank holds all): the layer's weights are the
   * rank's E/ranks experts, its tokens sent to them and back by all-to-all.
   */
  ranks: number;
}

/** The layer's attributes, as the op carries them. */
export const moeAttrs = (l: MoeLayer): Attrs => ({
  k: l.k as number,
  capacity: l.capacity as number,
  renormalize: l.renormalize,
  act: l.act,
  ...(l.balance > 0 ? { balance: l.balance } : {}),
  ...(l.ranks > 1 ? { expert_ranks: l.ranks } : {}),
});

export const balanceOf = (at: Attrs): number => num(at, 'balance', 0);

export const moeLayerOf = (v: Value): MoeLayer => ({
  k: num(v.attrs, 'k'),
  capacity: num(v.attrs, 'capacity'),
  renormalize: bool(v.attrs, 'renormalize'),
  act: v.attrs['act'] as ExpertAct,
  balance: balanceOf(v.attrs),
  ranks: num(v.attrs, 'expert_ranks', 1),
});

/** Where a packed layer's y starts (its weighted balance loss is element 0). */
export const BALANCE_WORDS = 64;

/** A packed layer's parts: y [..., d] and the weighted balance loss []. */
export function moeParts(emit: Emit, packed: Value, x: Value): { y: Value; aux: Value } {
  return {
    y: emit('part', [packed], { offset: BALANCE_WORDS, shape: x.type.shape as number[] }),
    aux: emit('part', [packed], { offset: 0, shape: [] }),
  };
}

/**
 * The layer on tokens x [T, d] with its router and experts' weights, in the IR's ops: [y], or [y, balance · its
 * balance loss] when it has one.
 */
export function decomposeMoe(emit: Emit, x: Value, router: Value, weights: Value[], l: MoeLayer): Value[] {
  const rank = x.type.shape.length;
  const tokens = rank === 2 ? x : emit('reshape', [x], { shape: [-1, x.type.shape.at(-1)!] as number[] });
  const probs = emit('softmax', [emit('matmul', [tokens, router])]);
  const choices = emit('topk', [probs], { k: l.k as number });
  const e = router.type.shape[1]!;
  const rows = moeDispatch(emit, tokens, choices, e, l.capacity);
  const gates = moeGates(emit, probs, choices, l.renormalize);
  // expert parallelism: each expert's rows to the rank holding it, its results back
  const exchange = (y: Value, split: number, join: number) =>
    emit('ep_all_to_all', [y], { group: 'expert', ranks: l.ranks, split, join });
  const out =
    l.ranks > 1
      ? exchange(moeExperts(emit, exchange(rows, 0, 1), weights, l.act), 1, 0)
      : moeExperts(emit, rows, weights, l.act);
  const flat = moeCombine(emit, out, choices, gates);
  const y = rank === 2 ? flat : emit('reshape', [flat], { shape: x.type.shape as number[] });
  if (!(l.balance > 0)) return [y];
  const loss = moeBalanceLoss(emit, probs, choices);
  const weight = emit('const', [], { value: l.balance, dtype: loss.type.dtype });
  return [y, l.balance === 1 ? loss : emit('mul', [loss, weight])];
}

/** Sizes of a `moe` value: tokens (x's rows), model width, experts, hidden width, choices and slots per expert. */
export function moeSizes(v: Value): { t: number; d: number; e: number; h: number; k: number; c: number } {
  const shape = shapeOf(v.inputs[0]!);
  const d = shape.at(-1)!;
  const t = shape.slice(0, -1).reduce((a, n) => a * n, 1);
  const e = shapeOf(v.inputs[1]!)[1]!;
  const h = shapeOf(v.inputs[2]!)[2]!;
  return { t, d, e, h, k: num(v.attrs, 'k'), c: num(v.attrs, 'capacity') };
}

const sizeOf = (at: Attrs, k: string): Dim => (typeof at[k] === 'string' ? (at[k] as string) : num(at, k));

function checkLayer(ins: TensorType[], at: Attrs): { weights: number } {
  const w = at['balance'];
  if (w !== undefined && !(typeof w === 'number' && w > 0))
    throw new ShapeError(`moe: a balance loss's weight is more than 0, not ${String(w)}`);
  const act = at['act'];
  if (act !== 'gelu' && act !== 'swiglu') throw new ShapeError(`moe: experts are gelu or swiglu, not ${String(act)}`);
  const n = EXPERT_WEIGHTS[act];
  if (ins.length !== 2 + n && ins.length !== 4 + n)
    throw new ShapeError(`moe with ${act} experts takes x, the router, ${n} weights and optionally its workspace`);
  const [x, router] = ins as [TensorType, TensorType];
  if (x.shape.length < 2 || router.shape.length !== 2) throw new ShapeError('moe takes x [..., d] and router [d, E]');
  const k = sizeOf(at, 'k');
  const e = router.shape[1]!;
  const ranks = num(at, 'expert_ranks', 1);
  const local = typeof e === 'number' ? e / ranks : e;
  for (const w of ins.slice(2, 2 + n))
    if (w.shape.length !== 3 || (ranks > 1 && w.shape[0] !== local))
      throw new ShapeError(
        `moe: expert weights are [${ranks > 1 ? `${local} (E/${ranks})` : 'E'}, ·, ·], got [${w.shape}]`,
      );
  if (typeof k === 'number' && typeof e === 'number' && (k < 1 || k > e))
    throw new ShapeError(`moe: k must be from 1 to the ${e} experts, got ${k}`);
  return { weights: n };
}

/** The decomposition of `v` run on the ops' CPU references: what `moe` computes, by definition (packed with a loss). */
function evaluate(v: Value, given: NDArray[], ctx: RefContext): NDArray {
  const ev = evaluator(ctx);
  const stand = layerOperands(v).map((x, i) => ev.stand(x, given[i]!));
  const [y, aux] = decomposeMoe(ev.op, stand[0]!, stand[1]!, stand.slice(2), moeLayerOf(v)).map(ev.value);
  if (!aux) return y!;
  const out = ctx.floats(elems(v.type));
  out[0] = aux.data[0]!;
  out.set(y!.data as ArrayLike<number>, BALANCE_WORDS);
  return { data: out, shape: shapeOf(v) };
}

/**
 * The cotangents of the layer's operands from those of its results ([dy], or [dy, d balance loss]): one fused
 * `moe_grad` and its parts when the layer is fused (it has a backward workspace), else the decomposition's gradient.
 */
function layerGrad(b: Builder, v: Value, seeds: Value[]): (Value | undefined)[] {
  const ops = layerOperands(v);
  const ws = v.attrs['grad_workspace'] as number[] | undefined;
  if (ws) {
    const { grad_workspace: _ws, ...attrs } = v.attrs;
    const scratch = b.op('scratch', [], { dtype: 'f32', size: ws[0]!, zero: false });
    const counters = b.op('scratch', [], { dtype: 'i32', size: ws[1]!, zero: true });
    const g = b.op('moe_grad', [...ops, ...seeds, scratch, counters], attrs);
    const { offsets } = gradLayout(v);
    return v.inputs.map((x, i) =>
      i < ops.length ? b.op('part', [g], { offset: offsets[i]!, shape: shapeOf(x) }) : undefined,
    );
  }
  const grads = gradThrough(b, ops, seeds, (emit) => decomposeMoe(emit, ops[0]!, ops[1]!, ops.slice(2), moeLayerOf(v)));
  return v.inputs.map((_, i) => grads[i]);
}

/** The layer's operands: x, router and the experts' weights (the workspace, when fused, follows). */
export const layerOperands = (v: Value): Value[] => v.inputs.slice(0, 2 + EXPERT_WEIGHTS[v.attrs['act'] as ExpertAct]);

const moe: OpDef = {
  name: 'moe',
  class: 'matmul',
  arity: 'variadic',
  attrs: {
    k: { kind: 'int' },
    capacity: { kind: 'int' },
    renormalize: { kind: 'bool' },
    act: { kind: 'string' },
    /** The balance loss's weight, when the layer computes it (its result is then packed). */
    balance: { kind: 'number', optional: true },
    /** Expert parallelism's ranks: the weights hold this rank's share of the experts (`MoeLayer.ranks`). */
    expert_ranks: { kind: 'int', optional: true },
    /** The fused backward kernel's workspace (f32 words, counters), set by the pass that fuses the layer. */
    grad_workspace: { kind: 'ints', optional: true },
  },
  infer: (ins, at) => {
    checkLayer(ins, at);
    const [x] = ins as [TensorType];
    if (!(balanceOf(at) > 0)) return { dtype: x.dtype, shape: [...x.shape] };
    return {
      dtype: x.dtype,
      shape: [
        dimAdd(
          BALANCE_WORDS,
          x.shape.reduce<Dim>((a, n) => dimMul(a, n), 1),
        ),
      ],
    };
  },
  grad: (b, v, dy) => layerGrad(b, v, [dy]),
  // a packed layer: y's cotangent (zeros when no loss reads y) and the balance loss's (0 when none reads it)
  gradParts: (b, v, parts) => {
    const x = v.inputs[0]!;
    const dy =
      parts.get(BALANCE_WORDS) ?? b.op('full', [], { value: 0, shape: x.type.shape as number[], dtype: 'f32' });
    return layerGrad(b, v, [dy, parts.get(0) ?? b.scalar(0)]);
  },

  cost: (v) => {
    const { t, d, e, h, k, c } = moeSizes(v);
    const rows = Math.min(k * t, e * c);
    const mats = v.attrs['act'] === 'gelu' ? 2 : 3;
    const weights = layerOperands(v)
      .slice(2)
      .reduce((a, w) => a + bytesOf(w.type), 0);
    return {
      flops: 2 * t * d * e + 2 * rows * d * h * mats + 2 * t * k * d + (balanceOf(v.attrs) > 0 ? 2 * t * e : 0),
      bytes: 2 * bytesOf(v.type) + bytesOf(v.inputs[1]!.type) + weights + 4 * rows * (h + d) * 2,
    };
  },
  ref: (inputs, v, ctx) => evaluate(v, inputs, ctx),
};

/** What gradient rules build with: a Builder, or an evaluator that runs each op as it is built. */
type Emitter = Pick<Builder, 'op' | 'scalar'>;

/**
 * Reverse mode over what `build` emits on `b` from `inputs`, seeded with `seeds` at its results: the cotangent of each
 * input (undefined where none reaches it). What autodiff does for a module, for one composite op's decomposition.
 */
export function gradThrough(
  b: Emitter,
  inputs: Value[],
  seeds: Value[],
  build: (emit: Emit) => Value[],
): (Value | undefined)[] {
  const built: Value[] = [];
  const outs = build((n, ins, at) => {
    const v = b.op(n, ins, at);
    built.push(v);
    return v;
  });
  const mine = new Set<Value>([...built, ...inputs]);
  const grads = new Map<Value, Value>(outs.map((o, i) => [o, seeds[i]!]));
  for (const v of built.reverse()) {
    const g = grads.get(v);
    const def = getOp(v.op);
    if (!g || !def.grad) continue;
    def.grad(b as Builder, v, g).forEach((gx, i) => {
      const x = v.inputs[i]!;
      if (!gx || !mine.has(x) || x.type.dtype === 'i32') return;
      const have = grads.get(x);
      grads.set(x, have ? b.op('add', [have, gx]) : gx);
    });
  }
  return inputs.map((x) => grads.get(x));
}

/**
 * Builds on stand-ins and runs each op on its CPU reference as it is built (no Builder: it imports the registry,
 * which imports this file).
 */
function evaluator(ctx: RefContext) {
  const known = new Map<Value, NDArray>();
  let id = 0;
  const op = (name: OpName, inputs: Value[], attrs: Attrs = {}): Value => {
    const def = getOp(name);
    const type = def.infer(
      inputs.map((x) => x.type),
      attrs,
    );
    const w: Value = { id: id++, op: name, inputs, attrs, type };
    known.set(
      w,
      def.ref(
        inputs.map((x) => known.get(x)!),
        w,
        ctx,
      ),
    );
    return w;
  };
  return {
    op,
    scalar: (value: number, dtype: DType = 'f32') => op('const', [], { value, dtype }),
    stand: (x: Value, data: NDArray): Value => {
      const w: Value = { id: id++, op: 'input', inputs: [], attrs: {}, type: x.type };
      known.set(w, data);
      return w;
    },
    value: (v: Value) => known.get(v)!,
  };
}

/** Where each operand's cotangent lies in `moe_grad`'s packed result (each starts at a multiple of 64 words). */
export function gradLayout(v: Value): { offsets: number[]; size: number } {
  let at = 0;
  const offsets = layerOperands(v).map((x) => {
    const o = at;
    at += Math.ceil(elems(x.type) / 64) * 64;
    return o;
  });
  return { offsets, size: at };
}

/** The seeds of `moe_grad`: dy, and the balance loss's cotangent when the layer has one. */
const seedsOf = (at: Attrs) => (balanceOf(at) > 0 ? 2 : 1);

/**
 * `moe_grad(x, router, experts…, dy, [d balance loss,] scratch, counters)`: the cotangents of x, the router and
 * every expert weight, packed (`gradLayout`), for the fused backward kernel; its parts (`part`) are the gradients.
 */
const moeGrad: OpDef = {
  name: 'moe_grad',
  class: 'matmul',
  arity: 'variadic',
  attrs: {
    k: { kind: 'int' },
    capacity: { kind: 'int' },
    renormalize: { kind: 'bool' },
    act: { kind: 'string' },
    balance: { kind: 'number', optional: true },
  },
  infer: (ins, at) => {
    const seeds = seedsOf(at);
    const { weights } = checkLayer([...ins.slice(0, -2 - seeds), ...ins.slice(-2)], at);
    const [dy, daux] = ins.slice(2 + weights, 2 + weights + seeds);
    if (ins.length !== 4 + weights + seeds || dy!.shape.length !== ins[0]!.shape.length || daux?.shape.length)
      throw new ShapeError('moe_grad takes the layer operands, dy like x, [a scalar,] and its workspace');
    const size = ins.slice(0, 2 + weights).reduce((a, x) => a + Math.ceil(elems(x) / 64) * 64, 0);
    return { dtype: ins[0]!.dtype, shape: [size] };
  },
  noGrad: 'a backward op',
  cost: (v) => {
    const fwd = moe.cost(v);
    return { flops: 3 * fwd.flops, bytes: 3 * fwd.bytes };
  },
  ref: (inputs, v, ctx) => {
    const ops = layerOperands(v);
    const ev = evaluator(ctx);
    const stand = ops.map((x, i) => ev.stand(x, inputs[i]!));
    const seeds = Array.from({ length: seedsOf(v.attrs) }, (_, i) =>
      ev.stand(v.inputs[ops.length + i]!, inputs[ops.length + i]!),
    );
    const grads = gradThrough(ev, stand, seeds, (emit) =>
      decomposeMoe(emit, stand[0]!, stand[1]!, stand.slice(2), moeLayerOf(v)),
    );
    const { offsets, size } = gradLayout(v);
    const out = ctx.floats(size);
    grads.forEach((g, i) => {
      if (g) out.set(ev.value(g).data as ArrayLike<number>, offsets[i]!);
    });
    return { data: out, shape: [size] };
  },
};

/** Memory an op's kernel works in: `scratch {dtype, size}`, written by its one reader (no kernel; zeroed with zero). */
const scratch: OpDef = {
  name: 'scratch',
  class: 'elementwise',
  arity: 0,
  attrs: { dtype: { kind: 'string' }, size: { kind: 'int' }, zero: { kind: 'bool' } },
  infer: (_, at) => {
    const dtype = at['dtype'];
    if (dtype !== 'f32' && dtype !== 'i32') throw new ShapeError(`scratch is f32 or i32, not ${String(dtype)}`);
    return { dtype, shape: [num(at, 'size')] };
  },
  noGrad: 'workspace: its reader writes it',
  cost: () => ({ flops: 0, bytes: 0 }),
  ref: (_, v, ctx) => {
    const n = num(v.attrs, 'size');
    return { data: v.attrs['dtype'] === 'i32' ? new Int32Array(n) : ctx.floats(n), shape: [n] };
  },
};

export const moeLayerOps: OpDef[] = [moe, moeGrad, scratch];
