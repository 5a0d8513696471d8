import { LEAF_OPS, leafName, pinnedValues, type Module, type Rows, type Value } from '../ir/graph.ts';
import { shardOf } from '../passes/partition-tensor.ts';
import { writtenInPlace } from '../cost/memory.ts';
import type { FloatArray, NDArray, RefContext } from '../ir/op.ts';
import { getOp } from '../ir/ops/registry.ts';
import { roundTo } from '../ir/ops/cast.ts';
import { sumOverRanks } from '../ir/ops/collective.ts';
import { stagesOf } from '../ir/stages.ts';
import { averagedOver, type DataGroups, peerOf, pipeIndex, rankCount, type RankLayout } from './ranks.ts';

export type Precision = 'f32' | 'f64';

/** Named tensors: inputs fed by the caller, and the parameters and optimizer state that persist across steps. */
export type Tensors = Map<string, NDArray>;

export interface StepResult {
  outputs: Map<string, NDArray>;
  /**
   * With `measure`: the most bytes the rank held at once — its leaves (fed inputs, parameters, state) throughout and
   * each value from when it is computed to its last use, in the order the memory model walks (cost/memory.ts); a
   * value written into its leaf in place (writtenInPlace) holds none of its own.
   */
  peakBytes?: number;
  /** Every value computed, when asked for (for tests and debugging). */
  values?: Map<Value, NDArray>;
}

/**
 * The CPU reference interpreter: runs a module's values in order with each op's reference
 * implementation, then applies its updates to `params`/`state`.
 */
export function runModule(
  m: Module,
  feeds: Tensors,
  params: Tensors,
  opts: { precision?: Precision; step?: number; keepValues?: boolean } = {},
): StepResult {
  return runRanks(m, [{ feeds, params }], [], opts)[0]!;
}

/** A rank of a partitioned program: what it is fed and the parameters (shards) it holds. */
export interface RankData {
  feeds: Tensors;
  params: Tensors;
}

/**
 * The ranks of a partitioned program (one module every rank runs on its own data: SPMD) run in lockstep, value by
 * value, as devices simulated in one process (as XLA's host platform simulates N devices): a collective's result on
 * each rank comes from the operands of the ranks of its group. `groups(v)`: the ranks' groups for collective `v`
 * (lists of rank indices). With `dataGroups` (data parallelism), each gradient the optimizer reads (a `grad:` output)
 * is averaged over the replicas as soon as every rank has it, as DDP's all-reduce does before the update (an expert's
 * over the ranks holding that expert: `averagedOver`). A pipelined
 * program (compiler/ir/stages.ts) runs each value on the ranks of its stage (`layout`: rank r is at pipeline position
 * pipeIndex(r)); a `pp_send`'s result on a receiving rank is its operand on the sending stage's rank of the same
 * tensor slice and replica.
 */
