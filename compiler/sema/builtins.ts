import type { Code } from '../../grammar/codes.ts';
import type { OpName } from '../ir/op-names.ts';
import type { Span } from '../../grammar/diagnostics.ts';
import type { Attrs, Value } from '../ir/graph.ts';
import type { Dim } from '../ir/types.ts';
import { describe, type EVal } from './values.ts';
import { MOE_BUILTINS } from './moe-builtins.ts';
import { attentionAttrs } from '../ir/ops/attention.ts';

export type ArgKind = 'tensor' | 'int' | 'float' | 'bool' | 'ints' | 'tensors' | 'graph' | 'any';

export interface ArgSpec {
  name: string;
  kind: ArgKind;
  default?: EVal;
  /** For a number: what it must be, when not every finite number makes sense (`eps` more than 0). */
  valid?: NumberRule;
}

/** A rule on a numeric argument: its test, and the phrase an error completes (“`eps` must be …”). */
export interface NumberRule {
  test: (n: number) => boolean;
  says: string;
}

export const POSITIVE: NumberRule = { test: (n) => n > 0, says: 'more than 0' };
export const NON_NEGATIVE: NumberRule = { test: (n) => n >= 0, says: 'at least 0' };

/** What a builtin may ask of the elaborator. */
export interface BuiltinContext {
  span: Span;
  training: boolean;
  op(name: OpName, inputs: Value[], attrs?: Attrs): EVal;
  fail(code: Code, message: string, hint?: string): never;
  /** The i32 step counter input (dropout masks depend on it). */
  step(): Value;
  /** A seed unique to this call site within the model. */
  seed(): number;
  /** The tensors of a graph: features, labels, split.*, adj.*, mean.* */
  graphTensor(g: EVal & { kind: 'graph' }, feed: string): Value;
  /** Tokens already in the KV cache (0 except in a decode step): where positions start. */
  past: number;
  /** `x` as attention's keys or values: through the KV cache when serving with one. */
  cache(x: Value, axis: number): Value;
  /** Adds a float scalar to the model's `aux_loss` output, which training minimises with the loss. */
  auxLoss(x: Value): void;
}

export type Args = Record<string, EVal>;

/** The output that sums a model's auxiliary losses; training minimises the loss plus it. */
export const AUX_LOSS = 'aux_loss';

export interface Builtin {
  params: ArgSpec[];
  doc: string;
  build(cx: BuiltinContext, a: Args): EVal;
}

const tensor = (a: Args, k: string) => (a[k] as EVal & { kind: 'tensor' }).v;
const int = (a: Args, k: string) => (a[k] as EVal & { kind: 'num' }).n;
const X: ArgSpec = { name: 'x', kind: 'tensor' };
const num = (n: number): EVal => ({ kind: 'num', n });
const flag = (b: boolean): EVal => ({ kind: 'bool', b });

function unary(op: OpName, doc: string, fold: (x: number) => number): Builtin {
  return {
    params: [{ name: 'x', kind: 'any' }],
    doc,
    build: (cx, a) => {
      const x = a['x']!;
      if (x.kind === 'num') return num(fold(x.n));
      if (x.kind === 'sym') return num(NaN); // a size not yet bound: only shapes matter while checking
      return cx.op(op, [tensorArg(cx, x)]);
    },
  };
}

function tensorArg(cx: BuiltinContext, v: EVal): Value {
  if (v.kind !== 'tensor') cx.fail('FLX3004', `expected a tensor, got ${describe(v)}`);
  return v.v;
}

/** A reduction's axes: `all` (the default), one axis or a list of distinct axes, each in [-rank, rank). */
function axesOf(cx: BuiltinContext, a: Args, rank: number): number[] {
  const ax = a['axis']!;
  if (ax.kind === 'str' && ax.s === 'all') return Array.from({ length: rank }, (_, i) => i);
  const items = ax.kind === 'list' ? ax.items : [ax];
  const axes = items.map((i) => {
    if (i.kind !== 'num' || !Number.isInteger(i.n) || i.n < -rank || i.n >= rank)
      cx.fail(
        'FLX3004',
        `\`axis\` must be a whole number from ${-rank} to ${rank - 1} for a rank-${rank} tensor, got ` +
          (i.kind === 'num' ? String(i.n) : i.kind === 'str' ? 'a string' : `a ${i.kind}`),
      );
    return i.n;
  });
  if (new Set(axes.map((x) => (x < 0 ? x + rank : x))).size < axes.length)
    cx.fail('FLX3004', `\`axis\` names an axis twice: [${axes.join(', ')}]`);
  return axes;
}

