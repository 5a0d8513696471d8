import type { Module, Value } from '../ir/graph.ts';
import { leafName } from '../ir/graph.ts';
import type { NDArray } from '../ir/op.ts';
import type { GraphSpec } from '../../runtime/data/graph-spec.ts';
import { feedTensor, type FeedSpec } from '../../runtime/feeds.ts';
import type { TextSpec } from '../../runtime/data/text.ts';
import { initTensor, type InitSpec } from '../../runtime/init.ts';
import { graphFeedOf } from '../../runtime/data/graph-spec.ts';
import { roundTo } from '../ir/ops/cast.ts';
import { TRANSFER_OPS } from '../ir/ops/tier.ts';
import { runModule, type Precision, type Tensors } from './interpret.ts';

export interface SessionOptions {
  seed: number;
  precision?: Precision;
  /** Resolves the graph named in a `graph:<name>/<feed>` input. */
  graphs: (name: string) => GraphSpec;
  /** The plan's text corpus, for `text:` inputs. */
  text?: TextSpec | undefined;
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
      // a master copy starts from its half-precision parameter's numbers
      const data = initTensor(
        v.attrs as unknown as InitSpec,
        shape,
        String(v.attrs['master'] ?? leafName(v)),
        opts.seed,
        floats(shape.reduce((a, d) => a * d, 1)),
      );
      roundTo(v.type.dtype, data);
      this.params.set(leafName(v), { data, shape });
    }
  }

  /** Feeds for one run of `m` (the training module, or an evaluation module over the same data). */
  feeds(m: Module, step: number): Tensors {
    const feeds: Tensors = new Map();
    for (const v of m.values) {
      if (v.op !== 'input') continue;
      const name = leafName(v);
      const have = this.synthetic.get(name);
      if (have) {
        feeds.set(name, have);
        continue;
      }
      const t = feedTensor(
        name,
        v.type.dtype,
        v.type.shape as number[],
        feedOf(m, v),
        step,
        this.opts.seed,
        { graphs: this.opts.graphs, text: this.opts.text },
        this.opts.precision === 'f64',
      );
      if (!(t.data instanceof Int32Array)) roundTo(v.type.dtype, t.data);
      if (feedOf(m, v).kind === 'synthetic') this.synthetic.set(name, t);
      feeds.set(name, t);
    }
    return feeds;
  }

  /** What the last step started from (updates replace parameters, never change them in place). */
  private last?: { feeds: Tensors; params: Tensors; step: number };

  /** One training step: returns the module's outputs and applies its updates. */
  run(): Map<string, NDArray> {
    this.step++;
    const feeds = this.feeds(this.module, this.step);
    this.last = { feeds, params: new Map(this.params), step: this.step };
    return runModule(this.module, feeds, this.params, {
      precision: this.opts.precision ?? 'f32',
      step: this.step,
    }).outputs;
  }

  /**
   * The op where the last step's numbers first stopped being finite: the first value, in program
   * order, holding a NaN or an infinity although none of its operands does (undefined if none).
   */
  firstNonFinite(): Value | undefined {
    if (!this.last) return undefined;
    const { feeds, params, step } = this.last;
    const { values } = runModule(this.module, feeds, new Map(params), {
      precision: this.opts.precision ?? 'f32',
      step,
      keepValues: true,
    });
    const bad = (v: Value) => {
      const d = values!.get(v)?.data;
      return d !== undefined && !(d instanceof Int32Array) && d.some((x) => !Number.isFinite(x));
    };
    return this.module.values.find((v) => bad(v) && !v.inputs.some(bad));
  }

  /** Runs another module (e.g. the evaluation graph) on the current parameters, without updating them. */
  evaluate(m: Module, step = this.step): Map<string, NDArray> {
    const frozen: Tensors = new Map(this.params);
    return runModule(m, this.feeds(m, step), frozen, { precision: this.opts.precision ?? 'f32', step }).outputs;
  }
}

/** Where an input's data comes from: the step counter, a graph, or a synthetic batch. */
export function feedOf(m: Module, v: Value): FeedSpec {
  const feed = v.attrs['feed'];
  const every = v.attrs['every'];
  if (feed === 'step') return typeof every === 'number' ? { kind: 'step', every } : { kind: 'step' };
  if (feed === 'last_micro') return { kind: 'last_micro', every: Number(every) };
  if (typeof feed === 'string' && feed.startsWith('text:')) {
    const [, part, role] = feed.split(':') as [string, 'train' | 'val', 'tokens' | 'targets'];
    return { kind: 'text', part, role };
  }
  const graph = graphFeedOf(feed);
  if (graph) return { kind: 'graph', ...graph };
  return { kind: 'synthetic', range: v.type.dtype === 'i32' ? intRange(m, v) : undefined };
}

/**
 * Valid values of an integer input, from how it is used: gather rows, or cross-entropy classes (read directly or
 * through its copies between memory tiers, which a placement adds).
 */
export function intRange(m: Module, v: Value): number {
  let range = Infinity;
  const copies = new Set<Value>([v]);
  for (const u of m.values) {
    if (TRANSFER_OPS.has(u.op) && copies.has(u.inputs[0]!)) copies.add(u);
    if (u.op === 'gather' && copies.has(u.inputs[1]!)) range = Math.min(range, u.inputs[0]!.type.shape[0] as number);
    if (u.op === 'cross_entropy' && copies.has(u.inputs[1]!))
      range = Math.min(range, u.inputs[0]!.type.shape.at(-1) as number);
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
