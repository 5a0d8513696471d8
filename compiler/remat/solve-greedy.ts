import { allocatedBytes } from '../codegen/memory.ts';
import type { OffGpuTier } from '../ir/ops/tier.ts';
import { exposedMoves } from '../cost/transfer.ts';
import { replay } from './replay.ts';
import type { StageSchedule, TrainingGraph } from './training-graph.ts';

/**
 * The tiers besides the GPU an activation may wait in for the backward pass: each with its capacity (bytes of its
 * arena) and what moving bytes costs, in the units of a node's cost (FLOP-equivalents: the GPU's work in the time the
 * copy takes).
 */
export interface TierChoice {
  tiers: { tier: OffGpuTier; capacity: number }[];
  moveCost(bytes: number, tier: OffGpuTier, down: boolean): number;
  /** Whether recomputing is a choice too (not under `checkpoint: none`). */
  recompute?: boolean;
}

/**
 * Where activations wait for the backward pass: `stages` (Checkmate's, with each moved activation in the stage of
 * its first backward reader, where it is reloaded) and the tier each moved one waits in.
 */
export interface Placement {
  stages: StageSchedule;
  moved: Map<number, OffGpuTier>;
}

/**
 * Beyond this many droppable activations, or ops in the step, the greedy gives up (each round replays the step once
 * per choice it weighs); the sweep (solveSweep) places larger steps.
 */
export const GREEDY_LIMIT = 256;
const GREEDY_OPS = 600;
/** Drops between re-measuring every candidate (between them, only the best by its last score is). */
const REFRESH = 8;

export interface GreedySolution extends Placement {
  /** Recompute cost and peak bytes (leaves included), replayed in Checkmate's model. */
  recompute: number;
  peak: number;
  /** Recompute plus the copies' cost not hidden behind compute (exposedMoves). */
  cost: number;
}

/**
 * Chooses, per activation, whether the forward pass keeps it for the backward pass or the backward
 * pass recomputes it once, at its first use there, and holds it to its last. This is what a chain of
 * stages cannot say: a block whose cheap activations (norms, views, softmax) are recomputed while
 * its matmul outputs are kept. Greedy: drop the activation that removes the most memory over the
 * budget (summed over the step) per unit of added recompute (lazily: a candidate's last score
 * stands until it reaches the top, and all are measured again every REFRESH drops), until the step
 * fits; then keep again, costliest first, every dropped one the budget allows. Every candidate is
 * measured by replaying it (`replay`), so the answer's peak is exact in Checkmate's model.
 * With `tiers`, an activation may instead be offloaded to host memory or the SSD after the forward pass makes it and
 * reloaded at its first backward reader: the same greedy over (activation, keep elsewhere) choices, each scored by
 * memory removed per unit of added cost, where the cost of a move is what its copy adds to the step beyond the
 * compute it overlaps (FlexGNN's keep / offload / recompute per intermediate), within each tier's capacity; so may a
 * backward value that waits for a reader further on (offloaded when made, reloaded at its first reader).
 * Undefined when no set of choices fits, 'too-large' beyond GREEDY_LIMIT.
 */
