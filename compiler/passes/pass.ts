import type { Module } from '../ir/graph.ts';
import type { PlanConfig } from '../sema/plan.ts';
import type { GraphSpec } from '../../runtime/data/graph-spec.ts';
import type { Machine } from '../cost/device.ts';

export interface PassContext {
  config: PlanConfig;
  /** The caller asks only whether the plan can be built (checking): a pass may stop at the first answer that works. */
  feasibility?: boolean;
  /** Whether a budget no plan meets is searched for the least that works (FLX4010 names it); default true. */
  leastSearch?: boolean;
  /** The hardware the plan runs on (`on:`), for decisions that weigh transfers against compute. */
  machine?: Machine;
  /** The plan's graphs by name (block-nodes reads their sizes and blocks). */
  graphs?: (name: string) => GraphSpec;
  /** Says what a pass chose not to do and why (`--print-after` prints it under the pass's IR). */
  note?: (text: string) => void;
}

/** A pass keeps no state between runs: IR in, IR out. */
export interface Pass {
  name: string;
  doc: string;
  run(m: Module, cx: PassContext): Module;
}
