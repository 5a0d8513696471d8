import { deadCodeEliminate, LEAF_OPS, type Module, type Value } from '../ir/graph.ts';
import { Builder } from '../ir/builder.ts';
import { SCALAR_OPS } from '../ir/ops/elementwise.ts';
import type { OpName } from '../ir/op-names.ts';
import { bool, num } from '../ir/ops/util.ts';
import { blockRanges } from '../../runtime/data/blocks.ts';
import { graphShapes, type GraphShapes } from '../../runtime/data/graph-shapes.ts';
import type { Pass } from './pass.ts';

const MATRICES = new Set(['adj', 'adjT', 'mean', 'meanT']);

/** A plan's `blocks` is more than its graph has nodes. */
export class BlocksError extends Error {
  constructor(
    readonly blocks: number,
    readonly nodes: number,
  ) {
    super(`cannot cut ${nodes} nodes into ${blocks} blocks`);
  }
}

/**
 * `blocks: P` cuts a step over a graph's nodes into P row blocks (FlexGNN's and HongTu's partitions, here by node
 * range), so that each op reads and writes blocks, not whole [nodes, …] tensors, and placement can stream them through
 * the GPU budget. A product over the graph becomes, per row block, a chain of `spmm_acc` over the column blocks in
 * ascending order (every sum in the whole product's order: the same bits for any P); a product of the features by a
 * weight runs per row block of the feature CSR, its transpose (the weight's gradient) as a chain over node blocks;
 * row-wise ops (elementwise, dropout with its element offset, a product by a weight) run per block; a gather of a
 * split's nodes and its scatter_add adjoint per block. A reduction over nodes of two blocked values (a weight's
 * gradient, Xᵀ·dY) is the sum of the blocks' products: the one result that is not bitwise the whole step's (its
 * summation order changes). An op no rule covers reads its operands joined again (`concat`): still correct.
 */
export const blockNodes: Pass = {
  name: 'block-nodes',
  doc: "cut a step's node-sized tensors into row blocks (`blocks: P`), graph products as chains over blocks",
  run(m, { config, graphs }) {
    const P = config.blocks ?? 1;
    if (P === 'auto') throw new Error('internal: `blocks: auto` is chosen before the passes run (pipelinePlan)');
    const feeds = m.values.flatMap((v) => (v.op === 'input' ? [graphKey(v)] : [])).filter((f) => f !== undefined);
    if (P <= 1 || !feeds.length) return m;
    if (!graphs) throw new Error('internal: block-nodes needs the plan’s graphs');
    const name = feeds[0]!.graph;
    const g = graphShapes(graphs(name));
    if (P > g.nodes) throw new BlocksError(P, g.nodes);
    return deadCodeEliminate(cut(m, P, name, g));
  },
};

const graphKey = (v: Value): { graph: string; key: string } | undefined => {
  const f = v.attrs['feed'];
  const m = typeof f === 'string' ? /^graph:([^/]+)\/(.+)$/.exec(f) : null;
  return m ? { graph: m[1]!, key: m[2]! } : undefined;
};

