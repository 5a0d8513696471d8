import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type * as A from '../../grammar/ast.ts';
import { diag, didYouMean, fail, type Diagnostic, type Span } from '../../grammar/diagnostics.ts';
import { graphsRead, type GraphSpec } from '../../runtime/data/graph-spec.ts';
import type { Module } from '../ir/graph.ts';
import { displayPath, type Program, type SourceFile } from './program.ts';
import { generatedGraph } from './graph-generate.ts';

const ITEMS = ['dir', 'nodes', 'features', 'edges', 'labels', 'split', 'generate'];
/** Graphs are loaded into memory whole: nodes, and feature values, fit one typed array (2³¹ − 1). */
export const MAX_GRAPH_NODES = 2 ** 31 - 1;

/** Reads a `graph` declaration into a GraphSpec with file paths resolved against the declaring file. */
export function graphSpecOf(g: A.GraphDecl, file: SourceFile): GraphSpec {
  const items = new Map<string, A.GraphItem>();
  for (const it of g.items) {
    if (!ITEMS.includes(it.name.name))
      fail(
        'FLX4003',
        it.name.span,
        `a graph has no item \`${it.name.name}\``,
        didYouMean(it.name.name, ITEMS) ?? `items are ${ITEMS.map((i) => `\`${i}\``).join(', ')}`,
      );
    if (items.has(it.name.name)) fail('FLX2011', it.name.span, `graph item \`${it.name.name}\` is given twice`);
    items.set(it.name.name, it);
  }
  const dirItem = items.get('dir');
  const base = resolve(dirname(file.abs), dirItem?.value?.kind === 'string' ? dirItem.value.value : '.');
  const path = (e: A.Expr): string => {
    if (e.kind !== 'string') fail('FLX3004', e.span, 'a data file is given as a string path');
    const p = resolve(base, e.value);
    if (!existsSync(p))
      fail(
        'FLX6001',
        e.span,
        `data file not found: ${displayPath(p)} (resolved against ${displayPath(base)}, ` +
          `${dirItem ? "the graph's `dir`" : 'the folder of this .flex file'})`,
        dirItem
          ? "a relative `dir` is relative to this .flex file's folder"
          : 'paths are relative to this .flex file, or to `dir: "…"` in the graph',
      );
    return p;
  };
  const nodesItem = items.get('nodes');
  if (nodesItem?.value?.kind !== 'number' || !Number.isInteger(nodesItem.value.value) || nodesItem.value.value <= 0)
    fail('FLX4005', (nodesItem ?? g).span, `graph \`${g.name.name}\` needs \`nodes: N\`, a positive whole number`);
  const nodes = nodesItem.value.value;
  if (nodes > MAX_GRAPH_NODES)
    fail('FLX4005', nodesItem.value.span, `a graph holds at most ${MAX_GRAPH_NODES.toLocaleString('en-US')} nodes`);
  const size = (e: A.Expr | { kind: 'ellipsis'; span: Span }): number => {
    if (e.kind === 'number' && Number.isInteger(e.value) && e.value > 0) return e.value;
    if (e.kind === 'name' && e.name === 'nodes') return nodes;
    return fail('FLX3004', e.span, 'a graph size is a positive whole number or `nodes`');
  };
  const call = (e: A.Expr | undefined, what: string, names: string[]): A.Expr & { kind: 'call' } => {
    if (e?.kind !== 'call' || e.callee.kind !== 'name' || !names.includes(e.callee.name))
      fail('FLX4005', e?.span ?? g.span, `${what} is loaded with ${names.map((n) => `\`from ${n}(…)\``).join(' or ')}`);
    return e;
  };
  const generate = items.get('generate');
  if (generate) {
    const files = ['dir', 'features', 'edges', 'labels', 'split'].map((k) => items.get(k)).find((x) => x);
    if (files)
      fail(
        'FLX4005',
        files.span,
        `graph \`${g.name.name}\` is generated; it has no \`${files.name.name}\` of its own`,
        'a generated graph has features, edges, labels and a split; drop the item, or the `generate`',
      );
    return generatedGraph(g.name.name, nodes, generate);
  }
  // the types of features and labels, read from files or given by size
  const feat = items.get('features');
  let dim = 0;
  if (feat) {
    if (feat.type?.dims.length !== 2 || feat.type.dtype !== 'f32')
      fail('FLX4005', feat.span, 'features need a type `f32[nodes, F]`');
    const [rows, cols] = feat.type.dims.map(size) as [number, number];
    if (rows !== nodes) fail('FLX3002', feat.type.span, `features have ${rows} rows but the graph has ${nodes} nodes`);
    dim = cols;
  }
  const labels = items.get('labels');
  const labelType = labels?.type;
  if (labelType && (labelType.dtype !== 'i32' || labelType.dims.length !== 1 || size(labelType.dims[0]!) !== nodes))
    fail('FLX3002', labelType.span, `labels must be i32[nodes] (${nodes})`);
  const sizedBy = [...items.values()].find(isSize);
  if (sizedBy) return sizedGraph(g, nodes, items, sizedBy, dim);
  const spec: GraphSpec = { name: g.name.name, nodes };
  if (feat) {
    if (nodes * dim > MAX_GRAPH_NODES)
      fail(
        'FLX4005',
        feat.type!.span,
        `features f32[${nodes}, ${dim}] hold ${(nodes * dim).toLocaleString('en-US')} values; ` +
          `flexc loads at most ${MAX_GRAPH_NODES.toLocaleString('en-US')} into memory`,
      );
    const src = call(feat.from, 'features', ['csr', 'dense']);
    const pos = src.args.filter((a) => !a.name);
    const norm = src.args.find((a) => a.name?.name === 'normalize')?.value;
    const normalize = norm ? (norm.kind === 'string' ? norm.value : norm.kind === 'name' ? norm.name : '') : 'none';
    if (normalize !== 'row' && normalize !== 'none') fail('FLX4005', norm!.span, '`normalize` is `row` or `none`');
    if (src.callee.kind === 'name' && src.callee.name === 'csr') {
      if (pos.length !== 2)
        fail('FLX3011', src.span, '`csr(indptr, indices)` takes two files: int32 row pointers and int32 column ids');
      spec.features = { indptr: path(pos[0]!.value), indices: path(pos[1]!.value), dim, normalize };
    } else {
      if (pos.length !== 1) fail('FLX3011', src.span, '`dense(file)` takes one file of f32 values');
      spec.features = { dense: path(pos[0]!.value), dim, normalize };
    }
  }
  const edges = items.get('edges');
  if (edges) {
    const src = call(edges.from, 'edges', ['coo']);
    if (src.args.length !== 1) fail('FLX3011', src.span, '`coo(file)` takes one file of int32 (src, dst) pairs');
    spec.edges = { file: path(src.args[0]!.value) };
  }
  if (labels) {
    if (!labels.from) fail('FLX4005', labels.span, 'labels are loaded with `labels: i32[nodes] from "file"`');
    spec.labels = { file: path(labels.from) };
  }
  const split = items.get('split');
  if (split) {
    if (!split.from) fail('FLX4005', split.span, 'the split is loaded with `split from "meta.json"`');
    spec.split = { file: path(split.from) };
  }
  return spec;
}

