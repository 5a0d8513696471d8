import { deadCodeEliminate, LEAF_OPS, type Module, type Value } from '../ir/graph.ts';
import { Builder } from '../ir/builder.ts';
import { SCALAR_OPS } from '../ir/ops/elementwise.ts';
import type { OpName } from '../ir/op-names.ts';
import { bool, num } from '../ir/ops/util.ts';
import { blockRanges, featureRanges } from '../../runtime/data/blocks.ts';
import { OPTIMIZER_OPS } from '../ir/ops/optimizer.ts';
import { graphShapes, type GraphShapes } from '../../runtime/data/graph-shapes.ts';
import { graphFeedOf, graphsRead } from '../../runtime/data/graph-spec.ts';
import type { Pass } from './pass.ts';

const MATRICES = new Set(['adj', 'adjT', 'mean', 'meanT']);
/** Ops that work row by row on values over the features' columns (a weight, its gradient, its optimizer state). */
const ROW_WISE = (op: string) => op in SCALAR_OPS || OPTIMIZER_OPS.has(op) || op === 'cast';
/**
 * A value whose blocks are kept elsewhere: per-edge values in Aᵀ's order (made by the product over Aᵀ that reads
 * them, block by block) or a value over the features' rows (`frows`).
 */
const ELSEWHERE = Object.freeze({ elsewhere: true as const });

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
 * weight per row block as a chain over the feature CSR's cells with the weight's blocks of rows (featureRanges), its
 * transpose (the weight's gradient) per block of features as a chain over node blocks, both in the whole product's
 * order; row-wise ops on a weight over the features, its gradient and optimizer state run per block of features
 * (blocks of leaves are `slice`s, updates written by rows);
 * row-wise ops (elementwise, dropout with its element offset, a product by a weight) run per block; a gather of a
 * split's nodes and its scatter_add adjoint per block. A reduction over nodes of two blocked values (a later layer's
 * weight gradient, Hᵀ·dY) is the sum of the blocks' products: the one result that is not bitwise the whole step's (its
 * summation order changes). An op no rule covers reads its operands joined again (`concat`): still correct.
 */
export const blockNodes: Pass = {
  name: 'block-nodes',
  doc: "cut a step's node-sized tensors into row blocks (`blocks: P`), graph products as chains over blocks",
  run(m, { config, graphs }) {
    const P = config.blocks ?? 1;
    if (P === 'auto') throw new Error('internal: `blocks: auto` is chosen before the passes run (pipelinePlan)');
    const [name] = graphsRead(m);
    if (P <= 1 || name === undefined) return m;
    if (!graphs) throw new Error('internal: block-nodes needs the plan’s graphs');
    const g = graphShapes(graphs(name));
    if (P > g.nodes) throw new BlocksError(P, g.nodes);
    return deadCodeEliminate(cut(m, P, name, g));
  },
};

