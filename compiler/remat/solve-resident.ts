import type { StageSchedule, TrainingGraph } from './training-graph.ts';

/**
 * Beyond these the resident-set DP gives up (the chain solver still answers): droppable
 * activations, reachable states per stage, kept-or-dropped choices in a stage and (kept, dropped)
 * sets evaluated in all; and how many later stages' reads a stage may recompute ahead of time.
 */
export const RESIDENT_LIMITS = {
  activations: 30,
  statesPerStage: 20_000,
  choices: 12,
  lookahead: 1,
  evaluations: 1_500_000,
};

export interface ResidentSolution {
  stages: StageSchedule;
  /** Recompute cost (the sum of recomputed nodes' costs) and peak bytes, leaves included. */
  recompute: number;
  peak: number;
}

interface Entry {
  cost: number;
  peak: number;
  prev: number;
  recomputed: number[];
}

/**
 * Exact dynamic program for activation checkpointing in Checkmate's model with `recompute:
 * 'activations'` (the forward pass runs once; activations are recomputed in the backward pass from
 * whatever is resident). The state between stages is the set of resident activations, so a value
 * can be kept through part of the backward pass and recomputed later — what a chain of stages
 * cannot express. A backward stage recomputes what its node reads and, optionally, what the next
 * `lookahead` stages read (to move that recomputation's memory to an earlier, emptier stage);
 * afterwards each activation it touched is kept or dropped, and one it did not touch stays (a
 * value is freed only after a use, as in `replay`). Gradients are never recomputed, so their
 * memory at each stage is fixed. Minimizes recompute within `budget` bytes (leaves included), or
 * with `'minimize'` the peak, then recompute. Returns undefined when nothing fits, or 'too-large'
 * beyond `limits`.
 */
