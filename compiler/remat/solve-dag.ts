import { deadCodeEliminate, type Module, type Value } from '../ir/graph.ts';
import { autoSchedule } from './auto.ts';
import { replay } from './checkmate.ts';
import { applySchedule, type Rewritten } from './emit.ts';
import { applyStageSchedule } from './emit-stages.ts';
import { solveResidentSets } from './solve-resident.ts';
import { findStages } from './stages.ts';
import { stageScheduleOf, trainingGraph, type StageSchedule, type TrainingGraph } from './training-graph.ts';

export interface DagSolution {
  /** Which solver found it: the chain DP over stages, or the resident-set DP (small steps). */
  solver: 'chain' | 'resident-sets';
  stages: StageSchedule;
  /** Recompute and total cost (recomputeCost) and peak bytes, replayed in Checkmate's model. */
  cost: number;
  total: number;
  bytes: number;
}

/**
 * The fast solver on a training step's graph, measured in Checkmate's model so it can be compared
 * with the MILP. The chain solver's schedules (forward pass cut into stages, autoSchedule) and, for
 * steps within RESIDENT_LIMITS, the resident-set DP's; each is rewritten into IR (applySchedule,
 * applyStageSchedule), read back as stages and replayed, so what is measured is what would run.
 * `m` is the step before the checkpoint pass, dead code removed. `smallest`: the least peak seen
 * (with the DP's least-peak schedule when nothing fits).
 */
export function solveDag(m: Module, loss: Value, budget: number): { graph: TrainingGraph; fits?: DagSolution; smallest: number } {
  const { graph, index } = trainingGraph(m, loss);
  const measure = (solver: DagSolution['solver'], r: Rewritten): DagSolution => {
    const stages = stageScheduleOf(deadCodeEliminate(r.module), index, r.origin, r.recomputed);
    const { cost, recompute, peak } = replay(graph, stages);
    return { solver, stages, cost: recompute, total: cost, bytes: peak };
  };
  const st = findStages(m, loss);
  let { fits, smallest } = autoSchedule(st, budget, (s) => measure('chain', applySchedule(m, st, s)));
  const dp = solveResidentSets(graph, budget);
  if (typeof dp === 'object') {
    const r = measure('resident-sets', applyStageSchedule(m, graph, index, dp.stages));
    if (r.bytes <= budget && (!fits || r.cost < fits.cost)) fits = r;
  }
  if (dp !== 'too-large' && !fits) {
    const least = solveResidentSets(graph, 'minimize');
    if (typeof least === 'object') smallest = Math.min(smallest, measure('resident-sets', applyStageSchedule(m, graph, index, least.stages)).bytes);
  }
  return { graph, fits, smallest };
}
