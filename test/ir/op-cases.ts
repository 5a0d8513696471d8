import { dropoutUniform } from '../../compiler/ir/ops/dropout.ts';
import { moeParts } from '../../compiler/ir/ops/moe-layer.ts';
import { withWorkspace } from '../../compiler/passes/fuse-moe.ts';
import { tf, type Case } from '../helpers/oracle.ts';
import { transposeCsr } from '../../runtime/data/graph.ts';

type TfFn = (xs: tf.Tensor[]) => tf.Tensor;

export interface OpCase extends Case {
  label: string;
  tf: TfFn;
  /**
   * The op's gradient is a straight-through estimator (why, in words): tfjs states the same one (customGrad) and
   * central differences, the derivative of a rounding (0 almost everywhere), are not compared.
   */
  straightThrough?: string;
}

/**
 * x·s rounded to an FP8 format and scaled back, in tfjs's ops (float32): the exponent from log2, the step 2^(e − m),
 * nearest (ties away), saturating; the gradient passed straight through to x.
 */
const fp8Tf =
  (m: number, emin: number, max: number): TfFn =>
  ([x, s]) =>
    tf.customGrad((...args: unknown[]) => {
      const y = tf.mul(args[0] as tf.Tensor, s!);
      const a = tf.abs(y);
      const e = tf.maximum(tf.floor(tf.div(tf.log(tf.maximum(a, 2 ** emin)), Math.LN2)), emin);
      const step = tf.pow(2, tf.sub(e, m));
      const r = tf.minimum(tf.mul(tf.floor(tf.add(tf.div(a, step), 0.5)), step), max);
      return { value: tf.div(tf.mul(tf.sign(y), r), s!), gradFunc: (dy: tf.Tensor) => [dy] };
    })(x!);

const gelu: TfFn = ([x]) =>
  tf.mul(
    tf.mul(x!, 0.5),
    tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x!, tf.mul(0.044715, tf.pow(x!, 3)))))),
  );

/** Rotary embedding written with tfjs ops: rotate_half form with cos/sin tables over [T, h]. */
function ropeTf(x: tf.Tensor, base: number, offset = 0): tf.Tensor {
  const [t, h] = x.shape.slice(-2) as [number, number];
  const angles = Array.from({ length: t }, (_, p) =>
    Array.from({ length: h }, (_, j) => (p + offset) * base ** ((-2 * (j % (h / 2))) / h)),
  );
  const cos = tf.cos(tf.tensor2d(angles));
  const sin = tf.sin(tf.tensor2d(angles));
  const [a, z] = tf.split(x, 2, -1);
  return tf.add(tf.mul(x, cos), tf.mul(tf.concat([tf.neg(z!), a!], -1), sin));
}

/** A dense matrix from the CSR arrays used by the spmm cases. */
const csr = { rows: 4, cols: 3, indptr: [0, 2, 3, 3, 5], indices: [0, 2, 1, 0, 1], values: [0.5, -1, 2, 0.25, 1.5] };
const csrT = transposeCsr(
  { indptr: Int32Array.from(csr.indptr), indices: Int32Array.from(csr.indices), values: Float32Array.from(csr.values) },
  csr.rows,
  csr.cols,
);
const csrInputs = [
  { shape: [5], ints: csr.indptr },
  { shape: [5], ints: csr.indices },
  { shape: [5], fixed: csr.values },
  { shape: [4], ints: [...csrT.indptr] },
  { shape: [5], ints: [...csrT.indices] },
  { shape: [5], fixed: [...csrT.values] },
];
const csrRows = csr.indptr.slice(1).flatMap((end, r) => new Array<number>(end - csr.indptr[r]!).fill(r));
/** spmm_edge's graph operands after its weights and matrix: the entries' rows, the transpose's CSR and permutation. */
const edgeTail = [
  { shape: [5], ints: csrRows },
  { shape: [4], ints: [...csrT.indptr] },
  { shape: [5], ints: [...csrT.indices] },
  { shape: [5], ints: [...csrT.perm] },
];
/** Σ over each row's entries of w[e, h] · x[col(e), head h's features], with segment sums (no CSR in sight). */
function edgeProductTf(w: tf.Tensor, x: tf.Tensor): tf.Tensor {
  const [nnz, heads] = w.shape as [number, number];
  const per = x.shape[1]! / heads;
  const wide = tf.reshape(tf.tile(tf.expandDims(w, 2), [1, 1, per]), [nnz, heads * per]);
  const picked = tf.gather(x, tf.tensor1d(csr.indices, 'int32'));
  return tf.unsortedSegmentSum(tf.mul(wide, picked), tf.tensor1d(csrRows, 'int32'), csr.rows);
}
/** Softmax over each row's entries, per head: exp over the row's sum of exps. */
function edgeSoftmaxTf(x: tf.Tensor): tf.Tensor {
  const seg = tf.tensor1d(csrRows, 'int32');
  const ex = tf.exp(x);
  return tf.div(ex, tf.gather(tf.unsortedSegmentSum(ex, seg, csr.rows), seg));
}
function denseA(): tf.Tensor2D {
  const d = new Float32Array(csr.rows * csr.cols);
  for (let r = 0; r < csr.rows; r++)
    for (let e = csr.indptr[r]!; e < csr.indptr[r + 1]!; e++) d[r * csr.cols + csr.indices[e]!] += csr.values[e]!;
  return tf.tensor2d(d, [csr.rows, csr.cols]);
}