export function solveGreedy(
  g: TrainingGraph,
  budget: number,
  tiers?: TierChoice,
): GreedySolution | undefined | 'too-large' {
  const F = g.nodes.findIndex((v) => !v.forward);
  if (F < 0 || g.nodes.length > GREEDY_OPS || g.nodes.slice(F).some((v) => v.forward)) return 'too-large';
  // the choice is for activations the backward pass reads; the others (intermediates such as a
  // view's source) are recomputed whenever a recomputation needs them
  const readBack = new Set(g.nodes.slice(F).flatMap((v) => v.deps));
  const droppable = g.nodes.flatMap((v, i) => (i < F && !v.output && readBack.has(i) ? [i] : []));
  if (droppable.length > GREEDY_LIMIT) return 'too-large';
  // no schedule holds less than an op's operands, its result and the leaves at once
  const least = g.nodes.reduce(
    (a, v) => Math.max(a, v.bytes + v.deps.reduce((b, i) => b + g.nodes[i]!.bytes, 0) + g.leafBytes),
    0,
  );
  if (budget < least) return undefined;
  // A moved value is reloaded by each reader that follows a gap (the first backward reader of an activation, and
  // any reader more than one op after the value's previous use): between those runs of readers it waits off the GPU.
  // Backward values move too (a gradient held while another branch's is computed), but are never recomputed.
  const reloads: Set<number>[] = g.nodes.map(() => new Set());
  const lastUse = Int32Array.from(g.nodes, (_, i) => i);
  g.nodes.forEach((v, t) =>
    v.deps.forEach((i) => {
      if (t > lastUse[i]! + 1 || (i < F && t >= F && lastUse[i]! < F)) reloads[i]!.add(t);
      lastUse[i] = t;
    }),
  );
  // values that only move: backward ones, and forward ones the backward pass does not read (a block of a graph's
  // features between the row blocks that read it)
  const waiting = tiers
    ? g.nodes
        .flatMap((v, i) => ((i >= F || !readBack.has(i)) && !v.output && reloads[i]!.size ? [i] : []))
        .slice(0, GREEDY_LIMIT)
    : [];

  const schedule = recomputeStages(g, F, reloads);
  const forwardCost = g.nodes.slice(0, F).reduce((a, v) => a + v.cost, 0);
  const backwardCost = g.nodes.slice(F).reduce((a, v) => a + v.cost, 0);
  const moved = new Map<number, OffGpuTier>();
  const held = (tier: OffGpuTier) =>
    [...moved].reduce((a, [i, t]) => a + (t === tier ? allocatedBytes(g.nodes[i]!.bytes) : 0), 0);
  const evaluate = (dropped: Set<number>) => {
    const stages = schedule(dropped, moved);
    const r = replay(g, stages, { trace: true, reloaded: new Set(moved.keys()) });
    const over = r.trace!.reduce((a, b) => a + Math.max(0, b - budget), 0);
    let [down, up] = [0, 0];
    for (const [i, tier] of moved) down += tiers!.moveCost(g.nodes[i]!.bytes, tier, true);
    stages.forEach((st, t) => {
      for (const i of st) if (i !== t && moved.has(i)) up += tiers!.moveCost(g.nodes[i]!.bytes, moved.get(i)!, false);
    });
    const exposed = moved.size ? exposedMoves(forwardCost, backwardCost + r.recompute, down, up) : 0;
    return { stages, recompute: r.recompute, cost: r.recompute + exposed, peak: r.peak, over };
  };
  type Choice = { i: number; tier?: OffGpuTier };
  const take = (c: Choice) => (c.tier ? moved.set(c.i, c.tier) : dropped.add(c.i));
  const undo = (c: Choice) => (c.tier ? moved.delete(c.i) : dropped.delete(c.i));
  const chosen = (i: number) => dropped.has(i) || moved.has(i);
  const room = (c: Choice) =>
    !c.tier ||
    held(c.tier) + allocatedBytes(g.nodes[c.i]!.bytes) <= tiers!.tiers.find((t) => t.tier === c.tier)!.capacity;
  const choices = (i: number): Choice[] => [
    ...(tiers?.recompute === false || i >= F || !readBack.has(i) ? [] : [{ i }]),
    ...(tiers?.tiers ?? []).map((t) => ({ i, tier: t.tier })),
  ];
  const keyOf = (c: Choice) => `${c.i}:${c.tier ?? ''}`;

  const dropped = new Set(g.nodes.flatMap((v, i) => (i < F && !v.output && !readBack.has(i) ? [i] : [])));
  let cur = evaluate(dropped);
  const candidate = (c: Choice) => {
    if (!room(c)) return { c, r: cur, score: -Infinity };
    take(c);
    const r = evaluate(dropped);
    undo(c);
    const gain = cur.over - r.over;
    return { c, r, score: gain > 0 ? gain / Math.max(r.cost - cur.cost, 1e-9) : -Infinity };
  };
  type Candidate = ReturnType<typeof candidate>;
  const better = (a: Candidate, b: Candidate | undefined) =>
    !b || a.score > b.score || (a.score === b.score && a.r.cost < b.r.cost);
  // lazy greedy: each candidate's score from when it was last measured; the best by that score is
  // measured again, and taken if it still beats the next one's; every REFRESH drops, all are measured
  const stale = new Map<string, number>();
  let sinceRefresh = REFRESH;
  while (cur.peak > budget) {
    let best: Candidate | undefined;
    const open = [...droppable.filter((i) => !chosen(i)), ...waiting.filter((i) => !moved.has(i))].flatMap(choices);
    if (sinceRefresh >= REFRESH) {
      for (const o of open) {
        const c = candidate(o);
        stale.set(keyOf(o), c.score);
        if (better(c, best)) best = c;
      }
      sinceRefresh = 0;
    } else {
      const order = open
        .filter((o) => stale.get(keyOf(o))! > -Infinity)
        .sort((x, y) => stale.get(keyOf(y))! - stale.get(keyOf(x))! || x.i - y.i);
      for (let k = 0; k < order.length; k++) {
        const c = candidate(order[k]!);
        stale.set(keyOf(c.c), c.score);
        if (better(c, best)) best = c;
        if (k + 1 === order.length || best!.score >= stale.get(keyOf(order[k + 1]!))!) break;
      }
    }
    if (!best || best.score === -Infinity) {
      if (sinceRefresh === 0) break;
      sinceRefresh = REFRESH;
      continue;
    }
    take(best.c);
    cur = best.r;
    sinceRefresh++;
  }
  if (cur.peak > budget) return undefined;
  // keep on the GPU again, costliest first, every choice the budget allows (moves before recomputations)
  const undoable = [
    ...[...moved].map(([i, tier]) => ({ i, tier, w: tiers!.moveCost(g.nodes[i]!.bytes, tier, true) })),
    ...droppable.filter((i) => dropped.has(i)).map((i) => ({ i, w: g.nodes[i]!.cost })),
  ].sort((a, b) => b.w - a.w || a.i - b.i);
  for (const c of undoable) {
    undo(c);
    const r = evaluate(dropped);
    if (r.peak <= budget && r.cost <= cur.cost) cur = r;
    else take(c);
  }
  return { stages: cur.stages, moved: new Map(moved), recompute: cur.recompute, cost: cur.cost, peak: cur.peak };
}