function reduction(op: OpName, doc: string): Builtin {
  return {
    params: [
      X,
      { name: 'axis', kind: 'any', default: { kind: 'str', s: 'all' } },
      { name: 'keepdims', kind: 'bool', default: flag(false) },
    ],
    doc,
    build: (cx, a) => {
      const x = tensor(a, 'x');
      return cx.op(op, [x], {
        axes: axesOf(cx, a, x.type.shape.length),
        keepdims: (a['keepdims'] as EVal & { kind: 'bool' }).b,
      });
    },
  };
}

function lastAxisOnly(cx: BuiltinContext, a: Args, x: Value, what: string): void {
  const ax = int(a, 'axis');
  if (ax !== -1 && ax !== x.type.shape.length - 1)
    cx.fail(
      'FLX3050',
      `${what} is computed over the last axis only, got axis ${ax}`,
      'transpose the axis to the end first',
    );
}

/** Ops callable from `.flex` code, by surface name. */
export const BUILTINS: Record<string, Builtin> = {
  relu: unary('relu', 'max(x, 0)', (x) => Math.max(x, 0)),
  elu: unary('elu', 'x for x > 0, exp(x) − 1 otherwise (ELU, α = 1)', (x) => (x > 0 ? x : Math.exp(x) - 1)),
  gelu: unary(
    'gelu',
    'GELU, tanh approximation (as GPT-2)',
    (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
  ),
  tanh: unary('tanh', 'hyperbolic tangent', Math.tanh),
  exp: unary('exp', 'e^x', Math.exp),
  log: unary('log', 'natural logarithm', Math.log),
  sigmoid: unary('sigmoid', '1 / (1 + e^-x)', (x) => 1 / (1 + Math.exp(-x))),
  sqrt: unary('sqrt', 'square root', Math.sqrt),
  silu: {
    params: [X],
    doc: 'x · sigmoid(x) (SiLU, the gate of SwiGLU)',
    build: (cx, a) => {
      const x = tensor(a, 'x');
      return cx.op('mul', [x, (cx.op('sigmoid', [x]) as EVal & { kind: 'tensor' }).v]);
    },
  },
  rope: {
    params: [X, { name: 'base', kind: 'float', default: num(10000), valid: POSITIVE }],
    doc: 'rotary position embedding over x[..., T, h] (pairs i and i + h/2 rotated by t·base^(−2i/h))',
    build: (cx, a) =>
      cx.op('rope', [tensor(a, 'x')], { base: int(a, 'base'), sign: 1, ...(cx.past ? { offset: cx.past } : {}) }),
  },
  positions: {
    params: [X],
    doc: "i32 position ids of the tokens along x's last axis: 0, 1, … (after the cached tokens when decoding)",
    build: (cx, a) => cx.op('positions', [tensor(a, 'x')], { offset: cx.past }),
  },
  cache: {
    params: [X, { name: 'axis', kind: 'int' }],
    doc:
      "x as attention's keys or values, with tokens along `axis`: when " +
      'serving with a KV cache, every token so far (the cache); x otherwise',
    build: (cx, a) => ({ kind: 'tensor', v: cx.cache(tensor(a, 'x'), int(a, 'axis')) }),
  },
  softmax: {
    params: [X, { name: 'axis', kind: 'int', default: num(-1) }],
    doc: 'softmax over the last axis',
    build: (cx, a) => (lastAxisOnly(cx, a, tensor(a, 'x'), 'softmax'), cx.op('softmax', [tensor(a, 'x')])),
  },
  log_softmax: {
    params: [X, { name: 'axis', kind: 'int', default: num(-1) }],
    doc: 'log-softmax over the last axis',
    build: (cx, a) => (lastAxisOnly(cx, a, tensor(a, 'x'), 'log_softmax'), cx.op('log_softmax', [tensor(a, 'x')])),
  },
  layernorm: {
    params: [X, { name: 'eps', kind: 'float', default: num(1e-5), valid: POSITIVE }],
    doc: 'normalise the last axis to zero mean and unit variance (no affine part)',
    build: (cx, a) => {
      const x = tensor(a, 'x');
      const rstd = cx.op('layernorm_rstd', [x], { eps: int(a, 'eps') }) as EVal & { kind: 'tensor' };
      return cx.op('layernorm', [x, rstd.v]);
    },
  },
  sum: reduction('sum', 'sum over `axis` (an int or a list; all axes by default)'),
  mean: reduction('mean', 'mean over `axis`'),
  max: reduction('max', 'maximum over `axis`'),
  matmul: {
    params: [
      { name: 'a', kind: 'tensor' },
      { name: 'b', kind: 'tensor' },
    ],
    doc: 'a @ b over the last two axes, batch axes broadcast',
    build: (cx, a) => cx.op('matmul', [tensor(a, 'a'), tensor(a, 'b')]),
  },
  transpose: {
    params: [X, { name: 'perm', kind: 'ints', default: { kind: 'str', s: 'last2' } }],
    doc: 'permute axes; by default swap the last two',
    build: (cx, a) => {
      const x = tensor(a, 'x');
      const r = x.type.shape.length;
      const p = a['perm']!;
      if (p.kind === 'list')
        return cx.op('transpose', [x], { perm: p.items.map((i) => (i as EVal & { kind: 'num' }).n) });
      if (r < 2) cx.fail('FLX3050', `transpose needs rank ≥ 2, got rank ${r}`);
      return cx.op('transpose', [x], { perm: [...Array.from({ length: r - 2 }, (_, i) => i), r - 1, r - 2] });
    },
  },
  reshape: {
    params: [X, { name: 'shape', kind: 'ints' }],
    doc: 'view with a new shape; one entry may be -1',
    build: (cx, a) => cx.op('reshape', [tensor(a, 'x')], { shape: dims(a['shape']!) as number[] }),
  },
  concat: {
    params: [
      { name: 'xs', kind: 'tensors' },
      { name: 'axis', kind: 'int', default: num(0) },
    ],
    doc: 'join tensors along `axis`',
    build: (cx, a) =>
      cx.op(
        'concat',
        (a['xs'] as EVal & { kind: 'list' }).items.map((i) => (i as EVal & { kind: 'tensor' }).v),
        { axis: int(a, 'axis') },
      ),
  },
  gather: {
    params: [
      { name: 'table', kind: 'tensor' },
      { name: 'idx', kind: 'tensor' },
    ],
    doc: 'rows of `table` at integer indices `idx` (embedding lookup)',
    build: (cx, a) => cx.op('gather', [tensor(a, 'table'), tensor(a, 'idx')]),
  },
  scatter_add: {
    params: [
      { name: 'base', kind: 'tensor' },
      { name: 'idx', kind: 'tensor' },
      { name: 'updates', kind: 'tensor' },
    ],
    doc: 'base with rows of `updates` added at `idx`',
    build: (cx, a) => cx.op('scatter_add', [tensor(a, 'base'), tensor(a, 'idx'), tensor(a, 'updates')]),
  },
  cross_entropy: {
    params: [
      { name: 'logits', kind: 'tensor' },
      { name: 'targets', kind: 'tensor' },
    ],
    doc: 'mean cross-entropy of logits [..., C] against i32 class ids [...]',
    build: (cx, a) => cx.op('cross_entropy', [tensor(a, 'logits'), tensor(a, 'targets')]),
  },
  dropout: {
    params: [X, { name: 'p', kind: 'float' }],
    doc: 'inverted dropout with probability p while training; identity otherwise',
    build: (cx, a) => {
      const p = int(a, 'p');
      if (!(p >= 0 && p < 1)) cx.fail('FLX3050', `dropout probability must be in [0, 1), got ${p}`);
      if (!cx.training || p === 0) return a['x']!;
      return cx.op('dropout', [tensor(a, 'x'), cx.step()], { p, seed: cx.seed() });
    },
  },
  attention: {
    params: [
      { name: 'q', kind: 'tensor' },
      { name: 'k', kind: 'tensor' },
      { name: 'v', kind: 'tensor' },
      { name: 'causal', kind: 'bool', default: flag(true) },
      { name: 'scale', kind: 'float', default: num(0), valid: NON_NEGATIVE },
      { name: 'alibi', kind: 'float', default: num(0), valid: NON_NEGATIVE },
      { name: 'dropout', kind: 'float', default: num(0) },
    ],
    doc:
      'softmax(q·kᵀ · scale) · v over q [..., H, T, dh], k [..., Hkv, S, dh], v [..., Hkv, S, dv] (query head h ' +
      'reads key/value head h / (H / Hkv): grouped-query attention); `causal`: query i, the last T of S positions, ' +
      'sees keys j ≤ S − T + i; `scale` 0 means 1/√dh; `alibi` m > 0 adds ALiBi’s biases ' +
      '−2^(−m·(h+1)/H)·|S − T + i − j| (Press et al.; MPT uses 8); `dropout` p drops the probabilities in ' +
      'training. One fused kernel each way (FlashAttention: ' +
      'no T×S scores), or the composite with `attention: composite` in the plan',
    build: (cx, a) => {
      const q = tensor(a, 'q');
      const scale = int(a, 'scale');
      const causal = (a['causal'] as EVal & { kind: 'bool' }).b;
      const p = int(a, 'dropout');
      if (!(p >= 0 && p < 1)) cx.fail('FLX3050', `dropout probability must be in [0, 1), got ${p}`);
      const dropout = cx.training && p > 0 ? { p, seed: cx.seed() } : undefined;
      const attrs = attentionAttrs(q.type, causal, scale || undefined, int(a, 'alibi'), dropout);
      return cx.op('attention', [q, tensor(a, 'k'), tensor(a, 'v'), ...(dropout ? [cx.step()] : [])], attrs);
    },
  },
  causal_mask: {
    params: [X, { name: 'fill', kind: 'float', default: num(-Infinity) }],
    doc: 'x[..., i, j] where j ≤ i, `fill` (default -inf) above the diagonal',
    build: (cx, a) => cx.op('causal_mask', [tensor(a, 'x')], { fill: int(a, 'fill') }),
  },
  aggregate: {
    params: [
      { name: 'g', kind: 'graph' },
      { name: 'x', kind: 'tensor' },
    ],
    doc: 'D^-1/2 (A+I) D^-1/2 @ x over the graph `g` (GCN propagation)',
    build: (cx, a) => propagate(cx, a, 'adj'),
  },
  mean_aggregate: {
    params: [
      { name: 'g', kind: 'graph' },
      { name: 'x', kind: 'tensor' },
    ],
    doc: "each node's mean of x over its neighbours, D^-1 A @ x (GraphSAGE's mean aggregator; no self loop)",
    build: (cx, a) => propagate(cx, a, 'mean'),
  },
  edge_src: {
    params: [{ name: 'g', kind: 'graph' }, X],
    doc: 'per edge j → i of `g` (self loops included, in the order edge_softmax uses), the row of x of its source j',
    build: (cx, a) => cx.op('gather', [tensor(a, 'x'), edgeArray(cx, a, 'adj.indices')]),
  },
  edge_dst: {
    params: [{ name: 'g', kind: 'graph' }, X],
    doc: 'per edge j → i of `g` (self loops included), the row of x of its destination i',
    build: (cx, a) => cx.op('gather', [tensor(a, 'x'), edgeArray(cx, a, 'adj.rows')]),
  },
  edge_softmax: {
    params: [
      { name: 'g', kind: 'graph' },
      { name: 'scores', kind: 'tensor' },
    ],
    doc: "softmax of per-edge scores [edges] or [edges, heads] over each node's incoming edges (graph attention)",
    build: (cx, a) => {
      const s = perEdge(cx, a, 'scores');
      const y = cx.op('edge_softmax', [edgeArray(cx, a, 'adj.indptr'), s.v]);
      return s.flat && y.kind === 'tensor' ? cx.op('reshape', [y.v], { shape: [s.v.type.shape[0] as number] }) : y;
    },
  },
  edge_aggregate: {
    params: [{ name: 'g', kind: 'graph' }, X, { name: 'weights', kind: 'tensor' }],
    doc:
      "Σ over each node's incoming edges (self loops included) of weight × the source's x; weights " +
      "[edges, heads] scale each head's x.shape[1] / heads features",
    build: (cx, a) => {
      const g = a['g'] as EVal & { kind: 'graph' };
      const w = perEdge(cx, a, 'weights');
      const ins = ['adj.indptr', 'adj.indices'].map((f) => edgeArray(cx, a, f));
      const tail = ['adj.rows', 'adjT.indptr', 'adjT.indices', 'adjT.perm'].map((f) => edgeArray(cx, a, f));
      return cx.op('spmm_edge', [...ins, w.v, tensor(a, 'x'), ...tail], { cols: g.spec.nodes });
    },
  },
  aux_loss: {
    params: [X, { name: 'weight', kind: 'float', default: num(1), valid: NON_NEGATIVE }],
    doc:
      "adds weight · x (a float scalar) to the model's `aux_loss` output, which training minimises with the loss " +
      "(a mixture of experts' balance loss); returns weight · x",
    build: (cx, a) => {
      const x = tensor(a, 'x');
      if (x.type.shape.length !== 0 || x.type.dtype[0] !== 'f')
        cx.fail('FLX3050', `aux_loss takes a float scalar, got ${x.type.dtype}[${x.type.shape.join(', ')}]`);
      const w = int(a, 'weight');
      const weight = () => tensorArg(cx, cx.op('const', [], { value: w, dtype: x.type.dtype }));
      const term = w === 1 ? x : tensorArg(cx, cx.op('mul', [x, weight()]));
      if (cx.training && w !== 0) cx.auxLoss(term); // a term weighed 0 trains nothing: dead, like its ops
      return { kind: 'tensor', v: term };
    },
  },
  ...MOE_BUILTINS,
};

/** One of the arrays of the edges of graph `g` (A + I's CSR, its rows, its transpose's CSR and permutation). */
const edgeArray = (cx: BuiltinContext, a: Args, feed: string) =>
  cx.graphTensor(a['g'] as EVal & { kind: 'graph' }, feed);

/** A per-edge argument as [edges, heads] (`flat` when it was given as [edges]); FLX3002 when its length is not. */
function perEdge(cx: BuiltinContext, a: Args, name: string): { v: Value; flat: boolean } {
  const x = tensor(a, name);
  const edges = edgeArray(cx, a, 'adj.indices').type.shape[0] as number;
  const [n, ...rest] = x.type.shape;
  if (n !== edges || rest.length > 1)
    cx.fail(
      'FLX3002',
      `\`${name}\` must hold one value per edge ([${edges}] or [${edges}, heads], self loops included), ` +
        `got [${x.type.shape}]`,
      'make per-edge values with edge_src(g, …) and edge_dst(g, …)',
    );
  if (rest.length) return { v: x, flat: false };
  const v = cx.op('reshape', [x], { shape: [edges, 1] });
  return { v: (v as EVal & { kind: 'tensor' }).v, flat: true };
}

/** `matrix @ x` over graph `g`: an spmm with the matrix's CSR and its transpose's (`adj`, `mean`). */
function propagate(cx: BuiltinContext, a: Args, matrix: 'adj' | 'mean'): EVal {
  const g = a['g'] as EVal & { kind: 'graph' };
  const n = g.spec.nodes;
  const parts = [matrix, `${matrix}T`].flatMap((m) =>
    ['indptr', 'indices', 'values'].map((f) => cx.graphTensor(g, `${m}.${f}`)),
  );
  return cx.op('spmm', [...parts, tensor(a, 'x')], { rows: n, cols: n });
}

function dims(v: EVal): Dim[] {
  return v.kind === 'list' ? v.items.map((i) => (i.kind === 'num' ? i.n : i.kind === 'sym' ? i.dim : NaN)) : [];
}

/** Parameter initialisers, valid only after `param … =`. */
export const INITS: Record<string, { params: ArgSpec[]; doc: string }> = {
  normal: {
    params: [
      { name: 'std', kind: 'float', default: num(1), valid: NON_NEGATIVE },
      { name: 'mean', kind: 'float', default: num(0) },
    ],
    doc: 'Gaussian',
  },
  uniform: {
    params: [
      { name: 'low', kind: 'float', default: num(-1) },
      { name: 'high', kind: 'float', default: num(1) },
    ],
    doc: 'uniform on [low, high)',
  },
  glorot: { params: [], doc: 'Glorot/Xavier uniform: ±sqrt(6 / (fan_in + fan_out))' },
  zeros: { params: [], doc: 'all zeros' },
  ones: { params: [], doc: 'all ones' },
  constant: { params: [{ name: 'value', kind: 'float' }], doc: 'every element `value`' },
};
