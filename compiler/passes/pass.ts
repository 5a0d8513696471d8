import type { Module } from '../ir/graph.ts';
import type { PlanConfig } from '../sema/plan.ts';

export interface PassContext {
  config: PlanConfig;
  /** The caller asks only whether the plan can be built (checking): a pass may stop at the first answer that works. */
  feasibility?: boolean;
}

/** A pass keeps no state between runs: IR in, IR out. */
export interface Pass {
  name: string;
  doc: string;
  run(m: Module, cx: PassContext): Module;
}
