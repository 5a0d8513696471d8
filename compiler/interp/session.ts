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
import { runModule, runRanks, type Precision, type StepResult, type Tensors } from './interpret.ts';
import {
  dataGroups,
  dataIndex,
  peerOf,
  rankCount,
  rankGroups,
  type RankLayout,
  shardSlice,
  shardIndex,
  tensorIndex,
} from './ranks.ts';
import { stagesOf } from '../ir/stages.ts';
import { shardOf, wholeShape } from '../passes/partition-tensor.ts';
import { COLLECTIVE_OPS } from '../ir/ops/collective.ts';

export interface SessionOptions {
  seed: number;
  precision?: Precision;
  /** Resolves the graph named in a `graph:<name>/<feed>` input. */
  graphs: (name: string) => GraphSpec;
  /** The plan's text corpus, for `text:` inputs. */
  text?: TextSpec | undefined;
  /**
   * Data-parallel replicas to simulate (the plan's `parallel.data`): each reads its own batch (the text's next, or a
   * synthetic batch of its own), gradients averaged over the replicas before the update.
   */
  data?: number;
  /**
   * Only this rank's parameters (one process of a job launched one rank per GPU: the others' are other processes'); the
   * session then feeds that rank and runs nothing itself.
   */
  only?: number;
}

/**
 * A training or inference session on the CPU reference interpreter: owns parameters and optimizer
 * state, builds feeds (graph data, the step counter, or a fixed seeded synthetic batch) and runs steps.
 */
export class CpuSession {
  /** The parameters and state of the program, or of its rank 0 when it is partitioned (see `ranks`). */
  readonly params: Tensors;
  /**
   * Each rank's, for a partitioned program (its ranks simulated in this process): a rank holds its tensor slice of
   * every leaf; a pipeline stage updates its own, and the others' copies follow after each step.
   */
  readonly ranks: Tensors[];
  readonly layout: RankLayout;
  step = 0;
  private readonly synthetic = new Map<string, NDArray>();

  constructor(
    readonly module: Module,
    readonly opts: SessionOptions,
  ) {
    const floats = (n: number) => (opts.precision === 'f64' ? new Float64Array(n) : new Float32Array(n));
    this.layout = { ...layoutOf(module), data: opts.data ?? 1 };
    this.ranks = Array.from({ length: rankCount(this.layout) }, () => new Map());
    for (const v of module.values) {
      if (v.op !== 'param' && v.op !== 'state') continue;
      // a split parameter starts as its slice of the whole one's numbers (the same model as on one device)
      const split = shardOf(v);
      const shape = wholeShape(v);
      // a master copy starts from its half-precision parameter's numbers
      const data = initTensor(
        v.attrs as unknown as InitSpec,
        shape,
        String(v.attrs['master'] ?? leafName(v)),
        opts.seed,
        floats(shape.reduce((a, d) => a * d, 1)),
      );
      roundTo(v.type.dtype, data);
      this.ranks.forEach((p, r) => {
        if (opts.only !== undefined && r !== opts.only) return;
        p.set(
          leafName(v),
          split ? shardSlice({ data, shape }, split, shardIndex(this.layout, r, split.group)) : { data, shape },
        );
      });
    }
    this.params = this.ranks[0]!;
  }

  /**
   * Runs `m` on every rank, updating `held` (each rank's parameters); the outputs as one device would give them (a
   * scalar such as the loss averaged over the replicas, any other output replica 0's).
   */
  private runAll(m: Module, step: number, held: Tensors[], keepValues = false, given?: Tensors): StepResult {
    const opts = { precision: this.opts.precision ?? 'f32', step, keepValues };
    const replicas = [...Array(this.layout.data ?? 1).keys()].map((d) => given ?? this.feeds(m, step, d));
    if (held.length === 1) return runModule(m, replicas[0]!, held[0]!, opts);
    const ranks = held.map((params, r) => ({ feeds: replicas[dataIndex(this.layout, r)]!, params }));
    const each = runRanks(m, ranks, rankGroups(this.layout), {
      ...opts,
      layout: this.layout,
      ...((this.layout.data ?? 1) > 1 ? { dataGroups: dataGroups(this.layout) } : {}),
    });
    // a pipeline: each stage's leaves as its ranks updated them, on every rank; each output from the stage making it
    const st = stagesOf(m);
    if (st) {
      const leaves = new Map(m.values.filter((v) => v.op === 'param' || v.op === 'state').map((v) => [leafName(v), v]));
      for (const u of m.updates) {
        const owner = st.stage.get(leaves.get(u.target)!)! % st.pipeline;
        held.forEach((p, r) => p.set(u.target, held[peerOf(this.layout, r, owner)]!.get(u.target)!));
      }
    }
    const outputs = new Map<string, NDArray>();
    const values = new Map<Value, NDArray>();
    const sums = new Map<string, number[]>();
    each.forEach((e, r) => {
      for (const [k, x] of e.outputs) {
        if (!outputs.has(k)) outputs.set(k, x);
        // each replica's scalar once (from its first rank holding it)
        if (x.shape.length === 0 && tensorIndex(this.layout, r) === 0)
          sums.set(k, [...(sums.get(k) ?? []), x.data[0]!]);
      }
      for (const [k, x] of e.values ?? []) if (!values.has(k)) values.set(k, x);
    });
    for (const [k, xs] of sums)
      if (xs.length > 1) {
        const data = new (outputs.get(k)!.data.constructor as new (n: number) => NDArray['data'])(1);
        data[0] = xs.reduce((a, x) => a + x, 0) / xs.length;
        outputs.set(k, { data, shape: [] });
      }
    return keepValues ? { outputs, values } : { outputs };
  }

