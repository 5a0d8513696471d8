import { replay } from './checkmate.ts';
import type { StageSchedule, TrainingGraph } from './training-graph.ts';

/** Beyond this many droppable activations the greedy gives up (each round replays the step once per activation). */
export const GREEDY_LIMIT = 256;
/** Drops between re-measuring every candidate (between them, only the best by its last score is). */
const REFRESH = 8;

export interface GreedySolution {
  stages: StageSchedule;
  /** Recompute cost and peak bytes (leaves included), replayed in Checkmate's model. */
  recompute: number;
  peak: number;
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
 * Undefined when no set of drops fits, 'too-large' beyond GREEDY_LIMIT.
 */
export function solveGreedy(g: TrainingGraph, budget: number): GreedySolution | undefined | 'too-large' {
  const F = g.nodes.findIndex((v) => !v.forward);
  if (F < 0 || g.nodes.slice(F).some((v) => v.forward)) return 'too-large';
  // the choice is for activations the backward pass reads; the others (intermediates such as a
  // view's source) are recomputed whenever a recomputation needs them
  const readBack = new Set(g.nodes.slice(F).flatMap((v) => v.deps));
  const droppable = g.nodes.flatMap((v, i) => (i < F && !v.output && readBack.has(i) ? [i] : []));
  if (droppable.length > GREEDY_LIMIT) return 'too-large';

  // the backward stage that first needs each dropped activation recomputes it (and the dropped
  // ones it needs), in ascending order
  const there = new Int32Array(g.nodes.length);
  let stamp = 0;
  const schedule = (dropped: Set<number>): StageSchedule => {
    stamp++;
    const stages: StageSchedule = [];
    for (let t = 0; t < g.nodes.length; t++) {
      if (t < F) {
        stages.push([t]);
        continue;
      }
      const rec: number[] = [];
      const stack = g.nodes[t]!.deps.filter((i) => dropped.has(i) && there[i] !== stamp);
      while (stack.length) {
        const i = stack.pop()!;
        if (there[i] === stamp) continue;
        there[i] = stamp;
        rec.push(i);
        for (const d of g.nodes[i]!.deps) if (dropped.has(d) && there[d] !== stamp) stack.push(d);
      }
      stages.push([...rec.sort((a, b) => a - b), t]);
    }
    return stages;
  };
  const evaluate = (dropped: Set<number>) => {
    const stages = schedule(dropped);
    const r = replay(g, stages, { trace: true });
    const over = r.trace!.reduce((a, b) => a + Math.max(0, b - budget), 0);
    return { stages, cost: r.recompute, peak: r.peak, over };
  };

  const dropped = new Set(g.nodes.flatMap((v, i) => (i < F && !v.output && !readBack.has(i) ? [i] : [])));
  let cur = evaluate(dropped);
  const candidate = (i: number) => {
    dropped.add(i);
    const r = evaluate(dropped);
    dropped.delete(i);
    const gain = cur.over - r.over;
    return { i, r, score: gain > 0 ? gain / Math.max(r.cost - cur.cost, 1e-9) : -Infinity };
  };
  type Candidate = ReturnType<typeof candidate>;
  const better = (a: Candidate, b: Candidate | undefined) =>
    !b || a.score > b.score || (a.score === b.score && a.r.cost < b.r.cost);
  // lazy greedy: each candidate's score from when it was last measured; the best by that score is
  // measured again, and taken if it still beats the next one's; every REFRESH drops, all are measured
  const stale = new Map<number, number>();
  let sinceRefresh = REFRESH;
  while (cur.peak > budget) {
    let best: Candidate | undefined;
    const open = droppable.filter((i) => !dropped.has(i));
    if (sinceRefresh >= REFRESH) {
      for (const i of open) {
        const c = candidate(i);
        stale.set(i, c.score);
        if (better(c, best)) best = c;
      }
      sinceRefresh = 0;
    } else {
      const order = open
        .filter((i) => stale.get(i)! > -Infinity)
        .sort((x, y) => stale.get(y)! - stale.get(x)! || x - y);
      for (let k = 0; k < order.length; k++) {
        const c = candidate(order[k]!);
        stale.set(c.i, c.score);
        if (better(c, best)) best = c;
        if (k + 1 === order.length || best!.score >= stale.get(order[k + 1]!)!) break;
      }
    }
    if (!best || best.score === -Infinity) {
      if (sinceRefresh === 0) break;
      sinceRefresh = REFRESH;
      continue;
    }
    dropped.add(best.i);
    cur = best.r;
    sinceRefresh++;
  }
  if (cur.peak > budget) return undefined;
  for (const i of droppable
    .filter((i) => dropped.has(i))
    .sort((a, b) => g.nodes[b]!.cost - g.nodes[a]!.cost || a - b)) {
    dropped.delete(i);
    const r = evaluate(dropped);
    if (r.peak <= budget && r.cost <= cur.cost) cur = r;
    else dropped.add(i);
  }
  return { stages: cur.stages, recompute: cur.cost, peak: cur.peak };
}
