/** Element types the IR computes in. */
export type DType = 'f32' | 'f64' | 'f16' | 'bf16' | 'i32' | 'i64' | 'i8' | 'u8';
export const BYTES: Record<DType, number> = { f64: 8, f32: 4, f16: 2, bf16: 2, i64: 8, i32: 4, i8: 1, u8: 1 };

/** A dimension: a number once bound; a canonical symbolic expression while checking unbound models. */
export type Dim = number | string;

export interface TensorType {
  dtype: DType;
  shape: Dim[];
}

export function fmtType(t: TensorType): string {
  return `${t.dtype}[${t.shape.join(',')}]`;
}

/** The same dtype and shape (what fmtType would print the same), without building strings. */
export function sameType(a: TensorType, b: TensorType): boolean {
  return a.dtype === b.dtype && a.shape.length === b.shape.length && a.shape.every((d, k) => d === b.shape[k]);
}

/** Raised by an op's shape rule; the caller adds where the operands came from. */
export class ShapeError extends Error {}

export function dimAdd(a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  if (a === 0) return b;
  if (b === 0) return a;
  return `(${a}+${b})`;
}
export function dimSub(a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (b === 0) return a;
  return `(${a}-${b})`;
}
export function dimMul(a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') return a * b;
  if (a === 1) return b;
  if (b === 1) return a;
  return `${a}*${b}`;
}
export function dimDiv(a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') return a / b;
  if (b === 1) return a;
  return `${a}/${b}`;
}

/** Two dims that must be equal; an unknown symbol against a number is accepted (the plan decides). */
export function sameDim(a: Dim, b: Dim): boolean {
  if (typeof a === 'number' && typeof b === 'number') return a === b;
  if (typeof a === 'string' && typeof b === 'string') return a === b;
  return true;
}
export function pickDim(a: Dim, b: Dim): Dim {
  return typeof a === 'number' ? a : b;
}

export function broadcastShapes(a: readonly Dim[], b: readonly Dim[]): Dim[] {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x === 1) out.push(y);
    else if (y === 1) out.push(x);
    else if (sameDim(x, y)) out.push(pickDim(x, y));
    else throw new ShapeError(`dimension ${i - n} differs: ${x} vs ${y}`);
  }
  return out;
}

export function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new ShapeError(`axis ${axis} is out of range for rank ${rank}`);
  return a;
}
