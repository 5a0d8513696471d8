import { deadCodeEliminate, type Module, type Value } from '../../compiler/ir/graph.ts';
import { fastSchedule, type Solver } from '../../compiler/remat/auto.ts';
import { replay } from '../../compiler/remat/replay.ts';
import type { Rewritten } from '../../compiler/remat/emit.ts';
import { findStages } from '../../compiler/remat/stages.ts';
import {
  stageScheduleOf,
  trainingGraph,
  type StageSchedule,
  type TrainingGraph,
} from '../../compiler/remat/training-graph.ts';

export interface DagSolution {
  /** Which solver found it: the chain DP over stages, or the resident-set DP (small steps). */
  solver: Solver;
  stages: StageSchedule;
  /** Recompute and total cost (recomputeCost) and peak bytes, replayed in Checkmate's model. */
  cost: number;
  total: number;
  bytes: number;
}

/**
 * The fast solver (fastSchedule) measured in Checkmate's model so it can be compared with the
 * MILP: each schedule is rewritten into IR, read back as stages and replayed, so what is measured
 * is what would run. `m` is the step before the checkpoint pass, dead code removed.
 */
export function solveDag(
  m: Module,
  loss: Value,
  budget: number,
): { graph: TrainingGraph; fits?: DagSolution; smallest: number } {
  const { graph, index } = trainingGraph(m, loss);
  const { fits, smallest } = fastSchedule(m, loss, findStages(m, loss), budget, checkmateMeasure(graph, index));
  return { graph, fits, smallest };
}

/**
 * Measures a rewritten step in Checkmate's model: read back as stages (`graph`, `index`: the step as
 * trainingGraph sees it) and replayed.
 */
export function checkmateMeasure(graph: TrainingGraph, index: Map<Value, number>) {
  return (r: Rewritten) => {
    const stages = stageScheduleOf(deadCodeEliminate(r.module), index, r.origin, r.recomputed);
    const { cost, recompute, peak } = replay(graph, stages);
    return { stages, cost: recompute, total: cost, bytes: peak };
  };
}
