import type { Module } from '../ir/graph.ts';
import type { PlanConfig } from '../sema/plan.ts';

export interface PassContext {
  config: PlanConfig;
}

/** A pass keeps no state between runs: IR in, IR out. */
export interface Pass {
  name: string;
  doc: string;
  run(m: Module, cx: PassContext): Module;
}
