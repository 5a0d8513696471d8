import { dropoutUniform } from '../../compiler/ir/ops/dropout.ts';
import type { NDArray } from '../../compiler/ir/op.ts';
import { tf } from '../helpers/oracle.ts';

/** Independent tfjs versions of the three example models, written from their descriptions. */
export type TfModel = (P: (name: string) => tf.Tensor, feeds: Map<string, NDArray>, step: number) => tf.Scalar;

const T = (a: NDArray) =>
  tf.tensor(
    a.data instanceof Int32Array ? a.data : Float32Array.from(a.data),
    a.shape,
    a.data instanceof Int32Array ? 'int32' : 'float32',
  );

function crossEntropy(logits: tf.Tensor2D, targets: tf.Tensor1D): tf.Scalar {
  const c = logits.shape[1];
  return tf.neg(tf.mean(tf.sum(tf.mul(tf.oneHot(targets, c), tf.logSoftmax(logits)), -1))) as tf.Scalar;
}

export const mlpTf: TfModel = (P, feeds) => {
  const x = T(feeds.get('x')!) as tf.Tensor2D;
  const h = tf.relu(tf.add(tf.matMul(x, P('linear.w') as tf.Tensor2D), P('linear.b'))) as tf.Tensor2D;
  const logits = tf.add(tf.matMul(h, P('linear_1.w') as tf.Tensor2D), P('linear_1.b')) as tf.Tensor2D;
  return crossEntropy(logits, T(feeds.get('y')!) as tf.Tensor1D);
};

export function gptTf(cfg: { d: number; heads: number; depth: number }): TfModel {
  return (P, feeds) => {
    const tokens = T(feeds.get('tokens')!);
    const targets = T(feeds.get('targets')!);
    const [B, Tn] = tokens.shape as [number, number];
    const { d, heads, depth } = cfg;
    const dh = d / heads;
    const ln = (x: tf.Tensor, p: string) => {
      const { mean, variance } = tf.moments(x, -1, true);
      return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), P(`${p}.gamma`)), P(`${p}.beta`));
    };
    const dense = (x: tf.Tensor, w: string, b: string, out: number) =>
      tf.reshape(tf.add(tf.matMul(tf.reshape(x, [B * Tn, -1]) as tf.Tensor2D, P(w) as tf.Tensor2D), P(b)), [
        B,
        Tn,
        out,
      ]);
    const gelu = (x: tf.Tensor) =>
      tf.mul(
        tf.mul(x, 0.5),
        tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3)))))),
      );
    const causal = tf.cast(tf.linalg.bandPart(tf.ones([Tn, Tn]), -1, 0), 'bool');
    let x = tf.add(tf.gather(P('wte'), tokens), tf.slice(P('wpe'), [0, 0], [Tn, d]));
    for (let i = 0; i < depth; i++) {
      const a = `layer.${i}.causal_self_attention`;
      const qkv = tf.reshape(dense(ln(x, `layer.${i}.layer_norm`), `${a}.wqkv`, `${a}.bqkv`, 3 * d), [
        B,
        Tn,
        3,
        heads,
        dh,
      ]);
      const part = (k: number) =>
        tf.transpose(
          tf.reshape(tf.slice(qkv, [0, 0, k, 0, 0], [B, Tn, 1, heads, dh]), [B, Tn, heads, dh]),
          [0, 2, 1, 3],
        );
      const scores = tf.div(tf.matMul(part(0), part(1), false, true), Math.sqrt(dh));
      const masked = tf.where(tf.broadcastTo(causal, scores.shape), scores, tf.fill(scores.shape, -Infinity));
      const y = tf.reshape(tf.transpose(tf.matMul(tf.softmax(masked), part(2)), [0, 2, 1, 3]), [B, Tn, d]);
      x = tf.add(x, dense(y, `${a}.wo`, `${a}.bo`, d));
      const m = `layer.${i}.mlp`;
      x = tf.add(
        x,
        dense(gelu(dense(ln(x, `layer.${i}.layer_norm_1`), `${m}.w1`, `${m}.b1`, 4 * d)), `${m}.w2`, `${m}.b2`, d),
      );
    }
    const logits = tf.matMul(
      tf.reshape(ln(x, 'layer_norm'), [B * Tn, d]) as tf.Tensor2D,
      P('wte') as tf.Tensor2D,
      false,
      true,
    ) as tf.Tensor2D;
    return crossEntropy(logits, tf.reshape(targets, [B * Tn]) as tf.Tensor1D);
  };
}

