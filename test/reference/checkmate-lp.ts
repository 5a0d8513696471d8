import type { TrainingGraph } from '../../compiler/remat/training-graph.ts';

/** A 0/1 variable's name, or the constant it is fixed to. */
type Bit = string | 0 | 1;

/** A linear row Σ c·x + k, with fixed bits folded into k. */
class Row {
  readonly terms = new Map<string, number>();
  k = 0;
  add(c: number, x: Bit): this {
    if (typeof x === 'number') this.k += c * x;
    else this.terms.set(x, (this.terms.get(x) ?? 0) + c);
    return this;
  }
  text(): string {
    const parts = [...this.terms]
      .filter(([, c]) => c !== 0)
      .map(([x, c]) => `${c < 0 ? '-' : '+'} ${fmt(Math.abs(c))} ${x}`);
    return parts.join(' ');
  }
}

const fmt = (x: number) => (Number.isInteger(x) ? String(x) : x.toPrecision(12));

/** An LP being written: the objective, the rows, the bounds and the binary variables used. */
class LpWriter {
  readonly obj = new Row();
  readonly rows: string[] = [];
  readonly bounds: string[] = [];
  private readonly bins = new Set<string>();
  constructor(private readonly what: string) {}
  /** A bit, declared binary when it is a variable. */
  bit(x: Bit): Bit {
    if (typeof x === 'string') this.bins.add(x);
    return x;
  }
  /** Emits `row ≤ rhs`; a row of constants only must already hold. */
  le(row: Row, rhs: number): void {
    const text = row.text();
    if (!text) {
      if (row.k > rhs + 1e-9) throw new Error(`${this.what}: a fixed row does not hold`);
      return;
    }
    this.rows.push(`${text} <= ${fmt(rhs - row.k)}`);
  }
  /**
   * Stage t's rows every formulation has: a node computed needs its operands computed or kept; a node kept into t+1 was
   * computed or kept in t.
   */
  stageRows(g: TrainingGraph, t: number, R: (t: number, i: number) => Bit, S: (t: number, i: number) => Bit): void {
    for (let j = 0; j <= t; j++)
      if (R(t, j) !== 0)
        for (const i of g.nodes[j]!.deps)
          this.le(
            new Row()
              .add(1, this.bit(R(t, j)))
              .add(-1, this.bit(R(t, i)))
              .add(-1, this.bit(S(t, i))),
            0,
          );
    if (t + 1 < g.nodes.length)
      for (let i = 0; i <= t; i++)
        this.le(
          new Row()
            .add(1, this.bit(S(t + 1, i)))
            .add(-1, this.bit(R(t, i)))
            .add(-1, this.bit(S(t, i))),
          0,
        );
  }
  text(): string {
    const bounds = this.bounds.length ? ['Bounds', ...this.bounds.map((b) => ` ${b}`)] : [];
    return [
      'Minimize',
      ` obj: ${this.obj.text() || '0 R_0_0'}`,
      'Subject To',
      ...this.rows.map((r, i) => ` c${i}: ${r}`),
      ...bounds,
      'Binary',
      ...[...this.bins].map((b) => ` ${b}`),
      'End',
      '',
    ].join('\n');
  }
}

/**
 * Which R_t_i (node i computed in stage t) and S_t_i (i resident entering stage t) can be 1. With
 * `'activations'` the forward pass runs once, a backward stage may recompute forward nodes, a
 * gradient is held from its stage to its last use, and nothing is held past its last possible use
 * (dropping it never costs anything): most bits are fixed, which is what keeps the MILP small.
 */
export function bitsOf(g: TrainingGraph, recompute: 'activations' | 'any') {
  const n = g.nodes.length;
  const users: number[][] = g.nodes.map(() => []);
  g.nodes.forEach((v, j) => v.deps.forEach((i) => users[i]!.push(j)));
  // lastNeed[i]: the last stage that may read i (directly, or to recompute a forward user of i)
  const lastNeed: number[] = new Array(n).fill(-1);
  for (let i = n - 1; i >= 0; i--) {
    if (g.nodes[i]!.output) lastNeed[i] = n;
    for (const j of users[i]!)
      lastNeed[i] = Math.max(lastNeed[i]!, j, recompute === 'activations' && g.nodes[j]!.forward ? lastNeed[j]! : j);
  }
  const R = (t: number, i: number): Bit => {
    if (i === t) return 1;
    if (i > t) return 0;
    if (recompute === 'activations' && (g.nodes[t]!.forward || !g.nodes[i]!.forward)) return 0;
    return `R_${t}_${i}`;
  };
  const S = (t: number, i: number): Bit => {
    if (i >= t || t >= n) return 0;
    if (g.nodes[i]!.output) return 1;
    if (recompute !== 'activations') return t === 0 ? 0 : `S_${t}_${i}`;
    if (t > lastNeed[i]!) return 0;
    if (!g.nodes[i]!.forward) return 1;
    return `S_${t}_${i}`;
  };
  return { R, S, users };
}

/**
 * Checkmate's MILP (Jain et al. 2020, frontier-advancing stages) in CPLEX LP format: R_t_i
 * (node i computed in stage t), S_t_i (i kept into stage t), F_t_i_k (i freed after k in stage t)
 * and U_t_k (bytes after computing k in stage t); minimizes the total cost subject to
 * U ≤ budget − leaf bytes (or, with `'minimize'`, the least peak any schedule reaches). Sizes are
 * in `unit` bytes and costs in `costUnit`. `'activations'` is the problem activation checkpointing
 * solves (see bitsOf); `'any'` is Checkmate's own, which may also recompute during the forward pass
 * and recompute gradients.
 */