const dropMask = (n: number, p: number, seed: number, step: number, offset = 0) =>
  Float32Array.from({ length: n }, (_, i) => (dropoutUniform(seed, step, i + offset) < p ? 0 : 1 / (1 - p)));

/** Every differentiable op, with shapes that exercise broadcasting and attributes, and its tfjs equivalent. */
export const OP_CASES: OpCase[] = [
  ...(['e4m3', 'e5m2'] as const).map(
    (fmt): OpCase => ({
      label: `fp8_${fmt} (scale 8)`,
      op: `fp8_${fmt}`,
      inputs: [
        { shape: [4, 6], range: [-3, 3] },
        { shape: [], fixed: [8] },
      ],
      tf: fmt === 'e4m3' ? fp8Tf(3, -6, 448) : fp8Tf(2, -14, 57344),
      straightThrough: 'FP8 training passes gradients through the rounding',
    }),
  ),
  { label: 'neg', op: 'neg', inputs: [{ shape: [3, 4] }], tf: ([x]) => tf.neg(x!) },
  { label: 'abs', op: 'abs', inputs: [{ shape: [3, 4] }], tf: ([x]) => tf.abs(x!) },
  { label: 'relu', op: 'relu', inputs: [{ shape: [3, 4] }], tf: ([x]) => tf.relu(x!) },
  { label: 'elu', op: 'elu', inputs: [{ shape: [3, 4] }], tf: ([x]) => tf.elu(x!) },
  { label: 'gelu', op: 'gelu', inputs: [{ shape: [3, 4], range: [-3, 3] }], tf: gelu },
  { label: 'tanh', op: 'tanh', inputs: [{ shape: [3, 4] }], tf: ([x]) => tf.tanh(x!) },
  { label: 'exp', op: 'exp', inputs: [{ shape: [3, 4] }], tf: ([x]) => tf.exp(x!) },
  { label: 'log', op: 'log', inputs: [{ shape: [3, 4], range: [0.5, 2] }], tf: ([x]) => tf.log(x!) },
  { label: 'sigmoid', op: 'sigmoid', inputs: [{ shape: [3, 4], range: [-3, 3] }], tf: ([x]) => tf.sigmoid(x!) },
  { label: 'sqrt', op: 'sqrt', inputs: [{ shape: [3, 4], range: [0.5, 2] }], tf: ([x]) => tf.sqrt(x!) },
  {
    label: 'add (broadcast a row)',
    op: 'add',
    inputs: [{ shape: [2, 3, 4] }, { shape: [4] }],
    tf: ([a, b]) => tf.add(a!, b!),
  },
  {
    label: 'sub (broadcast a column)',
    op: 'sub',
    inputs: [{ shape: [3, 1] }, { shape: [2, 3, 4] }],
    tf: ([a, b]) => tf.sub(a!, b!),
  },
  {
    label: 'mul (broadcast both)',
    op: 'mul',
    inputs: [{ shape: [3, 1] }, { shape: [1, 4] }],
    tf: ([a, b]) => tf.mul(a!, b!),
  },
  {
    label: 'div',
    op: 'div',
    inputs: [{ shape: [2, 3] }, { shape: [2, 3], range: [0.5, 2] }],
    tf: ([a, b]) => tf.div(a!, b!),
  },
  { label: 'matmul', op: 'matmul', inputs: [{ shape: [3, 4] }, { shape: [4, 5] }], tf: ([a, b]) => tf.matMul(a!, b!) },
  {
    label: 'matmul ta',
    op: 'matmul',
    attrs: { ta: true },
    inputs: [{ shape: [4, 3] }, { shape: [4, 5] }],
    tf: ([a, b]) => tf.matMul(a!, b!, true, false),
  },
  {
    // a weight gradient over many rows: few outputs, a long reduction (gpu class: split across a workgroup)
    label: 'matmul ta, long k',
    op: 'matmul',
    attrs: { ta: true },
    inputs: [{ shape: [3000, 6] }, { shape: [3000, 5] }],
    tf: ([a, b]) => tf.matMul(a!, b!, true, false),
  },
  {
    label: 'matmul tb',
    op: 'matmul',
    attrs: { tb: true },
    inputs: [{ shape: [3, 4] }, { shape: [5, 4] }],
    tf: ([a, b]) => tf.matMul(a!, b!, false, true),
  },
  {
    label: 'matmul ta tb',
    op: 'matmul',
    attrs: { ta: true, tb: true },
    inputs: [{ shape: [4, 3] }, { shape: [5, 4] }],
    tf: ([a, b]) => tf.matMul(a!, b!, true, true),
  },
  {
    label: 'matmul batched, broadcast rhs',
    op: 'matmul',
    inputs: [{ shape: [2, 3, 4] }, { shape: [4, 5] }],
    tf: ([a, b]) => tf.matMul(a!, tf.broadcastTo(b!, [2, 4, 5])),
  },
  {
    label: 'matmul batched',
    op: 'matmul',
    inputs: [{ shape: [2, 2, 3, 4] }, { shape: [2, 2, 4, 3] }],
    tf: ([a, b]) => tf.matMul(a!, b!),
  },
  {
    label: 'sum all',
    op: 'sum',
    attrs: { axes: [0, 1, 2], keepdims: false },
    inputs: [{ shape: [2, 3, 4] }],
    tf: ([x]) => tf.sum(x!),
  },
  {
    label: 'sum axis 1 keepdims',
    op: 'sum',
    attrs: { axes: [1], keepdims: true },
    inputs: [{ shape: [2, 3, 4] }],
    tf: ([x]) => tf.sum(x!, 1, true),
  },
  {
    label: 'mean axes 0,2',
    op: 'mean',
    attrs: { axes: [0, 2], keepdims: false },
    inputs: [{ shape: [2, 3, 4] }],
    tf: ([x]) => tf.mean(x!, [0, 2]),
  },
  {
    label: 'max axis -1',
    op: 'max',
    attrs: { axes: [-1], keepdims: false },
    inputs: [{ shape: [3, 5] }],
    tf: ([x]) => tf.max(x!, -1),
  },
  { label: 'softmax', op: 'softmax', inputs: [{ shape: [2, 3, 5], range: [-2, 2] }], tf: ([x]) => tf.softmax(x!) },
  {
    label: 'log_softmax',
    op: 'log_softmax',
    inputs: [{ shape: [3, 5], range: [-2, 2] }],
    tf: ([x]) => tf.logSoftmax(x!),
  },
  {
    label: 'layernorm',
    op: 'layernorm',
    inputs: [{ shape: [2, 3, 6] }],
    build: (b, [x]) => b.op('layernorm', [x!, b.op('layernorm_rstd', [x!], { eps: 1e-5 })]),
    tf: ([x]) => {
      const { mean, variance } = tf.moments(x!, -1, true);
      return tf.div(tf.sub(x!, mean), tf.sqrt(tf.add(variance, 1e-5)));
    },
  },
  {
    label: 'transpose',
    op: 'transpose',
    attrs: { perm: [2, 0, 1] },
    inputs: [{ shape: [2, 3, 4] }],
    tf: ([x]) => tf.transpose(x!, [2, 0, 1]),
  },
  // Megatron's f and g on one rank (a group of one): the identity both ways; their sums over ranks are the
  // simulated devices' (test/partition)
  {
    label: 'tp_copy (one rank)',
    op: 'tp_copy',
    attrs: { group: 'tensor', ranks: 1 },
    inputs: [{ shape: [2, 3] }],
    tf: ([x]) => tf.add(x!, 0),
  },
  {
    label: 'tp_reduce (one rank)',
    op: 'tp_reduce',
    attrs: { group: 'tensor', ranks: 1 },
    inputs: [{ shape: [2, 3] }],
    tf: ([x]) => tf.add(x!, 0),
  },
  // a pipeline's transfer between stages: the identity where one process holds both
  {
    label: 'pp_send (within one process)',
    op: 'pp_send',
    attrs: { from: 0, to: 1, pipeline: 2 },
    inputs: [{ shape: [2, 3] }],
    tf: ([x]) => tf.add(x!, 0),
  },
  ...(['seq_split', 'seq_gather', 'seq_gather_tp', 'seq_reduce_scatter'] as const).map(
    (op): OpCase => ({
      label: `${op} (one rank)`,
      op,
      attrs: { group: 'tensor', ranks: 1, axis: 1 },
      inputs: [{ shape: [2, 4, 3] }],
      tf: ([x]) => tf.add(x!, 0),
    }),
  ),
  {
    label: 'ep_all_to_all (one rank)',
    op: 'ep_all_to_all',
    attrs: { group: 'expert', ranks: 1, split: 0, join: 1 },
    inputs: [{ shape: [4, 2, 3] }],
    tf: ([x]) => tf.add(x!, 0),
  },
  {
    label: 'reshape',
    op: 'reshape',
    attrs: { shape: [4, -1] },
    inputs: [{ shape: [2, 3, 4] }],
    tf: ([x]) => tf.reshape(x!, [4, 6]),
  },
  {
    label: 'slice',
    op: 'slice',
    attrs: { starts: [0, 1, 1], ends: [2, 3, 3] },
    inputs: [{ shape: [2, 3, 4] }],
    tf: ([x]) => tf.slice(x!, [0, 1, 1], [2, 2, 2]),
  },
  {
    label: 'pad',
    op: 'pad',
    attrs: { before: [1, 0], after: [0, 2] },
    inputs: [{ shape: [2, 3] }],
    tf: ([x]) =>
      tf.pad(x!, [
        [1, 0],
        [0, 2],
      ]),
  },
  {
    label: 'concat',
    op: 'concat',
    attrs: { axis: 1 },
    inputs: [{ shape: [2, 1, 3] }, { shape: [2, 2, 3] }],
    tf: (xs) => tf.concat(xs, 1),
  },
  {
    label: 'gather (embedding)',
    op: 'gather',
    inputs: [{ shape: [5, 3] }, { shape: [2, 3], ints: [0, 4, 4, 1, 0, 2] }],
    tf: ([t, i]) => tf.gather(t!, i!),
  },
  // Megatron's vocabulary-parallel embedding and cross-entropy on one rank (a group of one): the plain ops; their
  // collectives over split tables and logits are test/partition/vocab.test.ts's
  {
    label: 'vp_embed (one rank)',
    op: 'vp_embed',
    attrs: { group: 'tensor', ranks: 1 },
    inputs: [{ shape: [5, 3] }, { shape: [2, 3], ints: [0, 4, 4, 1, 0, 2] }],
    tf: ([t, i]) => tf.gather(t!, i!),
  },
  {
    label: 'vp_cross_entropy (one rank)',
    op: 'vp_cross_entropy',
    attrs: { group: 'tensor', ranks: 1 },
    inputs: [
      { shape: [2, 3, 5], range: [-2, 2] },
      { shape: [2, 3], ints: [0, 4, 2, 1, 3, 3] },
    ],
    tf: ([l, t]) => tf.neg(tf.mean(tf.sum(tf.mul(tf.oneHot(t!, 5), tf.logSoftmax(l!)), -1))),
  },
  {
    label: 'scatter_add',
    op: 'scatter_add',
    inputs: [{ shape: [4, 2] }, { shape: [3], ints: [1, 3, 1] }, { shape: [3, 2] }],
    tf: ([b, i, u]) => tf.add(b!, tf.matMul(tf.oneHot(i!, 4).toFloat(), u!, true, false)),
  },
  {
    label: 'cross_entropy',
    op: 'cross_entropy',
    inputs: [
      { shape: [2, 3, 5], range: [-2, 2] },
      { shape: [2, 3], ints: [0, 4, 2, 1, 3, 3] },
    ],
    tf: ([l, t]) => tf.neg(tf.mean(tf.sum(tf.mul(tf.oneHot(t!, 5), tf.logSoftmax(l!)), -1))),
  },
  {
    label: 'dropout',
    op: 'dropout',
    attrs: { p: 0.3, seed: 42 },
    inputs: [{ shape: [4, 5] }, { shape: [], ints: [3] }],
    tf: ([x]) => tf.mul(x!, tf.tensor(dropMask(20, 0.3, 42, 3), [4, 5])),
  },
  {
    label: 'dropout of a block that starts at element 1000',
    op: 'dropout',
    attrs: { p: 0.3, seed: 42, offset: 1000 },
    inputs: [{ shape: [4, 5] }, { shape: [], ints: [3] }],
    tf: ([x]) => tf.mul(x!, tf.tensor(dropMask(20, 0.3, 42, 3, 1000), [4, 5])),
  },
  {
    label: 'spmm',
    op: 'spmm',
    attrs: { rows: 4, cols: 3 },
    inputs: [...csrInputs, { shape: [3, 2] }],
    tf: ([, , , , , , x]) => tf.matMul(denseA(), x!),
  },
  {
    label: 'spmm transposed',
    op: 'spmm',
    attrs: { rows: 4, cols: 3, transpose: true },
    inputs: [...csrInputs, { shape: [4, 2] }],
    tf: ([, , , , , , x]) => tf.matMul(denseA(), x!, true, false),
  },
  {
    label: 'spmm_edge, two heads of three features',
    op: 'spmm_edge',
    attrs: { cols: 3 },
    inputs: [csrInputs[0]!, csrInputs[1]!, { shape: [5, 2] }, { shape: [3, 6] }, ...edgeTail],
    tf: ([, , w, x]) => edgeProductTf(w!, x!),
  },
  {
    label: 'spmm_edge, one head',
    op: 'spmm_edge',
    attrs: { cols: 3 },
    inputs: [csrInputs[0]!, csrInputs[1]!, { shape: [5, 1] }, { shape: [3, 2] }, ...edgeTail],
    tf: ([, , w, x]) => edgeProductTf(w!, x!),
  },
  {
    label: 'edge_softmax (an empty row, two heads)',
    op: 'edge_softmax',
    inputs: [csrInputs[0]!, { shape: [5, 2], range: [-2, 2] }],
    tf: ([, x]) => edgeSoftmaxTf(x!),
  },
  {
    label: 'causal_mask',
    op: 'causal_mask',
    attrs: { fill: 0 },
    inputs: [{ shape: [2, 4, 4] }],
    tf: ([x]) => tf.mul(x!, tf.linalg.bandPart(tf.ones([4, 4]), -1, 0)),
  },
  {
    label: 'rope',
    op: 'rope',
    attrs: { base: 100, sign: 1 },
    inputs: [{ shape: [2, 5, 6] }],
    tf: ([x]) => ropeTf(x!, 100),
  },
  {
    label: 'rope (positions after 3 cached tokens)',
    op: 'rope',
    attrs: { base: 100, sign: 1, offset: 3 },
    inputs: [{ shape: [2, 2, 6] }],
    tf: ([x]) => ropeTf(x!, 100, 3),
  },
  {
    label: 'causal_mask (3 new queries over 5 keys)',
    op: 'causal_mask',
    attrs: { fill: 0 },
    inputs: [{ shape: [2, 3, 5] }],
    tf: ([x]) => tf.mul(x!, tf.linalg.bandPart(tf.ones([3, 5]), -1, 2)),
  },
  {
    // scores [batch 2, 2 kv heads, 3 grouped heads, 2 queries, 4 keys]: head index (kv·3 + g) of 6; MPT's slopes
    label: 'alibi_bias (6 heads grouped 2 × 3, 2 new queries over 4 keys)',
    op: 'alibi_bias',
    attrs: { heads: 6, alibi: 8 },
    inputs: [{ shape: [2, 2, 3, 2, 4] }],
    tf: ([x]) => {
      const slopes = [2 ** -2, 2 ** -4, 2 ** -6, 2 ** -8, 2 ** -1, 2 ** -3];
      const d = [0, 1].map((i) => [0, 1, 2, 3].map((j) => Math.abs(2 + i - j)));
      const bias = tf.tensor(slopes.map((m) => d.map((row) => row.map((x) => -m * x)))).reshape([1, 2, 3, 2, 4]);
      return tf.add(x!, bias);
    },
  },
  {
    label: 'cast (f32 to f32: the gradient rule; bf16/fp16 rounding is tested with the precision pass)',
    op: 'cast',
    attrs: { dtype: 'f32' },
    inputs: [{ shape: [3, 4] }],
    tf: ([x]) => x!,
  },
  {
    label: 'broadcast_to',
    op: 'broadcast_to',
    attrs: { shape: [2, 3, 4] },
    inputs: [{ shape: [3, 1] }],
    tf: ([x]) => tf.broadcastTo(x!, [2, 3, 4]),
  },
  {
    label: 'sum_to',
    op: 'sum_to',
    attrs: { shape: [3, 1] },
    inputs: [{ shape: [2, 3, 4] }],
    tf: ([x]) => tf.sum(tf.sum(x!, 0), 1, true),
  },
  {
    label: 'take of topk (the gate values of each token’s k best experts)',
    op: 'take',
    inputs: [{ shape: [4, 5] }],
    build: (b, [x]) => b.op('take', [x!, b.op('topk', [x!], { k: 2 })]),
    // the indices from a copy of x's values: tfjs has no gradient through topk's indices, and none is wanted
    tf: ([x]) => tf.gather(x!, tf.topk(tf.tensor(x!.dataSync(), x!.shape), 2).indices, 1, 1),
  },
  {
    label: 'take (an index twice in a row)',
    op: 'take',
    inputs: [{ shape: [3, 4] }, { shape: [3, 3], ints: [0, 3, 0, 2, 2, 1, 3, 1, 0] }],
    tf: ([x, i]) => tf.gather(x!, i!, 1, 1),
  },
  {
    label: 'take_grad',
    op: 'take_grad',
    attrs: { n: 4 },
    inputs: [{ shape: [3, 2] }, { shape: [3, 2], ints: [1, 3, 2, 2, 0, 1] }],
    tf: ([dy, i]) => tf.sum(tf.mul(tf.oneHot(i!, 4).toFloat(), tf.expandDims(dy!, -1)), 1),
  },
  moeRoutingCase(),
  moeLayerCase(),
  moeLayerCase(0.5),
  attentionCase('causal, 4 query heads over 2 key/value heads (GQA)', [2, 4, 5, 3], [2, 2, 5, 3], 2, true),
  attentionCase(
    'causal, 2 new queries after 3 cached keys, one key/value head (MQA)',
    [1, 3, 2, 4],
    [1, 1, 5, 4],
    3,
    true,
  ),
  attentionCase('not causal, a head each, batch axes [2, 2]', [2, 2, 2, 3, 4], [2, 2, 2, 6, 4], 5, false),
  // MPT's gen_slopes (llm-foundry) for 6 heads at alibi_bias_max 8: 1/2^(1..8) over 8 heads, odd-indexed first
  attentionCase('causal, ALiBi over 6 heads, 3 cached keys', [1, 6, 2, 4], [1, 6, 5, 4], 3, true, {
    alibi: 8,
    slopes: [2 ** -2, 2 ** -4, 2 ** -6, 2 ** -8, 2 ** -1, 2 ** -3],
  }),
  attentionCase('not causal, ALiBi over 4 heads (max 4), GQA', [2, 4, 3, 4], [2, 2, 3, 4], 2, false, {
    alibi: 4,
    slopes: [2 ** -1, 2 ** -2, 2 ** -3, 2 ** -4],
  }),
  attentionCase('causal, GQA, the probabilities dropped at 0.3', [2, 4, 5, 3], [2, 2, 5, 3], 2, true, undefined, 0.3),
  attentionCase(
    'causal, 2 queries after 3 cached keys, dropout 0.5',
    [1, 2, 2, 8],
    [1, 2, 5, 8],
    8,
    true,
    undefined,
    0.5,
  ),
];

