import { type Attrs, LEAF_OPS, type Module, type Value } from '../ir/graph.ts';
import { freeValues } from '../ir/stages.ts';
import { rewriteModule } from '../ir/rewrite.ts';
import { classOf, opTime } from '../cost/op-time.ts';
import type { Device } from '../cost/device.ts';
import type { Pass } from './pass.ts';

/** Why a plan's `pipeline` cannot cut its model: fewer layers (`repeat` iterations) than stages. */
export class PipelineSplitError extends Error {
  constructor(
    readonly stages: number,
    readonly layers: number,
  ) {
    super(`${stages} pipeline stages need ${stages} layers; the model has ${layers}`);
  }
}

/** The layer a value belongs to: the outermost `repeat` iteration in its name (`layer.3.mlp` → `layer.3`). */
const layerOf = (v: Value): string | undefined => /(?:^|\.)(layer(?:_\d+)?\.\d+)(?:\.|$)/.exec(v.name ?? '')?.[1];

/** Where the layers begin: the program index of each `repeat` iteration's first op, in order. */
export function layerStarts(m: Module): number[] {
  const seen = new Set<string>();
  const starts: number[] = [];
  m.values.forEach((v, i) => {
    const l = LEAF_OPS.has(v.op) ? undefined : layerOf(v);
    if (l !== undefined && !seen.has(l)) {
      seen.add(l);
      starts.push(i);
    }
  });
  return starts;
}

/**
 * Cuts `costs` (one per layer, in order) into `stages` contiguous runs with the least largest sum (the linear
 * partition problem); returns each run's first layer. Ties go to the earliest cut, so the result is deterministic.
 */
export function balance(costs: number[], stages: number): number[] {
  const n = costs.length;
  const prefix = [0];
  for (const c of costs) prefix.push(prefix.at(-1)! + c);
  const sum = (a: number, b: number) => prefix[b]! - prefix[a]!;
  // best[k][j]: the least largest run cutting layers [0, j) into k runs; from[k][j]: where the last run starts
  const best = [Array.from({ length: n + 1 }, (_, j) => (j === 0 ? 0 : Infinity))];
  const from: number[][] = [[]];
  for (let k = 1; k <= stages; k++) {
    best.push(Array(n + 1).fill(Infinity));
    from.push(Array(n + 1).fill(0));
    for (let j = k; j <= n; j++)
      for (let i = k - 1; i < j; i++) {
        const worst = Math.max(best[k - 1]![i]!, sum(i, j));
        if (worst < best[k]![j]! * (1 - 1e-12)) {
          best[k]![j] = worst;
          from[k]![j] = i;
        }
      }
  }
  const firsts: number[] = [];
  for (let k = stages, j = n; k > 0; k--) {
    j = from[k]![j]!;
    firsts.unshift(j);
  }
  return firsts;
}

/** A device for weighing ops where the plan names no hardware: a roofline with an A100's ratio of FLOPs to bytes. */
const NOMINAL: Device = {
  memory: Infinity,
  bandwidth: 2e12,
  peak: { f32: 19.5e12, bf16: 312e12, f16: 312e12 },
  computeEfficiency: 0.7,
  memoryEfficiency: 0.8,
  gatherEfficiency: 0.8,
  launch: 0,
};

/**
 * Pipeline parallelism (`parallel: { pipeline: P }`; GPipe, Huang et al. 2019; Narayanan et al. 2021): the forward
 * program cut between layers (`repeat` iterations) into P stages — P × v with `schedule: interleaved(v)`, stage c on
 * pipeline rank c mod P — whose predicted times are as even as contiguous runs of layers allow (the embeddings go with
 * the first layers, the head and loss with the last). Every value read on a later stage than it is made on crosses by
 * a `pp_send` (an activation; a weight two stages use, as a tied embedding is; its gradient comes back the same way),
 * which autodiff mirrors for the backward pass. Values made from the step's inputs alone (positions, masks) are
 * recomputed by each stage that reads them. The program stays one module: compiler/ir/stages.ts says where each
 * value runs, and the simulated ranks run their stage's part of it.
 */