export function checkmateLp(
  g: TrainingGraph,
  budget: number | 'minimize',
  unit: number,
  costUnit: number,
  recompute: 'activations' | 'any' = 'activations',
): string {
  const n = g.nodes.length;
  const { R, S, users } = bitsOf(g, recompute);
  const M = (i: number) => g.nodes[i]!.bytes / unit;
  const cap = budget === 'minimize' ? undefined : (budget - g.leafBytes) / unit;
  const lp = new LpWriter('checkmateLp');
  const bit = (x: Bit) => lp.bit(x);
  for (let t = 0; t < n; t++) {
    for (let i = 0; i <= t; i++)
      if (cap !== undefined && g.nodes[i]!.cost > 0) lp.obj.add(g.nodes[i]!.cost / costUnit, bit(R(t, i)));
    const computed = Array.from({ length: t + 1 }, (_, k) => k).filter((k) => R(t, k) !== 0);
    lp.stageRows(g, t, R, S);
    // memory: U after computing k = U after the previous computed op, less what it freed, + M_k R_t_k
    let prev: { k: number; freed: Row } | undefined;
    for (const k of computed) {
      const u = `U_${t}_${k}`;
      const row = new Row().add(1, u).add(-M(k), bit(R(t, k)));
      if (prev) {
        row.add(-1, `U_${t}_${prev.k}`);
        prev.freed.terms.forEach((c, f) => row.add(c, f));
      } else for (let i = 0; i < t; i++) row.add(-M(i), bit(S(t, i)));
      lp.rows.push(`${row.text()} = ${fmt(row.k === 0 ? 0 : -row.k)}`);
      if (cap !== undefined) lp.bounds.push(`0 <= ${u} <= ${fmt(cap)}`);
      else lp.rows.push(`${u} - P <= 0`);
      const freed = new Row();
      for (const i of new Set([k, ...g.nodes[k]!.deps])) {
        if (g.nodes[i]!.output) continue;
        const later = users[i]!.filter((j) => j > k && j <= t)
          .map((j) => R(t, j))
          .filter((x) => x !== 0);
        const keep = S(t + 1, i);
        if (keep === 1 || later.includes(1)) continue;
        const f = bit(`F_${t}_${i}_${k}`);
        const kappa = 2 + later.length;
        const hazard = new Row()
          .add(-1, bit(R(t, k)))
          .add(1, bit(keep))
          .add(kappa, f);
        for (const x of later) hazard.add(1, bit(x));
        lp.le(hazard, kappa - 1);
        freed.add(M(i), f);
      }
      prev = { k, freed };
    }
  }
  if (cap === undefined) lp.obj.add(1, 'P');
  return lp.text();
}

/**
 * A relaxation of checkmateLp (`'activations'`) without the free variables: R and S only, with
 * memory bounded at two kinds of moments every schedule has — when a stage's own node t is
 * computed (t, its operands and whatever is carried into stage t+1, all computed by then), and when
 * a recomputation k is (k, its operands, t's operands that exist by then and what is carried into
 * t+1 from before k). Every schedule feasible in Checkmate's model is feasible here, so its
 * optimum is a lower bound on Checkmate's; when its schedule also replays within the budget, it is
 * Checkmate's optimum. Far smaller than the full MILP (no F or U), so HiGHS solves whole
 * transformer blocks.
 */
export function checkmateRelaxedLp(g: TrainingGraph, budget: number, unit: number, costUnit: number): string {
  const n = g.nodes.length;
  const { R, S } = bitsOf(g, 'activations');
  const M = (i: number) => g.nodes[i]!.bytes / unit;
  const cap = (budget - g.leafBytes) / unit;
  const bigM = g.nodes.reduce((a, _, i) => a + M(i), 0);
  const lp = new LpWriter('checkmateRelaxedLp');
  const bit = (x: Bit) => lp.bit(x);
  for (let t = 0; t < n; t++) {
    for (let i = 0; i <= t; i++) if (g.nodes[i]!.cost > 0) lp.obj.add(g.nodes[i]!.cost / costUnit, bit(R(t, i)));
    lp.stageRows(g, t, R, S);
    const carried = (i: number): Bit => (t + 1 < n ? S(t + 1, i) : 0);
    // computing t
    const deps = new Set(g.nodes[t]!.deps);
    const atT = new Row().add(M(t), 1);
    for (const i of deps) atT.add(M(i), 1);
    for (let i = 0; i < t; i++) if (!deps.has(i)) atT.add(M(i), bit(carried(i)));
    lp.le(atT, cap);
    // computing a recomputation k (the row holds only when R_t_k = 1)
    for (let k = 0; k < t; k++) {
      const rk = R(t, k);
      if (rk === 0) continue;
      const present = new Set([k, ...g.nodes[k]!.deps]);
      const row = new Row();
      for (const i of present) row.add(M(i), 1);
      for (const i of deps) if (!present.has(i)) present.add(i), row.add(M(i), i < k ? 1 : bit(S(t, i)));
      for (let i = 0; i < k; i++) if (!present.has(i)) row.add(M(i), bit(carried(i)));
      lp.le(row.add(bigM, bit(rk)), cap + bigM);
    }
  }
  return lp.text();
}