/**
 * Fused attention against attention written with tfjs ops: each key/value head repeated for its query heads, the
 * T×S scores scaled (by 0.6, not 1/√dh, so the attribute is read), masked to −1e9 past each query's position when
 * causal, softmax, times v.
 */
function attentionCase(
  what: string,
  q: number[],
  k: number[],
  dv: number,
  causal: boolean,
  alibi?: { alibi: number; slopes: number[] },
  dropout = 0,
): OpCase {
  const [h, t] = q.slice(-3) as [number, number];
  const [hkv, s] = k.slice(-3) as [number, number];
  // ALiBi: head j's scores less slope_j · |query position − key|, the queries the last t of s positions
  const distance = Array.from({ length: t }, (_, i) => Array.from({ length: s }, (_, j) => Math.abs(s - t + i - j)));
  const bias = alibi && tf.tensor3d(alibi.slopes.map((m) => distance.map((row) => row.map((d) => -m * d))));
  return {
    label: `attention (${what})`,
    op: 'attention',
    attrs: { causal, scale: 0.6, ...(alibi ? { alibi: alibi.alibi } : {}), ...(dropout ? { dropout, seed: 7 } : {}) },
    inputs: [
      { shape: q },
      { shape: k },
      { shape: [...k.slice(0, -1), dv] },
      ...(dropout ? [{ shape: [], ints: [5] }] : []),
    ],
    tf: ([xq, xk, xv]) => {
      // query head j reads key/value head ⌊j / (H / Hkv)⌋
      const heads = tf.tensor1d(
        Array.from({ length: h }, (_, j) => Math.floor(j / (h / hkv))),
        'int32',
      );
      const repeat = (x: tf.Tensor) => tf.gather(x, heads, x.rank - 3);
      const scaled = tf.mul(tf.matMul(xq!, repeat(xk!), false, true), 0.6);
      const scores = bias ? tf.add(scaled, bias) : scaled;
      const visible = tf.linalg.bandPart(tf.ones([t, s]), -1, s - t);
      const masked = causal ? tf.add(tf.mul(scores, visible), tf.mul(tf.sub(1, visible), -1e9)) : scores;
      const probs = tf.softmax(masked);
      // the probabilities [..., H, T, S] dropped as `dropout` drops a tensor of that shape at step 5
      const dropped = dropout ? tf.mul(probs, tf.tensor(dropMask(probs.size, dropout, 7, 5), probs.shape)) : probs;
      return tf.matMul(dropped, repeat(xv!));
    },
  };
}