export function solveResidentSets(
  g: TrainingGraph,
  budget: number | 'minimize',
  limits = RESIDENT_LIMITS,
): ResidentSolution | undefined | 'too-large' {
  const n = g.nodes.length;
  const F = g.nodes.findIndex((v) => !v.forward);
  if (F < 0 || g.nodes.slice(F).some((v) => v.forward)) return 'too-large';
  const bitOf = new Map<number, number>(); // droppable activation → bit
  for (let i = 0; i < F; i++) if (!g.nodes[i]!.output) bitOf.set(i, bitOf.size);
  if (bitOf.size > limits.activations) return 'too-large';
  const bitBytes = [...bitOf.keys()].map((i) => g.nodes[i]!.bytes);
  const bytes = g.nodes.map((v) => v.bytes);
  const deps = g.nodes.map((v) => v.deps);
  const users: number[][] = g.nodes.map(() => []);
  deps.forEach((ds, j) => ds.forEach((i) => users[i]!.push(j)));
  const lastForwardUse = users.map((us) => Math.max(-1, ...us.filter((j) => j < F)));
  // reach[i]: the last backward node that reads i or an activation computed from it
  const reach = new Array<number>(n).fill(-1);
  for (let i = F - 1; i >= 0; i--) for (const j of users[i]!) reach[i] = Math.max(reach[i]!, j >= F ? j : reach[j]!);
  const lastUse = g.nodes.map((v, i) => (v.output ? Infinity : Math.max(-1, ...users[i]!)));
  // memory every schedule has at stage t: outputs computed before it, gradients still to be read
  const fixed = g.nodes.map((_, t) =>
    g.nodes.reduce((a, v, i) => a + (i < t && (v.output || (i >= F && lastUse[i]! >= t)) ? v.bytes : 0), 0),
  );
  const maskBytes = (mask: number) => {
    let s = 0;
    for (let b = 0; mask >>> b; b++) if (mask & (1 << b)) s += bitBytes[b]!;
    return s;
  };
  const cap = budget === 'minimize' ? Infinity : budget - g.leafBytes;
  const better = (a: Entry, b: Entry | undefined) =>
    !b ||
    (budget === 'minimize'
      ? a.peak < b.peak || (a.peak === b.peak && a.cost < b.cost)
      : a.cost < b.cost || (a.cost === b.cost && a.peak < b.peak));

  let evaluations = 0;
  const starting = new Float64Array(n + 2);
  const layers: Map<number, Entry>[] = [];
  let states = new Map<number, Entry>([[0, { cost: 0, peak: 0, prev: -1, recomputed: [] }]]);
  for (let t = 0; t < n; t++) {
    const next = new Map<number, Entry>();
    const later = t >= F ? [...new Set(g.nodes.slice(t + 1, t + 1 + limits.lookahead).flatMap((v) => v.deps))] : [];

    /** Stage t from a state: recompute what t and `ahead` need, then every way to keep or drop what it touched. */
    const expand = (mask: number, e: Entry, resident: (i: number) => boolean, ahead: number[]): boolean => {
      const recomputed = new Set<number>();
      const need = (i: number) => {
        if (resident(i) || recomputed.has(i)) return;
        recomputed.add(i);
        deps[i]!.forEach(need);
      };
      if (t >= F) deps[t]!.forEach(need);
      ahead.forEach(need);
      const ops = [...recomputed].sort((a, b) => a - b).concat(t);
      const touched = [...new Set(ops.flatMap((k) => [k, ...deps[k]!]))].filter((i) => bitOf.has(i));
      // memory at each op with every touched activation dropped after its last use here
      const lastHere = new Map<number, number>();
      ops.forEach((k, p) => [k, ...deps[k]!].forEach((i) => lastHere.set(i, p)));
      const atOp: number[] = [];
      let cur = fixed[t]! + maskBytes(mask);
      ops.forEach((k, p) => {
        cur += bytes[k]!; // recomputed or new: never resident before
        atOp.push(cur);
        for (const i of touched) if (lastHere.get(i) === p) cur -= bytes[i]!;
      });
      const holdFrom = (i: number, into: number[]) => {
        for (let p = lastHere.get(i)! + 1; p < into.length; p++) into[p]! += bytes[i]!;
      };
      // which touched activations are kept: forced (the forward pass reads them again, or recomputed ahead), free, or
      // dropped
      let forced = mask;
      const free: number[] = [];
      for (const i of touched) {
        const b = 1 << bitOf.get(i)!;
        forced &= ~b;
        if ((t < F && lastForwardUse[i]! > t) || ahead.includes(i)) (forced |= b), holdFrom(i, atOp);
        else if (reach[i]! > t) free.push(i);
      }
      evaluations += 1 << free.length;
      if (free.length > limits.choices || evaluations > limits.evaluations) return false;
      const cost = e.cost + [...recomputed].reduce((a, i) => a + g.nodes[i]!.cost, 0);
      const recomputes = ops.slice(0, -1);
      // a kept free activation adds its bytes at every op after its last use here: per op, the bytes that start
      // there (by subset, with no array made per subset: 2^free subsets per state)
      const bit = free.map((i) => 1 << bitOf.get(i)!);
      const from = free.map((i) => lastHere.get(i)! + 1);
      const add = free.map((i) => bytes[i]!);
      for (let sub = 0; sub < 1 << free.length; sub++) {
        let after = forced;
        starting.fill(0, 0, atOp.length);
        for (let q = 0; q < free.length; q++)
          if (sub & (1 << q)) {
            after |= bit[q]!;
            if (from[q]! < atOp.length) starting[from[q]!] += add[q]!;
          }
        let peak = e.peak;
        let held = 0;
        for (let p = 0; p < atOp.length; p++) {
          held += starting[p]!;
          if (atOp[p]! + held > peak) peak = atOp[p]! + held;
        }
        if (peak > cap) continue;
        const had = next.get(after);
        if (had && !better({ cost, peak, prev: mask, recomputed: recomputes }, had)) continue;
        next.set(after, { cost, peak, prev: mask, recomputed: recomputes });
      }
      return true;
    };

    for (const [mask, e] of states) {
      const resident = (i: number) => !bitOf.has(i) || (mask & (1 << bitOf.get(i)!)) !== 0;
      const missing = later.filter((i) => !resident(i));
      for (let early = 0; early < 1 << missing.length; early++)
        if (
          !expand(
            mask,
            e,
            resident,
            missing.filter((_, q) => early & (1 << q)),
          )
        )
          return 'too-large';
    }
    if (next.size > limits.statesPerStage) return 'too-large';
    if (next.size === 0) return undefined;
    layers.push(next);
    states = next;
  }
  let best: [number, Entry] | undefined;
  for (const s of states) if (!best || better(s[1], best[1])) best = s;
  const stages: StageSchedule = new Array(n);
  let mask = best![0];
  for (let t = n - 1; t >= 0; t--) {
    const e = layers[t]!.get(mask)!;
    stages[t] = [...e.recomputed, t];
    mask = e.prev;
  }
  return { stages, recompute: best![1].cost, peak: best![1].peak + g.leafBytes };
}