/**
 * Stage schedules that keep every activation but the dropped ones: the backward stage that first needs a dropped
 * activation recomputes it (and the dropped ones it needs), in ascending order; a moved one (`moved`) is reloaded by
 * the readers `reloads` lists for it instead.
 */
export function recomputeStages(
  g: TrainingGraph,
  F: number,
  reloads: ReadonlySet<number>[] = g.nodes.map(() => new Set()),
): (dropped: ReadonlySet<number>, moved?: ReadonlyMap<number, OffGpuTier>) => StageSchedule {
  const there = new Int32Array(g.nodes.length);
  let stamp = 0;
  return (dropped, moved = new Map()) => {
    stamp++;
    const stages: StageSchedule = [];
    for (let t = 0; t < g.nodes.length; t++) {
      const rec: number[] = [];
      const reload = (i: number) => !rec.includes(i) && rec.push(i);
      for (const i of g.nodes[t]!.deps) if (moved.has(i) && reloads[i]!.has(t)) reload(i);
      if (t < F) {
        stages.push([...rec.sort((a, b) => a - b), t]);
        continue;
      }
      const stack = g.nodes[t]!.deps.filter((i) => dropped.has(i) && there[i] !== stamp);
      while (stack.length) {
        const i = stack.pop()!;
        if (there[i] === stamp) continue;
        there[i] = stamp;
        rec.push(i);
        for (const d of g.nodes[i]!.deps) {
          if (there[d] === stamp) continue;
          if (dropped.has(d)) stack.push(d);
          else if (moved.has(d)) reload(d); // a recomputation reads a moved activation
        }
      }
      stages.push([...rec.sort((a, b) => a - b), t]);
    }
    return stages;
  };
}
