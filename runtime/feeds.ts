import type { Plan } from './plan.ts';
import { graphFeed, loadGraph } from './data/graph.ts';
import type { GraphFeed, GraphSpec } from './data/graph-spec.ts';
import { normals, rng } from './init.ts';
import { textBatch, type TextSpec } from './data/text.ts';

export interface HostTensor {
  data: Float32Array | Float64Array | Int32Array;
  shape: number[];
}

export type FeedSpec =
  | { kind: 'step'; every?: number | undefined }
  | { kind: 'last_micro'; every: number }
  | { kind: 'graph'; graph: string; key: string }
  | { kind: 'synthetic'; range?: number | undefined }
  | { kind: 'text'; part: 'train' | 'val'; role: 'tokens' | 'targets' };

/** Data sources a plan names: its graphs, and its text corpus. */
export interface DataSources {
  graphs: (name: string) => GraphSpec;
  text?: TextSpec | undefined;
}

/** A fixed, seeded batch for an input no data source provides: floats ~ N(0, 1), integers uniform in [0, range). */
export function syntheticTensor(
  name: string,
  dtype: string,
  shape: number[],
  seed: number,
  range = 2,
  f64 = false,
): HostTensor {
  const n = shape.reduce((a, d) => a * d, 1);
  const next = rng((seed * 7919 + [...name].reduce((a, c) => a * 31 + c.charCodeAt(0), 7)) >>> 0);
  if (dtype === 'i32') return { data: Int32Array.from({ length: n }, () => Math.floor(next() * range)), shape };
  const data = f64 ? new Float64Array(n) : new Float32Array(n);
  normals(n, next, data);
  return { data, shape };
}

/** The tensor an input's feed names at a given step. */
export function feedTensor(
  name: string,
  dtype: string,
  shape: number[],
  feed: FeedSpec,
  step: number,
  seed: number,
  data: DataSources,
  f64 = false,
): HostTensor {
  switch (feed.kind) {
    case 'step':
      // with gradient accumulation over `every` micro-batches, the optimizer's step (1-based)
      return { data: Int32Array.of(feed.every ? Math.floor((step - 1) / feed.every) + 1 : step), shape: [] };
    case 'last_micro':
      // 1 in the run that ends an optimizer step (its update applied), 0 in the runs that only accumulate
      return { data: (f64 ? Float64Array : Float32Array).of(step % feed.every === 0 ? 1 : 0), shape: [] };
    case 'graph': {
      const t = graphFeed(loadGraph(data.graphs(feed.graph)), feed.key as GraphFeed);
      return { data: f64 && t.data instanceof Float32Array ? Float64Array.from(t.data) : t.data, shape: t.shape };
    }
    case 'synthetic':
      return syntheticTensor(name, dtype, shape, seed, feed.range, f64);
    case 'text':
      if (!data.text) throw new Error(`internal: input ${name} reads text, but the plan names no text`);
      return { data: textBatch(data.text, feed.part, feed.role, shape, step, seed), shape };
  }
}

/**
 * What a plan's inputs hold at `step` (1-based), by buffer id: every input at step 1; after that only
 * those whose data moves (the step counter, text windows) or that `given` supplies by name. Graph
 * data and synthetic batches stay where step 1 wrote them.
 */
export function planFeeds(
  plan: Plan,
  step: number,
  data: DataSources,
  given?: Map<string, Float32Array | Int32Array>,
): [number, HostTensor['data']][] {
  const out: [number, HostTensor['data']][] = [];
  for (const inp of plan.inputs) {
    const b = plan.buffers[inp.buffer]!;
    const mine = given?.get(inp.name);
    if (mine) out.push([b.id, mine]);
    else if (step === 1 || (inp.feed.kind !== 'graph' && inp.feed.kind !== 'synthetic'))
      out.push([b.id, feedTensor(inp.name, b.dtype, b.shape, inp.feed, step, plan.seed, data).data]);
  }
  return out;
}