function cut(m: Module, P: number, graph: string, g: GraphShapes): Module {
  const ranges = blockRanges(g.nodes, P);
  const b = new Builder(m);
  b.values.length = 0;
  const blocks = new Map<Value, Value[]>(); // [nodes, …] values by row block
  const entries = new Map<Value, Value[]>(); // feature values by the feature CSR's row blocks
  const entriesT = new Map<Value, Value>(); // the same values in its transpose's order: the values they come from
  const cells = new Map<Value, Value[][]>(); // feature values by cell (node block, feature block)
  /**
   * The feature values `x` (by node block in `entries`) of cell (r, c), in its order: made once, read by the product
   * of the features and, gathered into the transpose's order, by its adjoint.
   */
  const featureCell = (x: Value, r: number, c: number, meta: { name?: string; loc?: Value['loc'] }): Value => {
    const byRow =
      cells.get(x) ??
      cells
        .set(
          x,
          ranges.map(() => []),
        )
        .get(x)!;
    return (byRow[r]![c] ??= b.op('gather', [entries.get(x)![r]!, must(`feat.cellpos@${P}:${r},${c}`)], {}, meta));
  };
  // the features' columns in blocks, once a product of the features by a weight is cut (a graph may have none)
  let features: [number, number][] = [];
  let F = -1;
  const frows = new Map<Value, Value[]>(); // [F, …] values by feature block (a weight over the features, its updates)
  const weights = new Set<Value>(); // leaves a product of the features reads by feature block
  const slices = new Map<Value, Value[]>();
  /**
   * Feature block c of x: its block, or that slice of its rows — for a leaf, one for each reader (so that a leaf kept
   * in host memory is reloaded a block at a time, where it is read).
   */
  const fpart = (x: Value, c: number): Value => {
    const have = frows.get(x)?.[c] ?? slices.get(x)?.[c];
    if (have) return have;
    const [lo, hi] = features[c]!;
    const rest = (x.type.shape as number[]).slice(1);
    const part = b.op(
      'slice',
      [x],
      { starts: [lo, ...rest.map(() => 0)], ends: [hi, ...rest] },
      {
        name: `${x.name ?? x.op}[${lo}:${hi}]`,
        loc: x.loc,
      },
    );
    if (!LEAF_OPS.has(x.op)) (slices.get(x) ?? slices.set(x, []).get(x)!)[c] = part;
    return part;
  };
  const edges = new Map<Value, Value[]>(); // per-edge values ([nnz, …] in A's order) by A's row block
  const edgesT = new Map<Value, Value>(); // per-edge values in Aᵀ's order (gathered by adjT.perm): the values
  const whole = new Map<Value, Value>();
  const leaves = new Map<string, Value>();
  const get = (x: Value): Value => {
    const w = whole.get(x);
    if (w) return w;
    const t = edgesT.get(x);
    if (t) return set(x, b.again(x, [get(t), x.inputs[1]!], { name: x.name, loc: x.loc }));
    const bs = blocks.get(x) ?? edges.get(x) ?? frows.get(x); // A's row blocks hold consecutive runs of its entries
    if (!bs) return x;
    return set(x, bs.length === 1 ? bs[0]! : b.op('concat', bs, { axis: 0 }, { name: x.name }));
  };
  const set = (x: Value, w: Value) => (whole.set(x, w), w);
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
  const keyOf = (x: Value) => (x.op === 'input' ? graphFeedOf(x.attrs['feed']) : undefined)?.key;

  for (const v of m.values) {
    const ins = v.inputs;
    const out = rule(v, ins);
    if (out) {
      if (out === ELSEWHERE) continue;
      if (Array.isArray(out)) blocks.set(v, out);
      else if ('edges' in out) edges.set(v, out.edges);
      else whole.set(v, out as Value);
      continue;
    }
    const args = ins.map(get);
    if (!LEAF_OPS.has(v.op) && args.some((x, k) => x !== ins[k]))
      whole.set(v, b.again(v, args, { name: v.name, loc: v.loc }));
    else b.values.push(v);
  }

  /**
   * The node blocks (an array), per-edge blocks (`edges`) or whole value (a Value) that replace v, ELSEWHERE for
   * per-edge values gathered into Aᵀ's order (read per block by the product over Aᵀ) and values cut by feature block,
   * or undefined when no rule applies.
   */
  function rule(v: Value, ins: Value[]): Value[] | Value | { edges: Value[] } | typeof ELSEWHERE | undefined {
    const meta = { name: v.name, loc: v.loc };
    const key = keyOf(v);
    const graphAttention = edgeRule(v, ins, meta);
    if (graphAttention) return graphAttention;
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
            b.op('dropout', [xb, ins[1]!], { ...v.attrs, offset: base + g.before('feat', ranges[k]![0]) }, meta),
          );
        entries.set(v, dropped);
      }
    }
    if (v.op === 'gather' && entries.has(ins[0]!) && keyOf(ins[1]!) === 'featT.perm') {
      entriesT.set(v, ins[0]!); // gathered cell by cell by the product that reads them
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
    if (ROW_WISE(v.op) && ins.some((x) => frows.has(x) || weights.has(x)) && (v.type.shape[0] as number) === F) {
      // by feature block: operands over the features' rows sliced alike, broadcast ones as they are
      const rank = v.type.shape.length;
      const apart = (x: Value) => x.type.shape.length < rank || x.type.shape[0] === 1;
      frows.set(
        v,
        features.map((_, c) =>
          b.op(
            v.op as OpName,
            ins.map((x) => (apart(x) ? x : fpart(x, c))),
            v.attrs,
            meta,
          ),
        ),
      );
      return ELSEWHERE;
    }
    if (v.op in SCALAR_OPS) {
      // per block, node blocks with node blocks or per-edge blocks with per-edge blocks (a broadcast operand as it is)
      const rank = v.type.shape.length;
      const apart = (x: Value) => x.type.shape.length < rank || x.type.shape[0] === 1;
      for (const part of [blocks, edges]) {
        if (!ins.some((x) => part.has(x)) || !ins.every((x) => part.has(x) || apart(x))) continue;
        const per = ranges.map((_, k) =>
          b.op(
            v.op as OpName,
            ins.map((x) => part.get(x)?.[k] ?? x),
            v.attrs,
            meta,
          ),
        );
        return part === edges ? { edges: per } : per;
      }
    }
    const x0 = ins[0];
    if (x0 && blocks.has(x0) && isNode(v)) {
      // row-wise: a reshape or broadcast that keeps the rows, a sum over other axes
      const rest = (v.type.shape as number[]).slice(1);
      const axes = v.op === 'sum' ? (v.attrs['axes'] as number[]) : [];
      if (v.op === 'reshape' || v.op === 'broadcast_to' || (v.op === 'sum' && !axes.includes(0)))
        return blocks
          .get(x0)!
          .map((xb, k) =>
            b.op(v.op as OpName, [xb], v.op === 'sum' ? v.attrs : { ...v.attrs, shape: [rows(k), ...rest] }, meta),
          );
    }
    if (v.op === 'sum_to' && x0 && blocks.has(x0) && !isNode(v)) {
      // a reduction over the nodes (a parameter's gradient): the sum of the blocks' (its summation order changes)
      const parts = blocks.get(x0)!.map((xb) => b.op('sum_to', [xb], v.attrs, meta));
      return parts.reduce((acc, p) => b.op('add', [acc, p], {}, meta));
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
  function product(
    v: Value,
    ins: Value[],
    meta: { name?: string; loc?: Value['loc'] },
  ): Value[] | Value | typeof ELSEWHERE | undefined {
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
    if (matrix === 'adj' && edges.has(val) && blocks.has(x)) {
      // per-edge weights: cell (r, c)'s are its entries' places among row block r's
      const w = edges.get(val)!;
      const cell = (r: number) => (c: number) => b.op('gather', [w[r]!, must(`adj.cellpos@${P}:${r},${c}`)], {}, meta);
      return ranges.map((_, r) => chain('adj', r, cell(r), blocks.get(x)!, [rows(r), f]));
    }
    if (matrix === 'adjT' && edgesT.has(val) && edges.has(edgesT.get(val)!) && blocks.has(x)) {
      // Aᵀ's cell (r, c) transposes entries of A's row block c
      const w = edges.get(edgesT.get(val)!)!;
      const cell = (r: number) => (c: number) => b.op('gather', [w[c]!, must(`adjT.src@${P}:${r},${c}`)], {}, meta);
      return ranges.map((_, r) => chain('adjT', r, cell(r), blocks.get(x)!, [rows(r), f]));
    }
    if (matrix && MATRICES.has(matrix) && blocks.has(x) && keyOf(val) === `${matrix}.values`)
      return ranges.map((_, r) =>
        chain(matrix, r, (c) => must(`${matrix}.values@${P}:${r},${c}`), blocks.get(x)!, [rows(r), f]),
      );
    if (key === 'feat.indptr' && entries.has(val) && !blocks.has(x)) {
      if (F < 0) [features, F] = [featureRanges(x.type.shape[0] as number, P), x.type.shape[0] as number];
      // per node block, a chain over the feature blocks of x (a weight): its rows c with the cell's entries
      if (LEAF_OPS.has(x.op)) weights.add(x);
      return ranges.map((_, r) => {
        let acc: Value | undefined;
        features.forEach(([lo, hi], c) => {
          const idx = leaf(`feat.indices@${P}:${r},${c}`);
          if (!idx) return;
          const operands = [must(`feat.indptr@${P}:${r},${c}`), idx, featureCell(val, r, c, meta), fpart(x, c)];
          const attrs = { cols: hi - lo };
          acc = acc ? b.op('spmm_acc', [acc, ...operands], attrs, meta) : b.op('spmm_csr', operands, attrs, meta);
        });
        return acc ?? zeros([rows(r), f]);
      });
    }
    if (key === 'featT.indptr' && entriesT.has(val) && blocks.has(x)) {
      // Xᵀ·dY by feature block (a weight's gradient, row block by row block): a chain over the node blocks
      const entriesOf = entriesT.get(val)!;
      frows.set(
        v,
        features.map(([lo, hi], c) => {
          let acc: Value | undefined;
          ranges.forEach((_, r) => {
            const idx = leaf(`featT.indices@${P}:${c},${r}`);
            if (!idx) return;
            const cell = b.op(
              'gather',
              [featureCell(entriesOf, r, c, meta), must(`featT.perm@${P}:${c},${r}`)],
              {},
              meta,
            );
            const operands = [must(`featT.indptr@${P}:${c},${r}`), idx, cell, blocks.get(x)![r]!];
            const attrs = { cols: rows(r) };
            acc = acc ? b.op('spmm_acc', [acc, ...operands], attrs, meta) : b.op('spmm_csr', operands, attrs, meta);
          });
          return acc ?? zeros([hi - lo, f]);
        }),
      );
      return ELSEWHERE;
    }
    return undefined;
  }

  /**
   * Graph attention's ops over A's entries, by A's row block (each a consecutive run of entries): a node value gathered
   * by each entry's source (cell by cell) or destination (its row block), dropout (from the block's first
   * entry), the softmax over each row and its gradient, SDDMM per cell (placed back in A's order), and the sums of
   * per-edge values into destinations (per row block) or sources (a chain over row blocks, in A's order).
   */
  function edgeRule(v: Value, ins: Value[], meta: { name?: string; loc?: Value['loc'] }) {
    /** Row block r's per-edge values made cell by cell (`cell(c, its column ids)`), placed in A's order. */
    const inOrder = (r: number, cell: (c: number, cols: Value) => Value) => {
      const cells = ranges.flatMap((_, c) => {
        const cols = leaf(`adj.indices@${P}:${r},${c}`);
        return cols ? [cell(c, cols)] : [];
      });
      const joined = cells.length === 1 ? cells[0]! : b.op('concat', cells, { axis: 0 }, meta);
      return b.op('gather', [joined, must(`adj.cellinv@${P}:${r}`)], {}, meta);
    };
    const [x, idx] = ins as [Value | undefined, Value | undefined];
    const by = (part: string) => idx !== undefined && keyOf(idx) === part;
    const per = (f: (r: number) => Value) => ({ edges: ranges.map((_, r) => f(r)) });
    if (v.op === 'gather' && x && blocks.has(x) && by('adj.indices'))
      return per((r) => inOrder(r, (c, cols) => b.op('gather', [blocks.get(x)![c]!, cols], {}, meta)));
    if (v.op === 'gather' && x && blocks.has(x) && by('adj.rows'))
      return per((r) => b.op('gather', [blocks.get(x)![r]!, must(`adj.rows@${P}:${r}`)], {}, meta));
    if (v.op === 'gather' && x && edges.has(x) && by('adjT.perm')) {
      edgesT.set(v, x);
      return ELSEWHERE;
    }
    if (v.op === 'dropout' && x && edges.has(x)) {
      const row = (x.type.shape as number[]).slice(1).reduce((a, d) => a * d, 1);
      const base = num(v.attrs, 'offset', 0);
      const offset = (r: number) => base + g.before('adj', ranges[r]![0]) * row;
      return per((r) => b.op('dropout', [edges.get(x)![r]!, ins[1]!], { ...v.attrs, offset: offset(r) }, meta));
    }
    if ((v.op === 'edge_softmax' || v.op === 'edge_softmax_grad') && keyOf(ins[0]!) === 'adj.indptr') {
      const vals = ins.slice(1);
      if (vals.every((y) => edges.has(y)))
        return per((r) =>
          b.op(v.op as OpName, [must(`adj.indptr@${P}:${r}`), ...vals.map((y) => edges.get(y)![r]!)], v.attrs, meta),
        );
    }
    const [, , a, c] = ins;
    if (v.op === 'sddmm' && by('adj.indices') && keyOf(ins[0]!) === 'adj.rows' && blocks.has(a!) && blocks.has(c!))
      return per((r) =>
        inOrder(r, (k, cols) =>
          b.op(
            'sddmm',
            [must(`adj.rows@${P}:${r},${k}`), cols, blocks.get(a!)![r]!, blocks.get(c!)![k]!],
            v.attrs,
            meta,
          ),
        ),
      );
    const upd = ins[2];
    if (
      v.op === 'scatter_add' &&
      upd &&
      edges.has(upd) &&
      isNode(v) &&
      x!.op === 'full' &&
      num(x!.attrs, 'value') === 0
    ) {
      const rest = (v.type.shape as number[]).slice(1);
      if (by('adj.rows'))
        return ranges.map((_, r) =>
          b.op('scatter_add', [zeros([rows(r), ...rest]), must(`adj.rows@${P}:${r}`), edges.get(upd)![r]!], {}, meta),
        );
      if (by('adj.indices'))
        return ranges.map((_, c) => {
          let acc = zeros([rows(c), ...rest]);
          ranges.forEach((_, r) => {
            const cols = leaf(`adj.indices@${P}:${r},${c}`);
            if (!cols) return;
            const part = b.op('gather', [edges.get(upd)![r]!, must(`adj.cellpos@${P}:${r},${c}`)], {}, meta);
            acc = b.op('scatter_add', [acc, cols, part], {}, meta);
          });
          return acc;
        });
    }
    return undefined;
  }

  return {
    ...m,
    values: b.values,
    outputs: m.outputs.map((o) => ({ ...o, value: get(o.value) })),
    // a weight over the features is updated block by block, each block into its rows
    updates: m.updates.flatMap((u) =>
      frows.has(u.value) && !u.rows
        ? frows.get(u.value)!.map((value, c) => ({ ...u, value, rows: features[c]! }))
        : [{ ...u, value: get(u.value) }],
    ),
  };
}

function fail(message: string): never {
  throw new Error(`internal: block-nodes: ${message}`);
}