/** The GCN with the same dropout masks: a mask is a function of (seed, step, element), part of the program. */
/** Inverted dropout of a dense tensor, with the mask the dropout kernel draws (seed, step, index). */
function dropped(x: tf.Tensor2D, seed: number, step: number, p: number): tf.Tensor2D {
  const mask = Float32Array.from({ length: x.size }, (_, i) => (dropoutUniform(seed, step, i) < p ? 0 : 1 / (1 - p)));
  return tf.mul(x, tf.tensor(mask, x.shape)) as tf.Tensor2D;
}

/** The dense matrix of a CSR graph feed (`g.adj`, `g.mean`). */
function denseOf(feeds: Parameters<TfModel>[1], name: string, n: number): tf.Tensor2D {
  const ptr = feeds.get(`g.${name}.indptr`)!.data;
  const idx = feeds.get(`g.${name}.indices`)!.data;
  const val = feeds.get(`g.${name}.values`)!.data;
  const dense = new Float32Array(n * n);
  for (let r = 0; r < n; r++) for (let e = ptr[r]!; e < ptr[r + 1]!; e++) dense[r * n + idx[e]!] += val[e]!;
  return tf.tensor2d(dense, [n, n]);
}

/** The features kept sparse (the sparse-features pass): dropout on their stored values, as in Kipf's code. */
function droppedFeatures(feeds: Parameters<TfModel>[1], n: number, seed: number, step: number, p: number): tf.Tensor2D {
  const fptr = feeds.get('g.feat.indptr')!.data;
  const fidx = feeds.get('g.feat.indices')!.data;
  const fval = feeds.get('g.feat.values')!.data;
  const f = feeds.get('g.featT.indptr')!.shape[0]! - 1;
  const dropped = new Float32Array(n * f);
  for (let r = 0; r < n; r++)
    for (let e = fptr[r]!; e < fptr[r + 1]!; e++)
      dropped[r * f + fidx[e]!] = dropoutUniform(seed, step, e) < p ? 0 : fval[e]! / (1 - p);
  return tf.tensor2d(dropped, [n, f]);
}

/** GraphSAGE with the mean aggregator (std/gnn SageConv): x·W_self + mean over neighbours of x·W_neigh. */
export function sageTf(seeds: [number, number], p: number): TfModel {
  return (P, feeds, step) => {
    const n = feeds.get('g.labels')!.shape[0]!;
    const M = denseOf(feeds, 'mean', n);
    const drop = (x: tf.Tensor2D, seed: number) => dropped(x, seed, step, p);
    const sage = (x: tf.Tensor2D, layer: string) =>
      tf.add(
        tf.matMul(x, P(`${layer}.w_self`) as tf.Tensor2D),
        tf.matMul(M, tf.matMul(x, P(`${layer}.w_neigh`) as tf.Tensor2D)),
      ) as tf.Tensor2D;
    const h = tf.relu(sage(droppedFeatures(feeds, n, seeds[0], step, p), 'sage_conv')) as tf.Tensor2D;
    const logits = sage(drop(h, seeds[1]), 'sage_conv_1');
    const train = T(feeds.get('g.split.train')!);
    return crossEntropy(
      tf.gather(logits, train) as tf.Tensor2D,
      tf.gather(T(feeds.get('g.labels')!), train) as tf.Tensor1D,
    );
  };
}

