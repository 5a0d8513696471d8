import type { StageSchedule, TrainingGraph } from './training-graph.ts';

/**
 * Replays a stage schedule in Checkmate's memory model: a stage starts with the values kept from
 * the previous one, computes its nodes in order and frees a value after its last use in the stage
 * unless a later stage reads it before recomputing it; outputs stay. Throws when a node's operand
 * is not there. Returns the total cost and the peak bytes (leaves included), and with `trace` the
 * bytes after each computation. `reloaded`: nodes that a later stage brings back from host memory or the SSD
 * instead of recomputing them (free in cost, reading nothing).
 */
export function replay(
  g: TrainingGraph,
  stages: StageSchedule,
  opts: { trace?: boolean; reloaded?: ReadonlySet<number> } = {},
): { cost: number; recompute: number; peak: number; trace?: number[] } {
  // a reloaded node in a later stage comes back from another tier: no cost, and it reads nothing
  const reads = (k: number, t: number) => (k !== t && opts.reloaded?.has(k) ? [] : g.nodes[k]!.deps);
  const n = g.nodes.length;
  // touches[i]: the stages that compute i or one of its users, ascending; computes[i]: whether each computes i
  const touches: number[][] = g.nodes.map(() => []);
  const computes: boolean[][] = g.nodes.map(() => []);
  const seenIn = new Int32Array(n).fill(-1);
  const memberOf = new Int32Array(n).fill(-1);
  for (let t = 0; t < stages.length; t++) {
    const s = stages[t]!;
    for (const k of s) memberOf[k] = t;
    for (const k of s) {
      if (seenIn[k] !== t) (seenIn[k] = t), touches[k]!.push(t), computes[k]!.push(true);
      for (const i of reads(k, t))
        if (seenIn[i] !== t) (seenIn[i] = t), touches[i]!.push(t), computes[i]!.push(memberOf[i] === t);
    }
  }
  const next = new Int32Array(n);
  // whether i must stay after stage t: an output, or read by a later stage before it is recomputed
  const neededAfter = (i: number, t: number) => {
    if (g.nodes[i]!.output) return true;
    const ts = touches[i]!;
    while (next[i]! < ts.length && ts[next[i]!]! <= t) next[i]!++;
    return next[i]! < ts.length && !computes[i]![next[i]!];
  };
  const live = new Uint8Array(n);
  const lastAt = new Int32Array(n);
  let cost = 0;
  let peak = 0;
  let bytes = 0;
  const trace: number[] = [];
  for (let t = 0; t < n; t++) {
    const s = stages[t];
    if (!s?.includes(t)) throw new Error(`stage ${t} does not compute node ${t}`);
    for (let at = 0; at < s.length; at++) {
      lastAt[s[at]!] = at;
      for (const i of reads(s[at]!, t)) lastAt[i] = at;
    }
    for (let at = 0; at < s.length; at++) {
      const k = s[at]!;
      const v = g.nodes[k]!;
      const deps = reads(k, t);
      for (const i of deps)
        if (!live[i]) throw new Error(`stage ${t}: ${v.name} needs ${g.nodes[i]!.name}, which is not in memory`);
      if (deps === v.deps) cost += v.cost;
      if (!live[k]) (live[k] = 1), (bytes += v.bytes);
      if (bytes > peak) peak = bytes;
      if (opts.trace) trace.push(bytes + g.leafBytes);
      if (live[k] && lastAt[k] === at && !neededAfter(k, t)) (live[k] = 0), (bytes -= v.bytes);
      for (const i of deps)
        if (live[i] && lastAt[i] === at && !neededAfter(i, t)) (live[i] = 0), (bytes -= g.nodes[i]!.bytes);
    }
  }
  const base = g.nodes.reduce((a, v) => a + v.cost, 0);
  return { cost, recompute: cost - base, peak: peak + g.leafBytes, ...(opts.trace ? { trace } : {}) };
}

/** Peak bytes with every node computed once (no recomputation). */
export const peakWithout = (g: TrainingGraph) =>
  replay(
    g,
    g.nodes.map((_, t) => [t]),
  ).peak;
