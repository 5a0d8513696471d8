import { quantizeNf4 } from './nf4.ts';

/** Deterministic parameter initialisation: the same (seed, name) gives the same numbers everywhere. */

function hash32(s: string, seed: number): number {
  let h = (2166136261 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** mulberry32: a small, fast, well-mixed 32-bit PRNG. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function normals(n: number, next: () => number, out: Float32Array | Float64Array, mean = 0, std = 1): void {
  for (let i = 0; i < n; i += 2) {
    const u = 1 - next();
    const v = next();
    const r = Math.sqrt(-2 * Math.log(u));
    out[i] = mean + std * r * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = mean + std * r * Math.sin(2 * Math.PI * v);
  }
}

export interface InitSpec {
  init: string;
  std?: number;
  mean?: number;
  low?: number;
  high?: number;
  value?: number;
  /** `nf4`: stored as QLoRA's 4-bit NormalFloat (a frozen base weight), its values quantised once made. */
  storage?: string;
}

export function initTensor(
  spec: InitSpec,
  shape: number[],
  name: string,
  seed: number,
  out: Float32Array | Float64Array = new Float32Array(shape.reduce((a, d) => a * d, 1)),
): Float32Array | Float64Array {
  const next = rng(hash32(name, seed));
  const n = out.length;
  switch (spec.init) {
    case 'zeros':
      out.fill(0);
      break;
    case 'ones':
      out.fill(1);
      break;
    case 'constant':
      out.fill(spec.value ?? 0);
      break;
    case 'normal':
      normals(n, next, out, spec.mean ?? 0, spec.std ?? 1);
      break;
    case 'uniform': {
      const [lo, hi] = [spec.low ?? -1, spec.high ?? 1];
      for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * next();
      break;
    }
    case 'glorot': {
      const fanOut = shape.at(-1) ?? 1;
      const fanIn = shape.length > 1 ? n / fanOut : fanOut;
      const limit = Math.sqrt(6 / (fanIn + fanOut));
      for (let i = 0; i < n; i++) out[i] = -limit + 2 * limit * next();
      break;
    }
    default:
      throw new Error(`unknown initializer ${spec.init}`);
  }
  if (spec.storage === 'nf4') quantizeNf4(out);
  return out;
}