export function gcnTf(seeds: [number, number], p: number): TfModel {
  return (P, feeds, step) => {
    const n = feeds.get('g.labels')!.shape[0]!;
    const A = denseOf(feeds, 'adj', n);
    const drop = (x: tf.Tensor2D, seed: number) => dropped(x, seed, step, p);
    const feats = droppedFeatures(feeds, n, seeds[0], step, p);
    const h = tf.relu(tf.matMul(A, tf.matMul(feats, P('gcn_conv.w') as tf.Tensor2D))) as tf.Tensor2D;
    const logits = tf.matMul(A, tf.matMul(drop(h, seeds[1]), P('gcn_conv_1.w') as tf.Tensor2D)) as tf.Tensor2D;
    const train = T(feeds.get('g.split.train')!);
    return crossEntropy(
      tf.gather(logits, train) as tf.Tensor2D,
      tf.gather(T(feeds.get('g.labels')!), train) as tf.Tensor1D,
    );
  };
}

/**
 * GAT (std/gnn GatConv) with sums over the edge list (A + I, in CSR order): per head, LeakyReLU(0.2)
 * scores, a softmax over each node's incoming edges, dropout on the attention weights with the masks the dropout
 * kernel draws (element e·H + h), and the weighted sum of the sources' projected features. `seeds`: the features',
 * the first layer's attention, the hidden layer's and the second layer's attention dropout.
 */
export function gatTf(seeds: number[], p: number, layers: { heads: number; out: number }[]): TfModel {
  return (P, feeds, step) => {
    const n = feeds.get('g.labels')!.shape[0]!;
    const ptr = feeds.get('g.adj.indptr')!.data;
    const rows = Int32Array.from({ length: ptr[n]! }, (_, e) => {
      let r = 0;
      while (ptr[r + 1]! <= e) r++;
      return r;
    });
    const dst = tf.tensor1d(rows, 'int32');
    const src = T(feeds.get('g.adj.indices')!) as tf.Tensor1D;
    // gathers by edge and sums over each node's incoming edges as products with the edges' one-hot incidences
    // (tfjs's unsortedSegmentSum, also gather's gradient, loops over nodes, each pass over every edge)
    const [toSrc, toDst] = [src, dst].map((i) => tf.oneHot(i, n).toFloat() as tf.Tensor2D);
    const segmentSum = (x: tf.Tensor) => tf.matMul(toDst!, x as tf.Tensor2D, true, false);
    const at = (x: tf.Tensor, to: tf.Tensor2D) => tf.matMul(to, x as tf.Tensor2D);
    const gat = (x: tf.Tensor2D, layer: string, { heads, out }: (typeof layers)[number], seed: number) => {
      const h = tf.matMul(x, P(`${layer}.w`) as tf.Tensor2D);
      const hh = tf.reshape(h, [n, heads, out]);
      const score = (att: string) => tf.sum(tf.mul(hh, P(`${layer}.${att}`)), 2);
      const s = tf.add(at(score('att_src'), toSrc!), at(score('att_dst'), toDst!));
      const ex = tf.exp(tf.leakyRelu(s, 0.2));
      const alpha = tf.div(ex, at(segmentSum(ex), toDst!)) as tf.Tensor2D;
      const a = dropped(alpha, seed, step, p);
      const wide = tf.reshape(tf.tile(tf.expandDims(a, 2), [1, 1, out]), [rows.length, heads * out]);
      return segmentSum(tf.mul(wide, at(h, toSrc!)));
    };
    const x = feeds.has('g.feat.indptr')
      ? droppedFeatures(feeds, n, seeds[0]!, step, p)
      : dropped(T(feeds.get('g.features')!) as tf.Tensor2D, seeds[0]!, step, p);
    const h = tf.elu(gat(x, 'gat_conv', layers[0]!, seeds[1]!));
    const logits = gat(dropped(h as tf.Tensor2D, seeds[2]!, step, p), 'gat_conv_1', layers[1]!, seeds[3]!);
    const train = T(feeds.get('g.split.train')!);
    return crossEntropy(
      tf.gather(logits, train) as tf.Tensor2D,
      tf.gather(T(feeds.get('g.labels')!), train) as tf.Tensor1D,
    );
  };
}
