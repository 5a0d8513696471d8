/** Physical quantities in hardware and plan declarations. GiB = 2^30 bytes, GB = 10^9 bytes. */
export type Dimension = 'bytes' | 'bandwidth' | 'flops' | 'time' | 'count';

export interface Quantity {
  value: number; // in base units: bytes, bytes/s, FLOP/s, seconds
  dim: Dimension;
}

const BYTE_UNITS: Record<string, number> = {
  B: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  PB: 1e15,
  KiB: 2 ** 10,
  MiB: 2 ** 20,
  GiB: 2 ** 30,
  TiB: 2 ** 40,
  PiB: 2 ** 50,
};
const FLOP_UNITS: Record<string, number> = {
  FLOPS: 1,
  KFLOPS: 1e3,
  MFLOPS: 1e6,
  GFLOPS: 1e9,
  TFLOPS: 1e12,
  PFLOPS: 1e15,
};
const TIME_UNITS: Record<string, number> = { s: 1, ms: 1e-3, us: 1e-6, ns: 1e-9 };

export const UNITS: Record<string, { scale: number; dim: Dimension }> = Object.fromEntries([
  ...Object.entries(BYTE_UNITS).map(([u, s]) => [u, { scale: s, dim: 'bytes' as const }]),
  ...Object.entries(BYTE_UNITS).map(([u, s]) => [`${u}/s`, { scale: s, dim: 'bandwidth' as const }]),
  ...Object.entries(FLOP_UNITS).map(([u, s]) => [u, { scale: s, dim: 'flops' as const }]),
  ...Object.entries(FLOP_UNITS).map(([u, s]) => [
    `${u.replace('FLOPS', 'FLOP')}/s`,
    { scale: s, dim: 'flops' as const },
  ]),
  ...Object.entries(TIME_UNITS).map(([u, s]) => [u, { scale: s, dim: 'time' as const }]),
]);

export const DIM_LABEL: Record<Dimension, string> = {
  bytes: 'a size in bytes (e.g. `24 GiB`)',
  bandwidth: 'a bandwidth (e.g. `25 GB/s`)',
  flops: 'a compute rate (e.g. `165 TFLOPS`)',
  time: 'a time (e.g. `10 us`)',
  count: 'a plain number',
};

export function quantity(value: number, unit: string | undefined): Quantity | undefined {
  if (unit === undefined) return { value, dim: 'count' };
  const u = UNITS[unit];
  return u ? { value: value * u.scale, dim: u.dim } : undefined;
}

export function fmtBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${Number(n.toPrecision(4))} ${units[i]}`;
}
