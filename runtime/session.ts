import type { GraphSpec } from './data/graph-spec.ts';
import { PlanError, type Plan } from './plan.ts';
import type { TierMeasure } from './tiers.ts';

export type Tensor = Float32Array | Int32Array;

/** A plan whose arena the budget or the device cannot hold. */
export class BudgetError extends Error {}

/**
 * What every target's runtime does with a plan: the arena allocated and parameters initialised when it opens, a step
 * run on demand, tensors read back. The trainers and generated drivers use only this.
 */
export interface Session {
  readonly plan: Plan;
  /** Steps run so far. */
  readonly step: number;
  /** The most arena bytes the kernels address: the highest end of any range a launch binds. */
  readonly measuredPeakBytes: number;
  /** The host and SSD tiers, measured over the steps run (sessions whose plans have copies between tiers). */
  readonly tiers?: TierMeasure;
  /**
   * Kernel launches of the last step (0 before the first): WebGPU's dispatches as issued; a compiled library's step
   * runs every launch of its plan once, in order, so its count is the plan's.
   */
  readonly launches: number;
  /**
   * Runs one step of the plan; returns the named outputs read back (all of them by default). `given` supplies inputs
   * by name; the others come from their feeds (step counter, graph, text, synthetic batch).
   */
  run(outputs?: string[], given?: Map<string, Tensor>): Promise<Map<string, Tensor>>;
  /** Current values of the parameters and optimizer state, by name. */
  parameters(): Promise<Map<string, Tensor>>;
  /** Overwrites parameters (e.g. trained weights moved into an evaluation plan). */
  loadParameters(values: Map<string, Float32Array | Float64Array | Int32Array>): void;
  destroy(): void;
}

/** The kernel launches in one step of a plan. */
export const launchesOf = (plan: Plan): number => plan.steps.filter((s) => s.kind === 'launch').length;

/** The highest end of any GPU arena range a launch of the plan binds or a copy reads or writes. */
export function boundPeak(plan: Plan): number {
  let touched = 0;
  for (const st of plan.steps) {
    const ids =
      st.kind === 'launch'
        ? st.bindings
        : st.kind === 'copy'
          ? [st.from, st.to]
          : st.kind === 'clear'
            ? [st.buffer]
            : [];
    for (const id of ids) {
      const b = plan.buffers[id]!;
      if (b.tier === 'gpu') touched = Math.max(touched, b.offset + Math.max(4, b.bytes));
    }
  }
  return touched;
}

/** The host array buffer `id` is written from: its element count checked, in the buffer's dtype (empty: none). */
export function hostTensor(plan: Plan, id: number, data: Float32Array | Float64Array | Int32Array): Tensor | undefined {
  const b = plan.buffers[id]!;
  const n = b.shape.reduce((a, d) => a * d, 1);
  if (data.length !== n) throw new PlanError(`buffer ${b.name} holds ${n} values, got ${data.length}`);
  if (!n) return undefined;
  return b.dtype === 'i32' ? Int32Array.from(data) : data instanceof Float32Array ? data : Float32Array.from(data);
}

/** Graph specs by name: the caller's resolver, else the plan's own graphs. */
export function planGraphs(plan: Plan, given?: (name: string) => GraphSpec): (name: string) => GraphSpec {
  return (
    given ??
    ((g) => {
      const spec = plan.graphs[g];
      if (!spec) throw new PlanError(`plan has no graph ${g}`);
      return spec;
    })
  );
}