  /** Feeds for one run of `m` (the training module, or an evaluation module over the same data). */
  feeds(m: Module, step: number, replica = 0): Tensors {
    const feeds: Tensors = new Map();
    const replicas = this.layout.data ?? 1;
    for (const v of m.values) {
      if (v.op !== 'input') continue;
      const name = leafName(v);
      const key = replica ? `${name}@${replica}` : name;
      const have = this.synthetic.get(key);
      if (have) {
        feeds.set(name, have);
        continue;
      }
      const feed = feedOf(m, v);
      // replica d of D reads the text's batch (step − 1) · D + d + 1 and its own synthetic batch
      const t = feedTensor(
        name,
        v.type.dtype,
        v.type.shape as number[],
        feed,
        feed.kind === 'text' ? (step - 1) * replicas + replica + 1 : step,
        this.opts.seed + 7919 * replica,
        { graphs: this.opts.graphs, text: this.opts.text },
        this.opts.precision === 'f64',
      );
      if (!(t.data instanceof Int32Array)) roundTo(v.type.dtype, t.data);
      if (feed.kind === 'synthetic') this.synthetic.set(key, t);
      feeds.set(name, t);
    }
    return feeds;
  }

  /** What the last step started from (updates replace parameters, never change them in place). */
  private last?: { ranks: Tensors[]; step: number };

  /** One training step: returns the module's outputs and applies its updates. */
  run(): Map<string, NDArray> {
    this.step++;
    this.last = { ranks: this.ranks.map((p) => new Map(p)), step: this.step };
    return this.runAll(this.module, this.step, this.ranks).outputs;
  }

  /**
   * The op where the last step's numbers first stopped being finite: the first value, in program
   * order, holding a NaN or an infinity although none of its operands does (undefined if none).
   */
  firstNonFinite(): Value | undefined {
    if (!this.last) return undefined;
    const { ranks, step } = this.last;
    const { values } = this.runAll(
      this.module,
      step,
      ranks.map((p) => new Map(p)),
      true,
    );
    const bad = (v: Value) => {
      const d = values!.get(v)?.data;
      return d !== undefined && !(d instanceof Int32Array) && d.some((x) => !Number.isFinite(x));
    };
    return this.module.values.find((v) => bad(v) && !v.inputs.some(bad));
  }

  /** Runs another module (e.g. the evaluation graph) on the current parameters, without updating them. */
  evaluate(m: Module, step = this.step): Map<string, NDArray> {
    return this.runAll(
      m,
      step,
      this.ranks.map((p) => new Map(p)),
    ).outputs;
  }

  /** `evaluate` with the feeds given (every replica the same). */
  evaluateOn(m: Module, feeds: Tensors, step = this.step): Map<string, NDArray> {
    const frozen = this.ranks.map((p) => new Map(p));
    return this.runAll(m, step, frozen, false, feeds).outputs;
  }
}

/** The ranks a module's collectives over `group` run over (1: none). */
export const ranksOf = (m: Module, group = 'tensor'): number =>
  m.values.reduce(
    (a, v) => (COLLECTIVE_OPS.has(v.op) && v.attrs['group'] === group ? Math.max(a, Number(v.attrs['ranks'])) : a),
    1,
  );

/**
 * The ranks a partitioned module runs on: its collectives' tensor ranks, times its pipeline's (and the groups of
 * replicas its experts are split over; the replicas are the plan's).
 */
export const layoutOf = (m: Module): RankLayout => {
  const expert = ranksOf(m, 'expert');
  return {
    tensor: ranksOf(m),
    pipeline: Number(m.values.find((v) => v.op === 'pp_send')?.attrs['pipeline'] ?? 1),
    ...(expert > 1 ? { expert } : {}),
  };
};

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
    // split by classes over the ranks (partition-vocab): the whole vocabulary's
    const classes = (axis: number) =>
      Number(u.attrs['classes'] ?? (u.inputs[0]!.type.shape.at(axis) as number) * Number(u.attrs['ranks']));
    if (u.op === 'vp_embed' && copies.has(u.inputs[1]!)) range = Math.min(range, classes(0));
    if (u.op === 'vp_cross_entropy' && copies.has(u.inputs[1]!)) range = Math.min(range, classes(-1));
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
