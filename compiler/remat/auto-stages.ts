import type { Module, Value } from '../ir/graph.ts';
import type { OffGpuTier } from '../ir/ops/tier.ts';
import { applyStageSchedule, type Rewritten } from './emit.ts';
import { attentionCores } from './attention-core.ts';
import { recomputeStages, solveGreedy, type Placement, type TierChoice } from './solve-greedy.ts';
import { solveResidentSets } from './solve-resident.ts';
import { solveSweep } from './solve-sweep.ts';
import { trainingGraph, type StageSchedule, type TrainingGraph } from './training-graph.ts';

/** Attempts at a solver's model budget before giving up on meeting the exact one. */
const ATTEMPTS = 6;

type StageSolver = (
  g: TrainingGraph,
  budget: number,
) => { stages: StageSchedule; moved?: Placement['moved'] } | undefined | 'too-large';

/** How close (bytes) the search for the least budget a solver meets comes to it. */
const LEAST_TOLERANCE = 64;
/** Tries of that search; on steps of more than LARGE_STEP ops (the greedy takes about 1 s a try there) fewer. */
const PROBES = 24;
const LARGE_STEP = 200;
const PROBES_LARGE = 8;

/**
 * A solver that works in Checkmate's stages, on a step (free of dead code), measured by `measure`
 * on the rewritten step (its exact arena). The model counts live bytes; the arena adds alignment,
 * so when the schedule does not fit, the solver runs again with the model budget lowered by the
 * excess. When nothing fits, `smallest(under)` is the least of what it builds: `least`'s schedule
 * measured, or with 'search' the schedule of the least budget a search over budgets meets
 * (`searchLeast`), whose bytes may be below the budget asked for (the solver's model is not
 * monotone in its budget); it is a function because only a budget nothing meets needs it. Undefined
 * when the step is too large for the solver.
 */
function stageSchedule<T extends { bytes: number; cost: number }>(
  m: Module,
  loss: Value,
  budget: number,
  measure: (r: Rewritten) => T,
  solve: StageSolver,
  least?: 'search' | ((g: TrainingGraph) => { stages: StageSchedule } | undefined | 'too-large'),
): { fits?: T; smallest?: (under: number) => T | undefined } | undefined {
  const { graph, index } = trainingGraph(m, loss);
  const fit = (budget: number): T | undefined | 'too-large' => {
    let model = budget;
    for (let k = 0; k < ATTEMPTS; k++) {
      const s = solve(graph, model);
      if (s === 'too-large') return s;
      if (!s) return undefined;
      const r = measure(applyStageSchedule(m, graph, index, s.stages, s.moved));
      if (r.bytes <= budget) return r;
      model -= r.bytes - budget;
    }
    return undefined;
  };
  const fits = fit(budget);
  if (fits === 'too-large') return undefined;
  if (fits) return { fits };
  if (least === 'search')
    return {
      smallest: (under) =>
        searchLeast(
          Math.max(graph.leafBytes, budget),
          under,
          fit,
          graph.nodes.length > LARGE_STEP ? PROBES_LARGE : PROBES,
        ),
    };
  return {
    smallest: () => {
      const l = least?.(graph);
      return l && l !== 'too-large' ? measure(applyStageSchedule(m, graph, index, l.stages)) : undefined;
    },
  };
}

/**
 * What `fit` builds for the least budget below `under` (the least another solver meets) that it
 * finds by bisection between there and `lo` (a budget it does not meet); undefined when it does not
 * meet `under` - 1. After at most `probes` tries, one LEAST_TOLERANCE bytes less is not met
 * (feasibility need not be monotone for a heuristic, so lower budgets may exist that the search does
 * not visit). Of the schedules built on the way, the one of fewest bytes.
 */
