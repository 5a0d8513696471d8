import type { Module, Value } from '../ir/graph.ts';
import type { Rewritten } from './emit.ts';
import { applyStageSchedule } from './emit-stages.ts';
import { solveResidentSets } from './solve-resident.ts';
import { trainingGraph } from './training-graph.ts';

/** Attempts at the resident-set DP's model budget before giving up on meeting the exact one. */
const ATTEMPTS = 6;

/**
 * The resident-set DP (exact in Checkmate's model) for a step within RESIDENT_LIMITS, measured by
 * `measure` on the rewritten step (its exact arena). The model counts live bytes; the arena adds
 * alignment, so when the DP's schedule does not fit, the DP runs again with the model budget
 * lowered by the excess. `smallest` (only when nothing fits): the arena of the DP's least-peak
 * schedule. Undefined when the step is too large for the DP. `m` must be free of dead code.
 */
export function residentSchedule<T extends { bytes: number; cost: number }>(m: Module, loss: Value, budget: number, measure: (r: Rewritten) => T): { fits?: T; smallest?: number } | undefined {
  const { graph, index } = trainingGraph(m, loss);
  let model = budget;
  for (let k = 0; k < ATTEMPTS; k++) {
    const s = solveResidentSets(graph, model);
    if (s === 'too-large') return undefined;
    if (!s) break;
    const r = measure(applyStageSchedule(m, graph, index, s.stages));
    if (r.bytes <= budget) return { fits: r };
    model -= r.bytes - budget;
  }
  const least = solveResidentSets(graph, 'minimize');
  if (least === 'too-large') return undefined;
  return { smallest: least && measure(applyStageSchedule(m, graph, index, least.stages)).bytes };
}
