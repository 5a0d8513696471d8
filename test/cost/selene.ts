import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { compile } from '../../compiler/compile.ts';

/** examples/gpt.flex's Gpt without its plans and hardware. */
const gpt = readFileSync('examples/gpt.flex', 'utf8').replace(/^(\/\/[^\n]*\n)*hardware [\s\S]*$/m, '');

/** A GPT of Megatron's weak-scaling table (Narayanan et al. SC'21, Table 1) on a slice of Selene. */
export interface SeleneRow {
  heads: number;
  hidden: number;
  layers: number;
  gpus: number;
  batch: number;
  /** The plan's `parallel` value. */
  parallel: string;
}

/**
 * The plan `row` of a Selene row: DGX A100 nodes (eight A100-80GB on NVSwitch, 300 GB/s each way per GPU; eight
 * 200 Gb/s InfiniBand adapters per node, 25 GB/s per GPU), vocabulary 51,200, sequence 2048, fp16, recomputation,
 * elementwise chains fused; micro-batches of one sequence (`batch: { global }` alone under `parallel: auto`).
 */
export function seleneSource(r: SeleneRow): string {
  return `${gpt}
import { a100_80g } from "std/hardware"
hardware Selene {
  gpu x ${r.gpus}: a100_80g
  node { gpus: 8, topology: nvswitch, bandwidth: 300 GB/s, latency: 5 us }
  network { topology: infiniband, bandwidth: 25 GB/s, latency: 10 us }
}
plan row {
  model: Gpt(vocab: 51200, ctx: 2048, d: ${r.hidden}, heads: ${r.heads}, depth: ${r.layers})
  on: Selene
  bind: { T: 2048 }
  batch: { global: ${r.batch}${r.parallel === 'auto' ? '' : ', micro: 1'} }
  task: train { optimizer: adam(lr: 1e-4) }
  precision: fp16
  fuse: [elementwise]
  checkpoint: all
  parallel: ${r.parallel}
}
`;
}

/** How a test reads `path` as `src` (in memory) and every other file from disk. */
export const readingAs = (path: string, src: string) => (p: string) =>
  p === path ? src : existsSync(p) ? readFileSync(p, 'utf8') : undefined;

/** A Selene row's plan compiled in memory (as examples/_selene_<name>.flex), and how to read it again. */
export function compileSelene(r: SeleneRow, name: string) {
  const path = resolve(`examples/_selene_${name}.flex`);
  const read = readingAs(path, seleneSource(r));
  return { path, read, result: compile(path, 'row', { read }) };
}

/** `parallel` as Megatron's table gives it: tensor × pipeline, the rest data-parallel, 1F1B. */
export const published = (tp: number, pp: number, gpus: number) =>
  `{ tensor: ${tp}, pipeline: ${pp}, data: ${gpus / (tp * pp)}${pp > 1 ? ', schedule: 1f1b' : ''} }`;
