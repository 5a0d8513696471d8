import type { Builder } from '../ir/builder.ts';
import { type Attrs, leafName, type Module, usersOf, type Value } from '../ir/graph.ts';
import { ints } from '../ir/ops/util.ts';
import { rewriteModule } from '../ir/rewrite.ts';
import { shardOf, splitAttrs } from './partition-tensor.ts';
import type { Pass } from './pass.ts';

/** How a parameter is split by classes: a table [V, d] by rows, an output layer [d, V] by columns. */
type Split = { axis: 0 | 1 };

const plainMatmul = (v: Value) => v.op === 'matmul' && !v.attrs['ta'] && !v.attrs['tb'];
const isTranspose2d = (v: Value) => v.op === 'transpose' && ints(v.attrs, 'perm').join() === '1,0';

/**
 * Vocabulary parallelism (`parallel: { tensor: t }`, with Megatron's tensor parallelism; Shoeybi et al. 2019 §3,
 * Narayanan et al. 2021): the embedding table and the output layer split by classes over the t ranks, as Megatron
 * splits them. A table [V, d] gathered by the model's token ids becomes `vp_embed` of the rank's V/t rows (the ids
 * in the rank's range looked up, the rest zeros, all-reduced); a product h @ tableᵀ (a tied output layer) or h @ W
 * (W [d, V] an output layer of its own) gives the rank's V/t columns of the logits, h entering through `tp_copy` (its
 * gradient summed over the ranks); a `cross_entropy` of those logits becomes `vp_cross_entropy` (each row's maximum,
 * sum of exponentials and target logit all-reduced), and any other reader — a `logits` output, a decode step's
 * sampling — reads them joined (`seq_gather` along the classes: an all-gather). V that t does not divide stays whole.
 * Runs after partition-tensor (which leaves these layers whole) and before autodiff.
 */
export const partitionVocab: Pass = {
  name: 'partition-vocab',
  doc: 'vocabulary parallelism: embedding and output layer split by classes over the tensor ranks, with their loss',
  run(m, { config, note }) {
    const t = config.parallel.tensor ?? 1;
    if (t <= 1) return m;
    const splits = vocabSplits(m, t);
    if (!splits.size) return m;
    note?.(`${[...splits.keys()].map(leafName).join(', ')} split by classes over ${t} ranks`);
    return split(m, splits, t);
  },
};

/** The parameters that split by classes: each read only as a table of token ids or as an output layer. */
function vocabSplits(m: Module, t: number): Map<Value, Split> {
  const users = usersOf(m);
  const readers = (v: Value) => users.get(v) ?? [];
  const out = new Map<Value, Split>();
  for (const p of m.values) {
    if (p.op !== 'param' || p.type.shape.length !== 2 || shardOf(p)) continue;
    const [rows, cols] = p.type.shape as [number, number];
    const table = readers(p).every(
      (u) =>
        (u.op === 'gather' && u.inputs[0] === p && u.inputs[1]!.op === 'input') ||
        (isTranspose2d(u) && readers(u).length > 0 && readers(u).every((w) => plainMatmul(w) && w.inputs[1] === u)),
    );
    const head = readers(p).every((u) => plainMatmul(u) && u.inputs[1] === p);
    if (!readers(p).length) continue;
    if (table && rows % t === 0 && readers(p).some((u) => u.op === 'transpose' || isTokens(u))) out.set(p, { axis: 0 });
    else if (head && cols % t === 0 && readers(p).some((u) => readers(u).some((w) => w.op === 'cross_entropy')))
      out.set(p, { axis: 1 });
  }
  return out;
}

/** A gather of a table by the model's token ids (not positions: a position table stays whole). */
const isTokens = (u: Value) => u.op === 'gather' && u.inputs[1]!.op === 'input';

function split(m: Module, splits: Map<Value, Split>, t: number): Module {
  const group: Attrs = { group: 'tensor', ranks: t };
  // the logits each rank holds a slice of (by classes, its last axis), and their joined value for other readers
  const sliced = new Set<Value>();
  const joined = new Map<Value, Value>();
  const entered = new Map<Value, Value>();
  const enter = (b: Builder, x: Value, now: Value) => {
    if (!entered.has(x)) entered.set(x, b.op('tp_copy', [now], group, { name: x.name, loc: x.loc }));
    return entered.get(x)!;
  };
  const wholeOf = (b: Builder, x: Value) => {
    if (!joined.has(x))
      joined.set(x, b.op('seq_gather', [x], { ...group, axis: x.type.shape.length - 1 }, { name: x.name, loc: x.loc }));
    return joined.get(x)!;
  };
  const given = new Set(m.outputs.map((o) => o.value));
  const splitTable = (v: Value) => v.op === 'transpose' && splits.get(v.inputs[0]!)?.axis === 0;
  const splitOut = (v: Value) => plainMatmul(v) && (splitTable(v.inputs[1]!) || splits.get(v.inputs[1]!)?.axis === 1);
  const rewritten = rewriteModule(m, (v, operands, b) => {
    const meta = { name: v.name, loc: v.loc };
    const s = splits.get(v);
    if (s) {
      const shape = v.type.shape.map((d, i) => (i === s.axis ? (d as number) / t : d));
      return b.leaf(
        'param',
        leafName(v),
        { ...v.type, shape },
        { ...v.attrs, ...splitAttrs({ axis: s.axis, outer: 1 }, t) },
        meta,
      );
    }
    if (v.op === 'gather' && splits.has(v.inputs[0]!)) return b.op('vp_embed', operands, group, meta);
    if (splitOut(v)) {
      const y = b.op('matmul', [enter(b, v.inputs[0]!, operands[0]!), operands[1]!], v.attrs, meta);
      sliced.add(y);
      if (given.has(v)) wholeOf(b, y);
      return y;
    }
    const ins = operands.map((x, k) => (sliced.has(x) && !(v.op === 'cross_entropy' && k === 0) ? wholeOf(b, x) : x));
    if (v.op === 'cross_entropy' && sliced.has(operands[0]!)) return b.op('vp_cross_entropy', ins, group, meta);
    return ins.some((x, k) => x !== operands[k]) ? b.again(v, ins, meta) : undefined;
  });
  // a sliced value given out whole
  return { ...rewritten, outputs: rewritten.outputs.map((o) => ({ ...o, value: joined.get(o.value) ?? o.value })) };
}