/** An item that gives a size, not a file: `features: f32[nodes, F]` or `labels: i32[nodes]` alone, `edges: N`,
 * `split: { train: N, val: N, test: N }`. */
const isSize = (it: A.GraphItem): boolean =>
  !it.from && ['features', 'edges', 'labels', 'split'].includes(it.name.name) && !!(it.type || it.value);

/**
 * A graph declared by its sizes alone (features and labels already checked): every item a size, none read from a file;
 * it plans but cannot run.
 */
function sizedGraph(
  g: A.GraphDecl,
  nodes: number,
  items: Map<string, A.GraphItem>,
  sizedBy: A.GraphItem,
  features: number,
): GraphSpec {
  const other = [...items.values()].find((it) => it.name.name !== 'nodes' && !isSize(it));
  if (other)
    fail(
      'FLX4005',
      other.span,
      `graph \`${g.name.name}\` is declared by its sizes (\`${sizedBy.name.name}\` has no file), so it reads no files`,
      'give every item by its size (a graph to plan) or read every one from a file (a graph to run)',
    );
  const whole = (e: A.Expr | undefined, what: string, at: Span, min = 0): number => {
    if (e?.kind !== 'number' || e.unit || !Number.isSafeInteger(e.value) || e.value < min)
      fail('FLX4005', e?.span ?? at, `${what} is a whole number ≥ ${min}`);
    return e.value;
  };
  const labels = items.get('labels');
  if (labels && !labels.type) fail('FLX3002', labels.span, `labels must be i32[nodes] (${nodes})`);
  const edgesItem = items.get('edges');
  const edges = edgesItem ? whole(edgesItem.value, "`edges` (the graph's (src, dst) entries)", edgesItem.span) : 0;
  const split = { train: 0, val: 0, test: 0 };
  const splitItem = items.get('split');
  if (splitItem) {
    const obj = splitItem.value;
    if (obj?.kind !== 'object')
      fail('FLX4005', splitItem.span, 'a split by size is `split: { train: N, val: N, test: N }`');
    for (const f of obj.fields) {
      const k = f.key.name;
      if (k !== 'train' && k !== 'val' && k !== 'test')
        fail('FLX4005', f.key.span, `a split has no part \`${k}\``, didYouMean(k, ['train', 'val', 'test']));
      split[k] = whole(f.value, `\`split.${k}\``, f.span, k === 'train' ? 1 : 0);
    }
    if (split.train + split.val + split.test > nodes)
      fail('FLX4005', obj.span, `the split names ${split.train + split.val + split.test} nodes of ${nodes}`);
  }
  return { name: g.name.name, nodes, sizes: { edges, features, split } };
}

/** The spec of each graph of a program, by name. */
export function graphResolver(program: Program): (name: string) => GraphSpec {
  return (name) => {
    for (const f of program.files.values())
      for (const d of f.ast.decls) if (d.kind === 'graph' && d.name.name === name) return graphSpecOf(d, f);
    throw new Error(`internal: no graph ${name}`);
  };
}

/** FLX6006 at the declaration of a graph the step reads that is declared by its sizes alone (nothing to run on). */
export function sizedGraphRead(program: Program, m: Module): Diagnostic | undefined {
  const read = new Set(graphsRead(m));
  for (const f of program.files.values())
    for (const d of f.ast.decls)
      if (d.kind === 'graph' && read.has(d.name.name) && graphSpecOf(d, f).sizes)
        return diag(
          'FLX6006',
          d.name.span,
          `graph \`${d.name.name}\` is declared by its sizes alone: it can be planned, not run or built`,
          'read its features, edges, labels and split from files (`from …`), or `generate: sbm(…)` a graph to run',
        );
  return undefined;
}