/**
 * A whole MoE layer (`moe`: router, top-2 of 3 experts, 3 slots each, GeLU experts, renormalised gates) against a
 * dense tfjs MoE: every expert on every token, combined by a [T, E] matrix of the kept gates, the kept choices counted
 * here (first choices before second ones, tokens in order). With `balance`, the layer packs its weighted balance loss
 * with y, and the case is y + that loss (both parts' gradients meet in the one backward op): balance · E · Σ_e f_e·P_e
 * with f_e the share of the T·k choices naming e, P_e the mean probability of e.
 */
function moeLayerCase(balance = 0): OpCase {
  const [T, d, E, H, k, C] = [6, 3, 3, 4, 2, 3];
  return {
    label: `moe (a whole layer: router, top-2, capacity, GeLU experts, combine${balance ? ', balance loss' : ''})`,
    op: 'moe',
    inputs: [
      { shape: [T, d] },
      { shape: [d, E] },
      { shape: [E, d, H] },
      { shape: [E, 1, H] },
      { shape: [E, H, d] },
      {
        shape: [E, 1, d],
      },
    ],
    // the fused form, with its kernel's workspace (the decomposition's kernels are the other ops' cases)
    build: (b, ins) => {
      const layer = withWorkspace(b, ins, {
        k,
        capacity: C,
        renormalize: true,
        act: 'gelu',
        ...(balance && { balance }),
      });
      if (!balance) return layer;
      const { y, aux } = moeParts((op, inputs, attrs) => b.op(op, inputs, attrs), layer, ins[0]!);
      return b.op('add', [y, aux]);
    },
    tf: ([x, router, w1, b1, w2, b2]) => {
      const probs = tf.softmax(tf.matMul(x as tf.Tensor2D, router as tf.Tensor2D));
      const choices = tf.topk(tf.tensor(probs.dataSync(), probs.shape), k).indices;
      const idx = choices.dataSync();
      const taken = new Array<number>(E).fill(0);
      const kept = new Float32Array(T * k);
      for (let r = 0; r < k; r++) for (let t = 0; t < T; t++) kept[t * k + r] = taken[idx[t * k + r]!]!++ < C ? 1 : 0;
      const picked = tf.gather(probs, choices, 1, 1);
      const gates = tf.mul(tf.div(picked, tf.sum(picked, 1, true)), tf.tensor2d(kept, [T, k]));
      const weights = tf.sum(tf.mul(tf.oneHot(choices, E).toFloat(), tf.expandDims(gates, 2)), 1); // [T, E]
      const xs = tf.tile(tf.expandDims(x!, 0), [E, 1, 1]);
      const out = tf.add(tf.matMul(gelu([tf.add(tf.matMul(xs, w1!), b1!)]), w2!), b2!); // [E, T, d]
      const y = tf.sum(tf.mul(tf.expandDims(tf.transpose(weights), 2), out), 0);
      if (!balance) return y;
      const share = tf.div(tf.sum(tf.oneHot(choices, E).toFloat(), [0, 1]), T * k);
      return tf.add(y, tf.mul(balance * E, tf.sum(tf.mul(share, tf.mean(probs, 0)))));
    },
  };
}

