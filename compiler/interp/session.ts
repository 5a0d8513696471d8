import type { Module, Value } from '../ir/graph.ts';
import { leafName } from '../ir/graph.ts';
import type { NDArray } from '../ir/op.ts';
import { graphFeed, loadGraph } from '../../runtime/data/graph.ts';
import type { GraphFeed, GraphSpec } from '../../runtime/data/graph-spec.ts';
import { initTensor, normals, rng, type InitSpec } from '../../runtime/init.ts';
import { runModule, type Precision, type Tensors } from './interpret.ts';

export interface SessionOptions {
  seed: number;
  precision?: Precision;
  /** Resolves the graph named in a `graph:<name>/<feed>` input. */
  graphs: (name: string) => GraphSpec;
}

/**
 * A training or inference session on the CPU reference interpreter: owns parameters and optimizer
 * state, builds feeds (graph data, the step counter, or a fixed seeded synthetic batch) and runs steps.
 */
export class CpuSession {
  readonly params: Tensors = new Map();
  step = 0;
  private readonly synthetic = new Map<string, NDArray>();

  constructor(
    readonly module: Module,
    readonly opts: SessionOptions,
  ) {
    const floats = (n: number) => (opts.precision === 'f64' ? new Float64Array(n) : new Float32Array(n));
    for (const v of module.values) {
      if (v.op !== 'param' && v.op !== 'state') continue;
      const shape = v.type.shape as number[];
      const data = initTensor(v.attrs as unknown as InitSpec, shape, leafName(v), opts.seed, floats(shape.reduce((a, d) => a * d, 1)));
      this.params.set(leafName(v), { data, shape });
    }
  }

  /** Feeds for one run of `m` (the training module, or an evaluation module over the same data). */
  feeds(m: Module, step: number): Tensors {
    const feeds: Tensors = new Map();
    for (const v of m.values) {
      if (v.op !== 'input') continue;
      const name = leafName(v);
      const feed = v.attrs['feed'];
      if (feed === 'step') feeds.set(name, { data: Int32Array.of(step), shape: [] });
      else if (typeof feed === 'string' && feed.startsWith('graph:')) {
        const [g, key] = feed.slice(6).split('/') as [string, GraphFeed];
        const t = graphFeed(loadGraph(this.opts.graphs(g)), key);
        feeds.set(name, { data: this.opts.precision === 'f64' && t.data instanceof Float32Array ? Float64Array.from(t.data) : t.data, shape: t.shape });
      } else feeds.set(name, this.syntheticInput(m, v));
    }
    return feeds;
  }

  /** A seeded batch: floats ~ N(0, 1); integers uniform over the range their consumer accepts. */
  private syntheticInput(m: Module, v: Value): NDArray {
    const name = leafName(v);
    const have = this.synthetic.get(name);
    if (have) return have;
    const shape = v.type.shape as number[];
    const n = shape.reduce((a, d) => a * d, 1);
    const next = rng((this.opts.seed * 7919 + [...name].reduce((a, c) => a * 31 + c.charCodeAt(0), 7)) >>> 0);
    let t: NDArray;
    if (v.type.dtype === 'i32') {
      const range = intRange(m, v);
      t = { data: Int32Array.from({ length: n }, () => Math.floor(next() * range)), shape };
    } else {
      const data = this.opts.precision === 'f64' ? new Float64Array(n) : new Float32Array(n);
      normals(n, next, data);
      t = { data, shape };
    }
    this.synthetic.set(name, t);
    return t;
  }

  /** One training step: returns the module's outputs and applies its updates. */
  run(): Map<string, NDArray> {
    this.step++;
    return runModule(this.module, this.feeds(this.module, this.step), this.params, { precision: this.opts.precision ?? 'f32', step: this.step }).outputs;
  }

  /** Runs another module (e.g. the evaluation graph) on the current parameters, without updating them. */
  evaluate(m: Module): Map<string, NDArray> {
    const frozen: Tensors = new Map(this.params);
    return runModule(m, this.feeds(m, this.step), frozen, { precision: this.opts.precision ?? 'f32', step: this.step }).outputs;
  }
}

/** Valid values of an integer input, from how it is used: gather rows, or cross-entropy classes. */
export function intRange(m: Module, v: Value): number {
  let range = Infinity;
  for (const u of m.values) {
    if (u.op === 'gather' && u.inputs[1] === v) range = Math.min(range, u.inputs[0]!.type.shape[0] as number);
    if (u.op === 'cross_entropy' && u.inputs[1] === v) range = Math.min(range, u.inputs[0]!.type.shape.at(-1) as number);
  }
  return Number.isFinite(range) ? range : 2;
}

/** Fraction of rows of `logits` (at `rows`) whose arg-max equals the label. */
export function accuracy(logits: NDArray, labels: Int32Array, rows: Int32Array): number {
  const c = logits.shape.at(-1)!;
  let hit = 0;
  for (const r of rows) {
    let best = 0;
    for (let j = 1; j < c; j++) if (logits.data[r * c + j]! > logits.data[r * c + best]!) best = j;
    if (best === labels[r]) hit++;
  }
  return rows.length ? hit / rows.length : NaN;
}
