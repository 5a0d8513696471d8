import { rng } from '../init.ts';
import { DataError, readData } from './graph.ts';

/** The largest corpus read (as characters in memory, it takes about 12 bytes each). */
const MAX_TEXT_BYTES = 256 * 2 ** 20;

/** A character-level corpus: the sorted distinct characters, and the text as their ids. */
export interface TextData {
  vocab: string[];
  ids: Int32Array;
}

export interface TextSpec {
  file: string;
  /** Fraction of the text, by position, used for training; the rest is validation. */
  split: number;
}

const cache = new Map<string, TextData>();

export function loadText(file: string): TextData {
  const hit = cache.get(file);
  if (hit) return hit;
  const text = readData(file, MAX_TEXT_BYTES).toString('utf8');
  const chars = [...text];
  const vocab = [...new Set(chars)].sort();
  const index = new Map(vocab.map((c, i) => [c, i]));
  const data = { vocab, ids: Int32Array.from(chars, (c) => index.get(c)!) };
  cache.set(file, data);
  return data;
}

/**
 * One batch of windows for `tokens` (ids[s, s+T)) or `targets` (ids[s+1, s+T+1)); the window starts are a
 * function of (seed, step, part) alone, so both inputs of a step see the same windows.
 */
export function textBatch(
  spec: TextSpec,
  part: 'train' | 'val',
  role: 'tokens' | 'targets',
  shape: number[],
  step: number,
  seed: number,
): Int32Array {
  const { ids } = loadText(spec.file);
  const [b, t] = shape as [number, number];
  const cut = Math.floor(ids.length * spec.split);
  const [lo, hi] = part === 'train' ? [0, cut] : [cut, ids.length];
  if (hi - lo < t + 2)
    throw new DataError(`the ${part} part of ${spec.file} has ${hi - lo} characters, fewer than a window of ${t + 1}`);
  const next = rng(
    (Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(step, 0x85ebca6b) ^ (part === 'val' ? 0x5bd1e995 : 0)) >>> 0,
  );
  const out = new Int32Array(b * t);
  const shift = role === 'targets' ? 1 : 0;
  for (let r = 0; r < b; r++) {
    const s = lo + Math.floor(next() * (hi - lo - t - 1));
    for (let j = 0; j < t; j++) out[r * t + j] = ids[s + j + shift]!;
  }
  return out;
}