function cut(m: Module, P: number, graph: string, g: GraphShapes): Module {
  const ranges = blockRanges(g.nodes, P);
  const b = new Builder(m);
  b.values.length = 0;
  const blocks = new Map<Value, Value[]>(); // [nodes, …] values by row block
  const entries = new Map<Value, Value[]>(); // feature values by the feature CSR's row blocks
  const entriesT = new Map<Value, Value[]>(); // the same values in its transpose's order, by node block
  const whole = new Map<Value, Value>();
  const leaves = new Map<string, Value>();
  const get = (x: Value): Value => {
    const w = whole.get(x);
    if (w) return w;
    const bs = blocks.get(x);
    if (!bs) return x;
    const joined = bs.length === 1 ? bs[0]! : b.op('concat', bs, { axis: 0 }, { name: x.name });
    whole.set(x, joined);
    return joined;
  };
  /** The graph's block array `key` (`adj.indptr@4:1,2`) as an input, or undefined when it is empty. */
  const leaf = (key: string): Value | undefined => {
    if (leaves.has(key)) return leaves.get(key);
    const { dtype, shape } = g.feed(key);
    if (!shape.reduce((a, d) => a * d, 1)) return undefined;
    const v = b.leaf('input', `g.${key}`, { dtype, shape }, { feed: `graph:${graph}/${key}` });
    leaves.set(key, v);
    return v;
  };
  const must = (key: string) => leaf(key) ?? fail(`empty block ${key}`);
  const rows = (k: number) => ranges[k]![1] - ranges[k]![0];
  const zeros = (shape: number[]) => b.op('full', [], { value: 0, shape, dtype: 'f32' });
  const isNode = (x: Value) => (x.type.shape[0] as number) === g.nodes;
  const keyOf = (x: Value) => (x.op === 'input' ? graphKey(x) : undefined)?.key;

  for (const v of m.values) {
    const ins = v.inputs;
    const out = rule(v, ins);
    if (out) {
      if (Array.isArray(out)) blocks.set(v, out);
      else whole.set(v, out);
      continue;
    }
    const args = ins.map(get);
    if (!LEAF_OPS.has(v.op) && args.some((x, k) => x !== ins[k]))
      whole.set(v, b.again(v, args, { name: v.name, loc: v.loc }));
    else b.values.push(v);
  }

  /** The blocks (an array) or whole value (a Value) that replace v, or undefined when no rule applies. */
  function rule(v: Value, ins: Value[]): Value[] | Value | undefined {
    const meta = { name: v.name, loc: v.loc };
    const key = keyOf(v);
    if (key === 'features' && isNode(v)) {
      b.values.push(v);
      whole.set(v, v); // an op without a rule reads the leaf itself
      return ranges.map((_, k) => must(`features@${P}:${k}`));
    }
    if (key === 'feat.values') {
      // a block of nodes without features keeps the features whole (no rule reads an empty block)
      const parts = ranges.map((_, k) => leaf(`feat.values@${P}:${k}`));
      if (parts.every((x) => x !== undefined)) entries.set(v, parts as Value[]);
    }
    if (v.op === 'dropout') {
      const x = ins[0]!;
      const base = num(v.attrs, 'offset', 0);
      if (blocks.has(x)) {
        const row = (x.type.shape as number[]).slice(1).reduce((a, d) => a * d, 1);
        return blocks
          .get(x)!
          .map((xb, k) => b.op('dropout', [xb, ins[1]!], { ...v.attrs, offset: base + ranges[k]![0] * row }, meta));
      }
      if (entries.has(x)) {
        const dropped = entries
          .get(x)!
          .map((xb, k) =>
            b.op('dropout', [xb, ins[1]!], { ...v.attrs, offset: base + g.featuresBefore(ranges[k]![0]) }, meta),
          );
        entries.set(v, dropped);
      }
    }
    if (v.op === 'gather' && entries.has(ins[0]!) && keyOf(ins[1]!) === 'featT.perm') {
      entriesT.set(
        v,
        entries.get(ins[0]!)!.map((xb, k) => b.op('gather', [xb, must(`featT.perm@${P}:${k}`)], {}, meta)),
      );
      return undefined;
    }
    if (v.op === 'spmm_csr') return product(v, ins, meta);
    if (v.op === 'matmul') {
      const [a, w] = ins as [Value, Value];
      if (!bool(v.attrs, 'ta') && blocks.has(a) && !blocks.has(w))
        return blocks.get(a)!.map((ab) => b.op('matmul', [ab, get(w)], v.attrs, meta));
      if (bool(v.attrs, 'ta') && blocks.has(a) && blocks.has(w)) {
        const parts = blocks.get(a)!.map((ab, k) => b.op('matmul', [ab, blocks.get(w)![k]!], v.attrs, meta));
        return parts.reduce((acc, p) => b.op('add', [acc, p], {}, meta));
      }
    }
    if (v.op in SCALAR_OPS && ins.some((x) => blocks.has(x))) {
      const rank = v.type.shape.length;
      const apart = (x: Value) => x.type.shape.length < rank || x.type.shape[0] === 1;
      if (ins.every((x) => blocks.has(x) || apart(x)))
        return ranges.map((_, k) =>
          b.op(
            v.op as OpName,
            ins.map((x) => blocks.get(x)?.[k] ?? x),
            v.attrs,
            meta,
          ),
        );
    }
    const split = ins[1] && keyOf(ins[1])?.startsWith('split.') ? keyOf(ins[1])! : undefined;
    if (v.op === 'gather' && split && blocks.has(ins[0]!)) {
      let acc = zeros(v.type.shape as number[]);
      blocks.get(ins[0]!)!.forEach((xb, k) => {
        const ids = leaf(`${split}@${P}:${k}`);
        if (ids)
          acc = b.op(
            'scatter_add',
            [acc, must(`${split}@${P}:${k}:pos`), b.op('gather', [xb, ids], {}, meta)],
            {},
            meta,
          );
      });
      return acc;
    }
    if (v.op === 'scatter_add' && split && isNode(v) && ins[0]!.op === 'full' && num(ins[0]!.attrs, 'value') === 0) {
      const rest = (v.type.shape as number[]).slice(1);
      return ranges.map((_, k) => {
        const ids = leaf(`${split}@${P}:${k}`);
        const base = zeros([rows(k), ...rest]);
        if (!ids) return base;
        const upd = b.op('gather', [get(ins[2]!), must(`${split}@${P}:${k}:pos`)], {}, meta);
        return b.op('scatter_add', [base, ids, upd], {}, meta);
      });
    }
    return undefined;
  }

  /** spmm_csr over the graph's matrices (per row block, a chain over column blocks) or its features. */
  function product(v: Value, ins: Value[], meta: { name?: string; loc?: Value['loc'] }): Value[] | Value | undefined {
    const [ptr, , val, x] = ins as [Value, Value, Value, Value];
    const key = keyOf(ptr);
    const f = (v.type.shape as number[])[1]!;
    /** Σ over the column blocks c of block (r, c) of `matrix` times x's block c, in ascending c. */
    const chain = (prefix: string, r: number | undefined, values: (c: number) => Value, xs: Value[], out: number[]) => {
      let acc: Value | undefined;
      xs.forEach((xc, c) => {
        const at = r === undefined ? `${c}` : `${r},${c}`;
        const idx = leaf(`${prefix}.indices@${P}:${at}`);
        if (!idx) return; // no entries in this block
        const operands = [must(`${prefix}.indptr@${P}:${at}`), idx, values(c), xc];
        const attrs = { cols: rows(c) };
        acc = acc ? b.op('spmm_acc', [acc, ...operands], attrs, meta) : b.op('spmm_csr', operands, attrs, meta);
      });
      return acc ?? zeros(out);
    };
    const matrix = key?.replace(/\.indptr$/, '');
    if (matrix && MATRICES.has(matrix) && blocks.has(x) && keyOf(val) === `${matrix}.values`)
      return ranges.map((_, r) =>
        chain(matrix, r, (c) => must(`${matrix}.values@${P}:${r},${c}`), blocks.get(x)!, [rows(r), f]),
      );
    if (key === 'feat.indptr' && entries.has(val) && !blocks.has(x))
      return entries
        .get(val)!
        .map((vb, k) =>
          b.op('spmm_csr', [must(`feat.indptr@${P}:${k}`), must(`feat.indices@${P}:${k}`), vb, get(x)], v.attrs, meta),
        );
    if (key === 'featT.indptr' && entriesT.has(val) && blocks.has(x))
      return chain('featT', undefined, (c) => entriesT.get(val)![c]!, blocks.get(x)!, v.type.shape as number[]);
    return undefined;
  }

  return {
    ...m,
    values: b.values,
    outputs: m.outputs.map((o) => ({ ...o, value: get(o.value) })),
    updates: m.updates.map((u) => ({ ...u, value: get(u.value) })),
  };
}

function fail(message: string): never {
  throw new Error(`internal: block-nodes: ${message}`);
}