export const partitionPipeline: Pass = {
  name: 'partition-pipeline',
  doc: 'pipeline parallelism: the layers cut into stages balanced by the cost model (parallel: { pipeline })',
  run(m, { config, machine, note }) {
    const p = config.parallel.pipeline ?? 1;
    const stages = p * (config.parallel.schedule?.kind === 'interleaved' ? config.parallel.schedule.chunks : 1);
    if (stages <= 1) return m;
    const starts = layerStarts(m);
    if (starts.length < stages) throw new PipelineSplitError(stages, starts.length);
    const device = machine?.gpu ?? NOMINAL;
    // a stage's time is its forward's and its backward's: a product's backward is two products, another op's about
    // one pass, and checkpointing runs the forward again
    const training = config.task.kind === 'train';
    const again = training && config.checkpoint !== 'none' ? 1 : 0;
    const cost = (v: Value) => {
      if (LEAF_OPS.has(v.op)) return 0;
      const heavy = ['matmul', 'attention'].includes(classOf(v));
      return opTime(v, device).seconds * (training ? (heavy ? 3 : 2) + again : 1);
    };
    // layer k spans [starts[k], starts[k + 1]); the first takes what comes before it, the last what follows it
    const bounds = [0, ...starts.slice(1), m.values.length];
    const costs = bounds.slice(1).map((end, k) => m.values.slice(bounds[k], end).reduce((a, v) => a + cost(v), 0));
    const firsts = balance(costs, stages);
    const stageAt = (i: number) => {
      let s = 0;
      while (s + 1 < firsts.length && bounds[firsts[s + 1]!]! <= i) s++;
      return s;
    };
    note?.(
      `${starts.length} layers in ${stages} stages: ` +
        firsts.map((k, s) => `${(firsts[s + 1] ?? starts.length) - k}`).join(' + ') +
        ` layers; predicted time per micro-batch and stage ${firsts
          .map((k, s) => costs.slice(k, firsts[s + 1] ?? starts.length).reduce((a, c) => a + c, 0))
          .map((t) => `${(t * 1e6).toPrecision(3)} us`)
          .join(', ')}`,
    );
    return cut(m, stageAt, p);
  },
};

/** The program with a `pp_send` wherever a stage reads what another made. */
function cut(m: Module, stageAt: (index: number) => number, pipeline: number): Module {
  const free = freeValues(m);
  const stage = new Map<Value, number>();
  m.values.forEach((v, i) => {
    if (!LEAF_OPS.has(v.op) && !free.has(v)) stage.set(v, stageAt(i));
  });
  // a parameter lives on the first stage that reads it
  for (const v of m.values)
    if (stage.has(v))
      for (const x of v.inputs)
        if (x.op === 'param' || x.op === 'state') stage.set(x, Math.min(stage.get(x) ?? Infinity, stage.get(v)!));
  const sent = new Map<string, Value>();
  return rewriteModule(m, (v, operands, b) => {
    const s = stage.get(v);
    if (s === undefined || LEAF_OPS.has(v.op)) return undefined;
    // an operand made on another stage crosses by a send (one per value and stage); a weight (as its gradient,
    // mirrored by autodiff) is the same for every micro-batch: sent once a step
    const moved = v.inputs.map((x, k) => {
      const from = stage.get(x);
      if (from === undefined || from === s) return operands[k]!;
      const key = `${x.id}:${s}`;
      const weight: Attrs = x.op === 'param' || x.op === 'state' ? { weight: true } : {};
      if (!sent.has(key))
        sent.set(
          key,
          b.op('pp_send', [operands[k]!], { from, to: s, pipeline, ...weight }, { name: x.name, loc: x.loc }),
        );
      return sent.get(key)!;
    });
    return moved.some((x, k) => x !== operands[k]) ? b.again(v, moved, { name: v.name, loc: v.loc }) : undefined;
  });
}
