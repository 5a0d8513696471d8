/**
 * NF4, QLoRA's 4-bit NormalFloat (Dettmers et al. 2023): 16 levels in [−1, 1] that are quantiles of N(0, 1), scaled
 * by the normal's value at offset 0.9677 so that both ends are ±1 and zero is exact (8 levels above zero, 7 below; the
 * values bitsandbytes ships). A tensor is stored in blocks of 64 consecutive elements, each as its absolute maximum
 * (fp32) and a 4-bit level per element: 0.5 + 4/64 bytes per element (QLoRA's double quantisation of the maxima,
 * another 0.37 bits, is not done here).
 */
export const NF4_LEVELS: readonly number[] = [
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635, -0.18477343022823334,
  -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
  0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
];

export const NF4_BLOCK = 64;

/** Bytes per stored element: half a byte of level, and the block's fp32 maximum shared by 64. */
export const NF4_BYTES_PER_ELEMENT = 0.5 + 4 / NF4_BLOCK;

/** The level nearest x (in [−1, 1]); ties to the lower one, as bitsandbytes' comparisons against midpoints do. */
function nearestLevel(x: number): number {
  let lo = 0;
  let hi = NF4_LEVELS.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (NF4_LEVELS[mid]! <= x) lo = mid;
    else hi = mid;
  }
  return x - NF4_LEVELS[lo]! <= NF4_LEVELS[hi]! - x ? NF4_LEVELS[lo]! : NF4_LEVELS[hi]!;
}

/** `data` replaced, in place, by its NF4 storage's values: each block's level × its absolute maximum. */
export function quantizeNf4(data: Float32Array | Float64Array): void {
  for (let at = 0; at < data.length; at += NF4_BLOCK) {
    const end = Math.min(data.length, at + NF4_BLOCK);
    let absmax = 0;
    for (let i = at; i < end; i++) absmax = Math.max(absmax, Math.abs(data[i]!));
    if (absmax === 0) continue;
    const scale = Math.fround(absmax);
    for (let i = at; i < end; i++) data[i] = nearestLevel(data[i]! / scale) * scale;
  }
}

/** A parameter's values as its storage holds them (NF4 ones quantised; a copy, `values` is left alone). */
export function asStored<T extends Float32Array | Float64Array | Int32Array>(
  storage: string | undefined,
  values: T,
): T {
  if (storage !== 'nf4' || values instanceof Int32Array) return values;
  const copy = values.slice() as Float32Array | Float64Array;
  quantizeNf4(copy);
  return copy as T;
}
