import type { StageSchedule, TrainingGraph } from '../../compiler/remat/training-graph.ts';

/**
 * Checkmate's memory model walked naively, for the solvers' brute-force tests (checkmate.ts's `replay` is what they
 * check): stage t computes its nodes in order, each result held from its computation; a value is freed after its last
 * use in a stage (computed or read there) unless it is an output or the next stage that touches it reads it without
 * computing it. Undefined when a node's operand is not in memory. Peak includes the leaves.
 */
export function replayNaively(
  g: TrainingGraph,
  stages: StageSchedule,
): { cost: number; recompute: number; peak: number } | undefined {
  const live = new Set<number>();
  const deps = (k: number) => g.nodes[k]!.deps;
  const touches = (s: number[], i: number) => s.some((k) => k === i || deps(k).includes(i));
  const stillNeeded = (i: number, t: number) => {
    if (g.nodes[i]!.output) return true;
    const next = stages.slice(t + 1).find((s) => touches(s, i));
    return next !== undefined && !next.includes(i);
  };
  let bytes = 0;
  let peak = 0;
  let cost = 0;
  for (let t = 0; t < g.nodes.length; t++) {
    const s = stages[t]!;
    if (!s.includes(t)) return undefined;
    for (const [p, k] of s.entries()) {
      if (!deps(k).every((i) => live.has(i))) return undefined;
      cost += g.nodes[k]!.cost;
      if (!live.has(k)) live.add(k), (bytes += g.nodes[k]!.bytes);
      peak = Math.max(peak, bytes);
      for (const i of new Set([k, ...deps(k)]))
        if (!s.slice(p + 1).some((j) => touches([j], i)) && !stillNeeded(i, t))
          live.delete(i), (bytes -= g.nodes[i]!.bytes);
    }
  }
  const base = g.nodes.reduce((a, v) => a + v.cost, 0);
  return { cost, recompute: cost - base, peak: peak + g.leafBytes };
}

/**
 * Of schedules walked (`peak`, `recompute`): the least recompute within each budget where it changes (every distinct
 * peak, ascending), and the least peak.
 */
export function frontier(all: readonly { peak: number; recompute: number }[]) {
  const peaks = [...new Set(all.map((x) => x.peak))].sort((a, b) => a - b);
  const best = (budget: number) => Math.min(...all.filter((x) => x.peak <= budget).map((x) => x.recompute));
  return { least: peaks[0]!, budgets: peaks.map((b) => ({ budget: b, recompute: best(b) })) };
}

/**
 * A random training graph of `forward` activations (the last, the loss, an output) and `backward` gradient nodes, each
 * reading the one before it and a forward activation or two; the last gradient and one other are outputs.
 */
export function randomTrainingGraph(seed: number, forward: number, backward: number): TrainingGraph {
  let s = seed;
  const r = (k: number) => ((s = (s * 1103515245 + 12345) % 2147483648), Math.floor(s / 65536) % k);
  const nodes: TrainingGraph['nodes'] = [];
  for (let i = 0; i < forward; i++) {
    const deps = i === 0 ? [] : [...new Set([i - 1, ...(i > 1 && r(2) ? [r(i - 1)] : [])])].sort((a, b) => a - b);
    nodes.push({
      name: `f${i}`,
      cost: 1 + r(9),
      bytes: 16 * (1 + r(5)),
      deps,
      output: i === forward - 1,
      forward: true,
    });
  }
  const gradOutput = forward + r(backward);
  for (let j = 0; j < backward; j++) {
    const i = forward + j;
    const reads = [r(forward - 1), ...(r(2) ? [r(forward - 1)] : [])];
    const deps = [...new Set([i - 1, ...reads])].sort((a, b) => a - b);
    const output = j === backward - 1 || i === gradOutput;
    nodes.push({ name: `g${j}`, cost: 1 + r(9), bytes: 16 * (1 + r(5)), deps, output, forward: false });
  }
  return { nodes, leafBytes: 64 };
}

/**
 * Every stage schedule: with `activations`, forward stages compute their node alone and a backward stage recomputes
 * any set of forward activations before it; with `any`, a stage recomputes any set of earlier nodes.
 */
export function allStageSchedules(g: TrainingGraph, recompute: 'activations' | 'any'): StageSchedule[] {
  const n = g.nodes.length;
  const choices = (t: number): number[][] => {
    const pool =
      recompute === 'any'
        ? Array.from({ length: t }, (_, i) => i)
        : g.nodes[t]!.forward
          ? []
          : g.nodes.flatMap((v, i) => (v.forward && !v.output ? [i] : []));
    return Array.from({ length: 1 << pool.length }, (_, m) => [...pool.filter((_, b) => m & (1 << b)), t]);
  };
  let out: StageSchedule[] = [[]];
  for (let t = 0; t < n; t++) {
    const cs = choices(t);
    out = out.flatMap((prefix) => cs.map((c) => [...prefix, c]));
  }
  return out;
}

/**
 * The keep-or-recompute-once schedule of a set of dropped forward activations: the first backward stage that reads
 * one recomputes it (and the dropped ones it needs), ascending; nothing is recomputed twice.
 */
export function recomputeOnce(g: TrainingGraph, dropped: ReadonlySet<number>): StageSchedule {
  const done = new Set<number>();
  return g.nodes.map((v, t) => {
    if (v.forward) return [t];
    const rec: number[] = [];
    const need = (i: number) => {
      if (!dropped.has(i) || done.has(i)) return;
      done.add(i);
      rec.push(i);
      g.nodes[i]!.deps.forEach(need);
    };
    v.deps.forEach(need);
    return [...rec.sort((a, b) => a - b), t];
  });
}
