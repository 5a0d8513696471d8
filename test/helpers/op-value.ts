import type { Value } from '../../compiler/ir/graph.ts';
import type { RefContext } from '../../compiler/ir/op.ts';
import { getOp } from '../../compiler/ir/ops/registry.ts';
import type { TensorType } from '../../compiler/ir/types.ts';

/** A value of `op` on operands of these types, typed by the op's own shape rule: enough for its cost and reference. */
export const opValue = (op: string, inputs: TensorType[], attrs: Record<string, string | number | boolean> = {}) =>
  ({ op, inputs: inputs.map((type) => ({ type })), attrs, type: getOp(op).infer(inputs, attrs) }) as unknown as Value;

/** The interpreter's context for an op's CPU reference, in float32 (or float64). */
export const refContext = (float64 = false): RefContext => ({
  floats: (n: number) => (float64 ? new Float64Array(n) : new Float32Array(n)),
  step: 1,
});