export function runRanks(
  m: Module,
  ranks: RankData[],
  groups: ((v: Value) => number[][]) | [],
  opts: {
    precision?: Precision;
    step?: number;
    keepValues?: boolean;
    dataGroups?: DataGroups;
    layout?: RankLayout;
    measure?: boolean;
  } = {},
): StepResult[] {
  // one rank alone runs every stage (a send is then the identity)
  const st = ranks.length > 1 ? stagesOf(m) : undefined;
  const layout = opts.layout ?? { tensor: ranks.length };
  const pipes = layout.pipeline ?? 1;
  if (st && (rankCount(layout) !== ranks.length || pipes !== st.pipeline))
    throw new Error(`internal: a program pipelined over ${st.pipeline} ranks run without their layout`);
  // whether rank r runs value v: every rank, unless v is on a stage (one pipeline position's ranks run it); a free
  // value (made from inputs alone) runs on the pipeline positions that read it
  const freeOn = new Map<Value, Set<number>>();
  if (st)
    for (let i = m.values.length - 1; i >= 0; i--) {
      const v = m.values[i]!;
      const at = st.stage.has(v) ? new Set([st.stage.get(v)! % pipes]) : freeOn.get(v);
      for (const x of v.inputs)
        if (st.free.has(x)) for (const p of at ?? []) freeOn.set(x, (freeOn.get(x) ?? new Set()).add(p));
    }
  const runs = (v: Value, r: number) => {
    if (!st) return true;
    const s = st.stage.get(v);
    return s === undefined ? !!freeOn.get(v)?.has(pipeIndex(layout, r)) : s % pipes === pipeIndex(layout, r);
  };
  const measure = opts.measure
    ? { inPlace: writtenInPlace(m), live: ranks.map(() => 0), peak: ranks.map(() => 0) }
    : undefined;
  if (measure)
    for (const v of m.values)
      if (LEAF_OPS.has(v.op))
        ranks.forEach((rank, r) => {
          const x = runs(v, r) ? (v.op === 'input' ? rank.feeds : rank.params).get(String(v.attrs['name'])) : undefined;
          if (x) measure.live[r]! += x.data.byteLength;
        });
  // each gradient the optimizer reads, with its leaf's split group (its averaging follows it)
  const splits = new Map(m.values.filter((v) => v.op === 'param').map((v) => [leafName(v), shardOf(v)?.group]));
  const grads = new Map(
    opts.dataGroups
      ? m.outputs.filter((o) => o.name.startsWith('grad:')).map((o) => [o.value, splits.get(o.name.slice(5))])
      : [],
  );
  const precision = opts.precision ?? 'f32';
  const ctx: RefContext = {
    floats: (n: number): FloatArray => (precision === 'f64' ? new Float64Array(n) : new Float32Array(n)),
    step: opts.step ?? 1,
  };
  const envs = ranks.map(() => new Map<Value, NDArray>());
  const lastUse = new Map<Value, number>();
  m.values.forEach((v, i) => v.inputs.forEach((x) => lastUse.set(x, i)));
  const pinned = pinnedValues(m);
  m.values.forEach((v, i) => {
    const def = v.op === 'input' || v.op === 'param' || v.op === 'state' ? undefined : getOp(v.op);
    const results: NDArray[] = [];
    if (def?.collective && typeof groups === 'function')
      for (const g of groups(v).filter((g) => runs(v, g[0]!))) {
        const out = def.collective(
          g.map((r) => v.inputs.map((x) => envs[r]!.get(x)!)),
          v,
        );
        g.forEach((r, k) => {
          results[r] = out[k]!;
        });
      }
    ranks.forEach((rank, r) => {
      if (!runs(v, r)) return;
      const env = envs[r]!;
      let res = results[r];
      if (v.op === 'pp_send' && st) {
        const x = envs[peerOf(layout, r, Number(v.attrs['from']) % pipes)]!.get(v.inputs[0]!)!;
        res = { data: x.data.slice(), shape: x.shape };
      }
      if (v.op === 'input') res = rank.feeds.get(String(v.attrs['name'])) ?? missing('input', v);
      else if (v.op === 'param' || v.op === 'state') res = rank.params.get(String(v.attrs['name'])) ?? missing(v.op, v);
      else {
        res ??= def!.ref(
          v.inputs.map((x) => env.get(x)!),
          v,
          ctx,
        );
        // a collective's sum is rounded to its dtype as a kernel's result is
        if (!(res.data instanceof Int32Array)) roundTo(v.type.dtype, res.data);
      }
      checkShape(v, res);
      env.set(v, res);
      if (measure && !LEAF_OPS.has(v.op) && !measure.inPlace(v)) {
        measure.live[r]! += res.data.byteLength;
        measure.peak[r] = Math.max(measure.peak[r]!, measure.live[r]!);
      }
    });
    if (grads.has(v)) {
      const { groups: all, over } = averagedOver(opts.dataGroups!, grads.get(v));
      for (const g of all.filter((g) => runs(v, g[0]!))) {
        const mean = sumOverRanks(g.map((r) => envs[r]!.get(v)!));
        g.forEach((r, k) => {
          const x = mean[k]!;
          for (let e = 0; e < x.data.length; e++) x.data[e]! /= over;
          if (!(x.data instanceof Int32Array)) roundTo(v.type.dtype, x.data);
          envs[r]!.set(v, x);
        });
      }
    }
    if (!opts.keepValues)
      envs.forEach((env, r) => {
        for (const x of new Set(v.inputs)) {
          if (lastUse.get(x) !== i || pinned.has(x)) continue;
          const held = env.get(x);
          if (measure && held && !LEAF_OPS.has(x.op) && !measure.inPlace(x)) measure.live[r]! -= held.data.byteLength;
          env.delete(x);
        }
      });
  });
  return ranks.map(({ params }, r) => {
    const env = envs[r]!;
    const outputs = new Map<string, NDArray>();
    for (const o of m.outputs)
      if (runs(o.value, r)) outputs.set(o.name, withPart(outputs.get(o.name), env.get(o.value)!, o.rows));
    const updates = new Map<string, NDArray>();
    for (const u of m.updates)
      if (runs(u.value, r))
        updates.set(u.target, withPart(updates.get(u.target) ?? params.get(u.target), env.get(u.value)!, u.rows));
    for (const [k, val] of updates) params.set(k, val);
    const result: StepResult = { outputs, ...(measure ? { peakBytes: measure.peak[r]! } : {}) };
    if (opts.keepValues) result.values = env;
    return result;
  });
}

/**
 * A whole value, or `whole` (a copy, grown to take them) with `part` written at `rows`: an output or update given in
 * parts, assembled.
 */
function withPart(whole: NDArray | undefined, part: NDArray, rows?: Rows): NDArray {
  if (!rows) return part;
  const row = part.shape.slice(1).reduce((a, d) => a * d, 1);
  const n = Math.max(whole?.shape[0] ?? 0, rows[1]);
  const data = new (part.data.constructor as new (n: number) => NDArray['data'])(n * row);
  if (whole) data.set(whole.data.subarray(0, Math.min(whole.data.length, data.length)));
  data.set(part.data, rows[0] * row);
  return { data, shape: [n, ...part.shape.slice(1)] };
}

function missing(what: string, v: Value): never {
  throw new Error(`no ${what} named "${String(v.attrs['name'])}" was provided`);
}

function checkShape(v: Value, r: NDArray): void {
  const want = v.type.shape as number[];
  if (
    r.shape.length !== want.length ||
    r.shape.some((d, i) => d !== want[i]) ||
    r.data.length !== want.reduce((a, d) => a * d, 1)
  )
    throw new Error(
      `internal: ${v.op} "${v.name ?? ''}" produced shape [${r.shape}] (${r.data.length} elements), expected [${want}]`,
    );
}