/**
 * Rows to experts and back with a capacity: 6 tokens choose 2 of 3 experts each, 2 slots per expert, so some choices
 * are dropped. Each slot's row is squared (an expert), and each token sums what its kept choices bring back. The
 * reference keeps or drops each choice by its own count, written here: first choices before second ones, tokens in
 * order (GShard, Switch Transformer).
 */
function moeRoutingCase(): OpCase {
  const [T, k, E, C, d] = [6, 2, 3, 2, 3];
  const choices = [0, 1, 0, 2, 1, 0, 0, 1, 2, 0, 0, 2];
  const taken = new Array<number>(E).fill(0);
  const kept = new Array<number>(T).fill(0);
  for (let r = 0; r < k; r++) for (let t = 0; t < T; t++) if (taken[choices[t * k + r]!]!++ < C) kept[t]!++;
  return {
    label: 'moe_slots and moe_tokens: dispatch to experts with a capacity, dropping, and combining',
    op: 'moe_slots',
    inputs: [{ shape: [T, d] }, { shape: [T, k], ints: choices }],
    build: (b, [x, idx]) => {
      const attrs = { experts: E, capacity: C };
      const zeros = b.op('full', [], { value: 0, shape: [1, d], dtype: 'f32' });
      const rows = b.op('gather', [b.op('concat', [x!, zeros], { axis: 0 }), b.op('moe_tokens', [idx!], attrs)]);
      const out = b.op('concat', [b.op('mul', [rows, rows]), zeros], { axis: 0 });
      const back = b.op('gather', [out, b.op('moe_slots', [idx!], attrs)]);
      return b.op('sum', [back], { axes: [1], keepdims: false });
    },
    tf: ([x]) => tf.mul(tf.square(x!), tf.tensor2d(kept, [T, 1])),
  };
}
