import { deadCodeEliminate, type Module, type Value } from '../ir/graph.ts';
import { autoSchedule } from './auto.ts';
import { replay } from './checkmate.ts';
import { applySchedule } from './emit.ts';
import { findStages } from './stages.ts';
import { stageScheduleOf, trainingGraph, type StageSchedule, type TrainingGraph } from './training-graph.ts';

export interface DagSolution {
  stages: StageSchedule;
  /** Recompute and total cost (recomputeCost) and peak bytes, replayed in Checkmate's model. */
  cost: number;
  total: number;
  bytes: number;
}

/**
 * The fast solver on a training step's graph, measured in Checkmate's model so it can be compared
 * with the MILP: the forward pass as a chain of stages (findStages), the chain solver's schedules
 * (autoSchedule), each rewritten (applySchedule) and replayed. `m` is the step before the
 * checkpoint pass, dead code removed; the graph is `trainingGraph(m, loss)`.
 */
export function solveDag(m: Module, loss: Value, budget: number): { graph: TrainingGraph; fits?: DagSolution; smallest: number } {
  const { graph, index } = trainingGraph(m, loss);
  const st = findStages(m, loss);
  const { fits, smallest } = autoSchedule(st, budget, (s): DagSolution => {
    const r = applySchedule(m, st, s);
    const out = deadCodeEliminate(r.module);
    const stages = stageScheduleOf(out, index, r.origin, r.recomputed);
    const { cost, recompute, peak } = replay(graph, stages);
    return { stages, cost: recompute, total: cost, bytes: peak };
  });
  return { graph, fits, smallest };
}