function searchLeast<T extends { bytes: number }>(
  lo: number,
  under: number,
  fit: (budget: number) => T | undefined | 'too-large',
  probes: number,
): T | undefined {
  let best: T | undefined;
  // whether a step is too large for the solver does not depend on the budget
  const meets = (budget: number) => {
    const r = fit(budget);
    if (r === undefined || r === 'too-large') return false;
    if (!best || r.bytes < best.bytes) best = r;
    return true;
  };
  let hi = under - 1;
  if (!meets(hi)) return undefined;
  for (let k = 0; k < probes && hi - lo > LEAST_TOLERANCE; k++) {
    const mid = Math.floor((lo + hi) / 2);
    if (meets(mid)) hi = mid;
    else lo = mid;
  }
  return best;
}

/**
 * The resident-set DP (exact in Checkmate's model) for a step within RESIDENT_LIMITS; `smallest`: its least-peak
 * schedule's.
 */
export const residentSchedule = <T extends { bytes: number; cost: number }>(
  m: Module,
  loss: Value,
  budget: number,
  measure: (r: Rewritten) => T,
) => stageSchedule(m, loss, budget, measure, solveResidentSets, (g) => solveResidentSets(g, 'minimize'));

/**
 * The keep-or-recompute-once greedy (solveGreedy) for a step within GREEDY_LIMIT; with `tiers`, keep, recompute or
 * move to another tier; `smallest`: the least budget it meets, searched.
 */
export const greedySchedule = <T extends { bytes: number; cost: number }>(
  m: Module,
  loss: Value,
  budget: number,
  measure: (r: Rewritten) => T,
  tiers?: TierChoice,
) => stageSchedule(m, loss, budget, measure, (g, b) => solveGreedy(g, b, tiers), 'search');

/**
 * Moves only, furthest next use first (solveSweep), for a step of any size; `smallest`: the least budget it meets,
 * searched.
 */
export const sweepSchedule = <T extends { bytes: number; cost: number }>(
  m: Module,
  loss: Value,
  budget: number,
  measure: (r: Rewritten) => T,
  tiers: TierChoice,
) => stageSchedule(m, loss, budget, measure, (g, b) => solveSweep(g, b, tiers), 'search');

/**
 * A fixed placement: every activation the backward pass reads (outputs aside) waits in `tier` and is reloaded at
 * its first backward reader; nothing is recomputed. Measured by `measure`.
 */
export function moveAll<T>(m: Module, loss: Value, tier: OffGpuTier, measure: (r: Rewritten) => T): T {
  const { graph, index } = trainingGraph(m, loss);
  const F = graph.nodes.findIndex((v) => !v.forward);
  const moved = new Map<number, OffGpuTier>();
  const stages: StageSchedule = graph.nodes.map((_, t) => [t]);
  for (let t = F; t < graph.nodes.length; t++)
    for (const i of graph.nodes[t]!.deps)
      if (i < F && !graph.nodes[i]!.output) {
        if (!moved.has(i)) stages[t]!.unshift(i);
        moved.set(i, tier);
      }
  for (const st of stages) st.sort((a, b) => a - b);
  return measure(applyStageSchedule(m, graph, index, stages, moved));
}

/**
 * Selective recomputation (Korthikanti et al. 2022): every activation the backward pass reads is kept but the
 * attention cores' (attentionCores: the scores, their mask and softmax, the probabilities' dropout), which the first
 * backward op that reads them recomputes from the kept q and k. Undefined when the step has no attention core.
 */
export function recomputeCores<T>(m: Module, loss: Value, measure: (r: Rewritten) => T): T | undefined {
  const { graph, index } = trainingGraph(m, loss);
  const F = graph.nodes.findIndex((v) => !v.forward);
  const cores = attentionCores(m, new Set(m.values.slice(0, m.values.indexOf(loss) + 1)));
  if (F < 0 || !cores.size) return undefined;
  // forward values the backward pass does not read are recomputed too when a recomputation needs them
  const readBack = new Set(graph.nodes.slice(F).flatMap((v) => v.deps));
  const dropped = new Set<number>();
  for (const [v, i] of index)
    if (i < F && !graph.nodes[i]!.output && (cores.has(v) || !readBack.has(i))) dropped.add(i);
  return measure(applyStageSchedule(m, graph, index, recomputeStages(graph, F)(dropped)));
}
