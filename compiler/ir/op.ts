import type { Attrs, Value } from './graph.ts';
import type { Builder } from './builder.ts';
import type { OpName } from './op-names.ts';
import { NF4_BYTES_PER_ELEMENT } from '../../runtime/nf4.ts';
import { BYTES, type TensorType } from './types.ts';

export type FloatArray = Float32Array | Float64Array;
export type Data = Float32Array | Float64Array | Int32Array;

/** An index read from data (a label, a token id, an edge) that selects outside its tensor, found at run time. */
export class IndexOutOfRange extends Error {}

/** A dense array in row-major order. */
export interface NDArray {
  data: Data;
  shape: number[];
}

export interface RefContext {
  /** Allocates a float array in the interpreter's precision. */
  floats(n: number): FloatArray;
  /** The training step, 1-based. */
  step: number;
}

export interface Cost {
  flops: number;
  /** Bytes read and written by a straightforward kernel. */
  bytes: number;
  /**
   * Of those, the bytes read or written by row index (a gather's rows, a graph product's dense operand): the cost model
   * moves them at the device's `gather_efficiency` of its bandwidth, the rest at its streaming one.
   */
  gathered?: number;
}

export interface AttrSpec {
  kind: 'number' | 'int' | 'bool' | 'string' | 'ints';
  optional?: boolean;
}

/** Everything about one op, in one place. */
export interface OpDef {
  name: OpName;
  /** Where its time goes in `flexc plan` (a function of the value where it depends on it). */
  class: OpClass | ((v: Value) => OpClass);
  /** Number of operands, or 'variadic'. */
  arity: number | 'variadic';
  attrs: Record<string, AttrSpec>;
  /** Shape rule: works on numbers and on symbolic dims. Throws ShapeError. */
  infer(inputs: TensorType[], attrs: Attrs): TensorType;
  /** Reverse-mode rule: the cotangent of each operand (undefined where it has none). */
  grad?: (b: Builder, v: Value, dy: Value) => (Value | undefined)[];
  /**
   * The reverse-mode rule of an op whose result packs several (read through `part`s): the cotangent of each operand
   * from those of its parts, by offset (a part no loss reaches has none). Autodiff hands them over together.
   */
  gradParts?: (b: Builder, v: Value, parts: ReadonlyMap<number, Value>) => (Value | undefined)[];
  /** Why the op has no gradient rule (non-differentiable, or a backward op: no second order). */
  noGrad?: string;
  cost(v: Value): Cost;
  /** CPU reference implementation. */
  ref(inputs: NDArray[], v: Value, ctx: RefContext): NDArray;
  /** A collective's reference over every rank of its group: each rank's result from each rank's operands. */
  collective?: (each: NDArray[][], v: Value) => NDArray[];
}

/**
 * Where step time goes, by op (communication is added by the step model; `transfer`: a copy between memory
 * tiers, on the link rather than the GPU's stream).
 */
export type OpClass = 'matmul' | 'attention' | 'elementwise' | 'optimizer' | 'transfer';

/** Work over a heads axis (rank 4 or more: [batch, heads, query, key]) is attention's; otherwise `other`. */
export const overHeads =
  (other: OpClass) =>
  (v: Value): OpClass =>
    v.type.shape.length >= 4 ? 'attention' : other;

export function bytesOf(t: TensorType): number {
  return t.shape.reduce<number>((a, d) => a * (d as number), 1) * BYTES[t.dtype];
}

/**
 * The bytes a value occupies where it is stored: its type's, but half a byte and a shared fp32 maximum per element for
 * a leaf stored as NF4 (`storage: nf4`, QLoRA's frozen base; runtime/nf4.ts).
 */
export const storedBytes = (v: Value): number =>
  v.attrs['storage'] === 'nf4' ? elems(v.type) * NF4_BYTES_PER_ELEMENT : bytesOf(v.type);

export const elems = (t: TensorType): number => t.shape.reduce<number>((a, d) => a * (d as number), 1);

/** Cost of an op that touches each operand and the result once with `flopsPerElem` FLOPs per output element. */
export function streamingCost(v: Value, flopsPerElem: number): Cost {
  return {
    flops: flopsPerElem * elems(v.type),
    bytes: bytesOf(v.type) + v.inputs.reduce((a, x) => a + bytesOf(x.type), 0),
  };
}
