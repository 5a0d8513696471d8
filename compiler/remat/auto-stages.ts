import type { Module, Value } from '../ir/graph.ts';
import type { Rewritten } from './emit.ts';
import { applyStageSchedule } from './emit-stages.ts';
import { solveGreedy } from './solve-greedy.ts';
import { solveResidentSets } from './solve-resident.ts';
import { trainingGraph, type StageSchedule, type TrainingGraph } from './training-graph.ts';

/** Attempts at a solver's model budget before giving up on meeting the exact one. */
const ATTEMPTS = 6;

type StageSolver = (g: TrainingGraph, budget: number) => { stages: StageSchedule } | undefined | 'too-large';

/** How close (bytes) the search for the least budget a solver meets comes to it. */
const LEAST_TOLERANCE = 64;

/**
 * A solver that works in Checkmate's stages, on a step (free of dead code), measured by `measure`
 * on the rewritten step (its exact arena). The model counts live bytes; the arena adds alignment,
 * so when the schedule does not fit, the solver runs again with the model budget lowered by the
 * excess. When nothing fits, `least` (if given) is the least budget it meets: `smallest`, from a
 * search over budgets (`searchLeast`). Undefined when the step is too large for the solver.
 */
function stageSchedule<T extends { bytes: number; cost: number }>(m: Module, loss: Value, budget: number, measure: (r: Rewritten) => T, solve: StageSolver, least?: 'search' | ((g: TrainingGraph) => { stages: StageSchedule } | undefined | 'too-large')): { fits?: T; smallest?: number } | undefined {
  const { graph, index } = trainingGraph(m, loss);
  const fit = (budget: number): T | undefined | 'too-large' => {
    let model = budget;
    for (let k = 0; k < ATTEMPTS; k++) {
      const s = solve(graph, model);
      if (s === 'too-large') return s;
      if (!s) return undefined;
      const r = measure(applyStageSchedule(m, graph, index, s.stages));
      if (r.bytes <= budget) return r;
      model -= r.bytes - budget;
    }
    return undefined;
  };
  const fits = fit(budget);
  if (fits === 'too-large') return undefined;
  if (fits) return { fits };
  if (least === 'search') return { smallest: searchLeast(graph.leafBytes, budget, fit) };
  const l = least?.(graph);
  if (l === 'too-large') return undefined;
  return { smallest: l && measure(applyStageSchedule(m, graph, index, l.stages)).bytes };
}

/**
 * The least budget `fit` meets, between `below` and `failed` (both budgets it does not meet) and
 * what it needs with no budget, by bisection: the answer is a budget it meets, and one
 * LEAST_TOLERANCE bytes less is not (feasibility need not be monotone for a heuristic, so lower
 * budgets may exist that the search does not visit).
 */
function searchLeast<T extends { bytes: number }>(below: number, failed: number, fit: (budget: number) => T | undefined | 'too-large'): number | undefined {
  const top = fit(Infinity);
  if (!top || top === 'too-large') return undefined;
  // whether a step is too large for the solver does not depend on the budget
  const meets = (budget: number) => fit(budget) !== undefined;
  let hi = top.bytes;
  if (!meets(hi)) return undefined;
  let lo = Math.max(below, failed);
  while (hi - lo > LEAST_TOLERANCE) {
    const mid = Math.floor((lo + hi) / 2);
    if (meets(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** The resident-set DP (exact in Checkmate's model) for a step within RESIDENT_LIMITS; `smallest`: its least-peak schedule's. */
export const residentSchedule = <T extends { bytes: number; cost: number }>(m: Module, loss: Value, budget: number, measure: (r: Rewritten) => T) =>
  stageSchedule(m, loss, budget, measure, solveResidentSets, (g) => solveResidentSets(g, 'minimize'));

/** The keep-or-recompute-once greedy (solveGreedy) for a step within GREEDY_LIMIT; `smallest`: the least budget it meets, searched. */
export const greedySchedule = <T extends { bytes: number; cost: number }>(m: Module, loss: Value, budget: number, measure: (r: Rewritten) => T) =>
  stageSchedule(m, loss, budget, measure, solveGreedy, 'search');
