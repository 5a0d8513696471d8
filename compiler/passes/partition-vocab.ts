import type { Builder } from '../ir/builder.ts';
import { type Attrs, leafName, type Module, usersOf, type Value } from '../ir/graph.ts';
import { ints } from '../ir/ops/util.ts';
import { rewriteModule } from '../ir/rewrite.ts';
import { shardOf, splitAttrs } from './partition-tensor.ts';
import type { Pass } from './pass.ts';

/**
 * How a parameter is split by classes: a table [V, d] by rows, an output layer [d, V] by columns; `pad` classes added
 * to make V a multiple of the ranks (Megatron's padded vocabulary), never looked up and never scored.
 */
type Split = { axis: 0 | 1; classes: number; pad: number };

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
 * sampling — reads them joined (`seq_gather` along the classes: an all-gather). A V that t does not divide is padded
 * to the next multiple (Megatron pads GPT-2's 50,257 so): the last rank's slice ends in padding rows that no id looks
 * up, whose logits the loss leaves out (`classes`) and the joined logits cut off.
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
    const padded = (axis: 0 | 1, classes: number): Split => ({ axis, classes, pad: (t - (classes % t)) % t });
    if (table && readers(p).some((u) => u.op === 'transpose' || isTokens(u))) out.set(p, padded(0, rows));
    else if (head && readers(p).some((u) => readers(u).some((w) => w.op === 'cross_entropy')))
      out.set(p, padded(1, cols));
  }
  return out;
}

/** A gather of a table by the model's token ids (not positions: a position table stays whole). */
const isTokens = (u: Value) => u.op === 'gather' && u.inputs[1]!.op === 'input';

function split(m: Module, splits: Map<Value, Split>, t: number): Module {
  const group: Attrs = { group: 'tensor', ranks: t };
  // the logits each rank holds a slice of (by classes, its last axis), and their joined value for other readers
  const sliced = new Map<Value, Split>();
  const joined = new Map<Value, Value>();
  const entered = new Map<Value, Value>();
  const enter = (b: Builder, x: Value, now: Value) => {
    if (!entered.has(x)) entered.set(x, b.op('tp_copy', [now], group, { name: x.name, loc: x.loc }));
    return entered.get(x)!;
  };
  // all-gathered along the classes, the padding cut off
  const wholeOf = (b: Builder, x: Value) => {
    if (!joined.has(x)) {
      const meta = { name: x.name, loc: x.loc };
      const last = x.type.shape.length - 1;
      const all = b.op('seq_gather', [x], { ...group, axis: last }, meta);
      const { classes, pad } = sliced.get(x)!;
      const ends = all.type.shape.map((d, i) => (i === last ? classes : d)) as number[];
      joined.set(x, pad ? b.op('slice', [all], { starts: ends.map(() => 0), ends }, meta) : all);
    }
    return joined.get(x)!;
  };
  const given = new Set(m.outputs.map((o) => o.value));
  // the split giving a product its classes: its weight's (a transposed table's, or an output layer's)
  const outSplit = (v: Value): Split | undefined => {
    if (!plainMatmul(v)) return undefined;
    const w = v.inputs[1]!;
    if (w.op === 'transpose' && splits.get(w.inputs[0]!)?.axis === 0) return splits.get(w.inputs[0]!);
    return splits.get(w)?.axis === 1 ? splits.get(w) : undefined;
  };
  const rewritten = rewriteModule(m, (v, operands, b) => {
    const meta = { name: v.name, loc: v.loc };
    const s = splits.get(v);
    if (s) {
      const shape = v.type.shape.map((d, i) => (i === s.axis ? ((d as number) + s.pad) / t : d));
      return b.leaf(
        'param',
        leafName(v),
        { ...v.type, shape },
        { ...v.attrs, ...splitAttrs({ axis: s.axis, outer: 1 }, t, 'tensor', s.pad) },
        meta,
      );
    }
    const table = v.op === 'gather' ? splits.get(v.inputs[0]!) : undefined;
    if (table) return b.op('vp_embed', operands, { ...group, ...(table.pad ? { classes: table.classes } : {}) }, meta);
    const out = outSplit(v);
    if (out) {
      const y = b.op('matmul', [enter(b, v.inputs[0]!, operands[0]!), operands[1]!], v.attrs, meta);
      sliced.set(y, out);
      if (given.has(v)) wholeOf(b, y);
      return y;
    }
    const ins = operands.map((x, k) => (sliced.has(x) && !(v.op === 'cross_entropy' && k === 0) ? wholeOf(b, x) : x));
    const logits = v.op === 'cross_entropy' ? sliced.get(operands[0]!) : undefined;
    if (logits)
      return b.op('vp_cross_entropy', ins, { ...group, ...(logits.pad ? { classes: logits.classes } : {}) }, meta);
    return ins.some((x, k) => x !== operands[k]) ? b.again(v, ins, meta) : undefined;
  });
  // a sliced value given out whole
  return { ...rewritten, outputs: rewritten.outputs.map((o) => ({ ...o, value: joined.get(o.value) ?? o.value })) };
}
