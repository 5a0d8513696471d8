import { LEAF_OPS, leafName, outputShape, pinnedValues, type Module, type Rows, type Value } from '../ir/graph.ts';
import type { TensorType } from '../ir/types.ts';
import { bytesOf } from '../ir/op.ts';
import { tierOf, type OffGpuTier } from '../ir/ops/tier.ts';

export const ALIGNMENT = 256;

const roundUp = (n: number, a: number) => Math.ceil(n / a) * a;
/** Bytes a tensor takes in an arena: its size rounded up to the alignment (at least one word). */
export const allocatedBytes = (bytes: number) => roundUp(Math.max(bytes, 4), ALIGNMENT);
export const tensorBytes = (v: Value) => bytesOf(v.type);

/** First-fit allocation in one arena, with the free list kept sorted by offset. */
class Arena {
  private free: { at: number; size: number }[] = [];
  size = 0;
  alloc(bytes: number): number {
    const need = allocatedBytes(bytes);
    const k = this.free.findIndex((f) => f.size >= need);
    if (k >= 0) {
      const f = this.free[k]!;
      const at = f.at;
      if (f.size === need) this.free.splice(k, 1);
      else this.free[k] = { at: at + need, size: f.size - need };
      return at;
    }
    const at = this.size;
    this.size += need;
    return at;
  }
  release(at: number, bytes: number): void {
    const size = allocatedBytes(bytes);
    let lo = 0;
    let hi = this.free.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.free[mid]!.at < at) lo = mid + 1;
      else hi = mid;
    }
    const prev = this.free[lo - 1];
    const next = this.free[lo];
    if (prev && prev.at + prev.size === at) {
      prev.size += size;
      if (next && prev.at + prev.size === next.at) (prev.size += next.size), this.free.splice(lo, 1);
    } else if (next && at + size === next.at) this.free[lo] = { at, size: size + next.size };
    else this.free.splice(lo, 0, { at, size });
  }
}

export type MemoryEvent =
  | { kind: 'alloc'; value: Value; offset: number }
  | { kind: 'compute'; value: Value }
  | { kind: 'free'; value: Value };

export interface MemoryPlan {
  /**
   * Leaves (inputs, parameters, state) first, then per op: alloc its result, compute it, free operands at their last
   * use.
   */
  events: MemoryEvent[];
  offsetOf: Map<Value, number>;
  /** The most live bytes at once (allocations rounded to the alignment). */
  peakBytes: number;
  /** The arena's size: the peak plus whatever fragmentation adds (the smaller of first-fit and offline placement). */
  arenaBytes: number;
  /** The arena each placement needs: first-fit in program order, and offline (undefined past OFFLINE_MAX_BUFFERS). */
  placements: { firstFit: number; offline?: number };
  /**
   * The tiers off the GPU (values an `offload` put there), each its own arena, first-fit: the most live bytes and
   * the arena's size. `offsetOf` gives an offloaded value's offset in its tier's arena.
   */
  tiers: Record<OffGpuTier, { peakBytes: number; arenaBytes: number }>;
  /** Updates written back to their leaf in host memory right after they are computed (earlyWrites). */
  early: Map<Value, UpdateTarget>;
  /** Outputs assembled in host memory from parts: each part's output, rows, and the whole's offset in that arena. */
  parts: Map<Value, { name: string; rows: Rows; whole: TensorType; offset: number }>;
}

const isLeaf = (v: Value) => LEAF_OPS.has(v.op);
/** The value whose buffer holds v: its packed value when v is a `part` (which has no buffer of its own). */
export const rootOf = (v: Value): Value => (v.op === 'part' ? v.inputs[0]! : v);
/** A part's first element in its packed value. */
export const partOffset = (v: Value): number => Number(v.attrs['offset']);

/** Where an update is written: its leaf, and the rows it writes (all of them without `rows`). */
export interface UpdateTarget {
  leaf: Value;
  rows?: Rows;
}

const overlaps = (a: Rows | undefined, b: Rows | undefined) => !a || !b || (a[0] < b[1] && b[0] < a[1]);

/**
 * Updates of leaves kept in host memory that are written back as soon as they are computed: nothing later in the
 * step reads the rows they write of the leaf (its reloads of them are all before), so the GPU holds the new value only
 * until its copy or its last reader (Adam's new moments, read by the weight's update). New value → where it goes.
 */
export function earlyWrites(m: Module): Map<Value, UpdateTarget> {
  const out = new Map<Value, UpdateTarget>();
  const held = new Map(
    m.values.filter((v) => (v.op === 'param' || v.op === 'state') && tierOf(v) === 'host').map((v) => [leafName(v), v]),
  );
  if (!held.size) return out; // the memory planner's usual case: nothing to look up
  const at = new Map(m.values.map((v, i) => [v, i]));
  const leafReads = new Map<Value, { at: number; rows?: Rows }[]>();
  m.values.forEach((v, i) =>
    v.inputs.forEach((x) => {
      const rows = v.op === 'reload' ? (v.attrs['rows'] as unknown as Rows | undefined) : undefined;
      if (LEAF_OPS.has(x.op)) leafReads.get(x)?.push({ at: i, rows }) ?? leafReads.set(x, [{ at: i, rows }]);
    }),
  );
  const outputs = new Set(m.outputs.map((o) => o.value));
  for (const u of m.updates) {
    const leaf = held.get(u.target);
    if (!leaf || outputs.has(u.value)) continue;
    const later = (leafReads.get(leaf) ?? []).some((r) => r.at > at.get(u.value)! && overlaps(r.rows, u.rows));
    if (!later) out.set(u.value, { leaf, ...(u.rows && { rows: u.rows }) });
  }
  return out;
}

/** Bytes of one row of a value (its first axis's stride). */
const rowBytes = (v: Value): number => tensorBytes(v) / Math.max(1, v.type.shape[0] as number);

/**
 * Outputs given in parts, each part a copy to host memory (placement's `placeOutputs`): the whole output is one range
 * of the host arena, each part the rows of it it writes. Part → its output's name and range.
 */
export function outputParts(m: Module): Map<Value, { name: string; rows: Rows; whole: TensorType }> {
  const out = new Map<Value, { name: string; rows: Rows; whole: TensorType }>();
  const byName = new Map<string, { value: Value; rows?: Rows }[]>();
  for (const o of m.outputs) if (o.rows) byName.get(o.name)?.push(o) ?? byName.set(o.name, [o]);
  for (const [name, parts] of byName) {
    const whole = { dtype: parts[0]!.value.type.dtype, shape: outputShape(m, name) };
    for (const p of parts) out.set(p.value, { name, rows: p.rows!, whole });
  }
  return out;
}

/**
 * The memory plan of a module, in its order: every tensor gets a range of one arena, temporaries
 * are freed after their last use, outputs and updated values stay to the end. This is the number
 * the execution plan allocates and the runtime measures.
 */
export function planMemory(m: Module): MemoryPlan {
  const arena = new Arena();
  const events: MemoryEvent[] = [];
  const offsetOf = new Map<Value, number>();
  let live = 0;
  let peak = 0;
  const off = { host: new Arena(), ssd: new Arena() };
  const offLive = { host: 0, ssd: 0 };
  const tiers = { host: { peakBytes: 0, arenaBytes: 0 }, ssd: { peakBytes: 0, arenaBytes: 0 } };
  const parts = new Map<Value, { name: string; rows: Rows; whole: TensorType; offset: number }>();
  const wholeAt = new Map<string, number>();
  const partsOf = outputParts(m);
  const alloc = (v: Value) => {
    const tier = tierOf(v);
    const part = partsOf.get(v);
    if (part) {
      // a part of an output assembled in host memory: the whole takes its range there with the first part
      if (tier !== 'host')
        throw new Error(`internal: output ${part.name} is assembled from a value not in host memory`);
      if (!wholeAt.has(part.name)) {
        wholeAt.set(part.name, off.host.alloc(bytesOf(part.whole)));
        offLive.host += allocatedBytes(bytesOf(part.whole));
        tiers.host.peakBytes = Math.max(tiers.host.peakBytes, offLive.host);
      }
      const offset = wholeAt.get(part.name)! + part.rows[0] * rowBytes(v);
      parts.set(v, { ...part, offset: wholeAt.get(part.name)! });
      offsetOf.set(v, offset);
      events.push({ kind: 'alloc', value: v, offset });
      return;
    }
    const bytes = allocatedBytes(tensorBytes(v));
    const offset = (tier === 'gpu' ? arena : off[tier]).alloc(tensorBytes(v));
    offsetOf.set(v, offset);
    events.push({ kind: 'alloc', value: v, offset });
    if (tier !== 'gpu') {
      offLive[tier] += bytes;
      tiers[tier].peakBytes = Math.max(tiers[tier].peakBytes, offLive[tier]);
      return;
    }
    live += bytes;
    peak = Math.max(peak, live);
  };
  for (const v of m.values) if (isLeaf(v)) alloc(v);
  const early = earlyWrites(m);
  const pinned = pinnedValues(m);
  for (const v of early.keys()) pinned.delete(v);
  // a part is a range of its packed value, which lives while any part does
  for (const v of [...pinned]) if (v.op === 'part') pinned.add(rootOf(v));
  const lastUse = new Map<Value, number>();
  m.values.forEach((v, i) => v.inputs.forEach((x) => lastUse.set(rootOf(x), i)));
  m.values.forEach((v, i) => {
    if (isLeaf(v)) return;
    if (v.op !== 'part') alloc(v);
    events.push({ kind: 'compute', value: v });
    for (const x of new Set(v.inputs.map(rootOf))) {
      if (lastUse.get(x) !== i || pinned.has(x) || isLeaf(x)) continue;
      const tier = tierOf(x);
      (tier === 'gpu' ? arena : off[tier]).release(offsetOf.get(x)!, tensorBytes(x));
      events.push({ kind: 'free', value: x });
      if (tier === 'gpu') live -= allocatedBytes(tensorBytes(x));
      else offLive[tier] -= allocatedBytes(tensorBytes(x));
    }
    if (early.has(v) && !lastUse.has(v)) {
      // written back to its leaf in host memory right after it is computed (the plan's copy step), then freed
      arena.release(offsetOf.get(v)!, tensorBytes(v));
      events.push({ kind: 'free', value: v });
      live -= allocatedBytes(tensorBytes(v));
    }
  });
  for (const t of ['host', 'ssd'] as const) tiers[t].arenaBytes = off[t].size;
  const onGpu = events.filter((e) => e.kind === 'compute' || tierOf(e.value) === 'gpu');
  // two greedy orders (largest first; longest-lived first): each wins on some steps, so the smaller is kept
  const buffers = countBuffers(onGpu);
  const packed =
    buffers <= OFFLINE_MAX_BUFFERS || (buffers <= OFFLINE_WASTEFUL_BUFFERS && arena.size > peak * WASTEFUL)
      ? [packOffline(onGpu, 'size'), packOffline(onGpu, 'lifetime')].sort((a, b) => a.size - b.size)[0]
      : undefined;
  const placements = { firstFit: arena.size, ...(packed ? { offline: packed.size } : {}) };
  const offline = packed && packed.size < arena.size;
  if (offline)
    for (const e of onGpu) if (e.kind === 'alloc') offsetOf.set(e.value, (e.offset = packed.offsetOf.get(e.value)!));
  for (const v of m.values) if (v.op === 'part') offsetOf.set(v, offsetOf.get(rootOf(v))! + 4 * partOffset(v));
  const arenaBytes = offline ? packed.size : arena.size;
  return { events, offsetOf, peakBytes: peak, arenaBytes, placements, tiers, early, parts };
}

/**
 * Offline placement compares each buffer with those placed before it, which is quadratic in the long-lived ones:
 * steps with more temporaries than OFFLINE_MAX_BUFFERS (a 7B-parameter model's has about 7,000) keep first-fit,
 * which wastes 0.02–1.5% over the peak on the examples, unless first-fit wastes more than WASTEFUL (a graph step in
 * node blocks: many short-lived blocks between a few large buffers, 46% over the peak) and the step has at most
 * OFFLINE_WASTEFUL_BUFFERS (such steps place 10,000 buffers in 0.1 s).
 */
const OFFLINE_MAX_BUFFERS = 5000;
const OFFLINE_WASTEFUL_BUFFERS = 50_000;
const WASTEFUL = 1.05;
const countBuffers = (events: MemoryEvent[]) => events.reduce((n, e) => n + (e.kind === 'compute' ? 1 : 0), 0);

/**
 * Offline placement, knowing every buffer's lifetime (greedy by size, as TFLite's and PyTorch's
 * static planners do, or by lifetime, longest first): each at the lowest offset where it overlaps no placed buffer
 * that is live at the same time. First-fit in program order fragments when a large buffer is
 * allocated after small long-lived ones (recomputations in a checkpointed backward pass).
 * Buffers live from the first event to the last (leaves) overlap every other, so they go below the
 * rest, which loses nothing; the rest find the placed buffers live with them through buckets of
 * events, so a buffer is compared only with those it could collide with.
 */
function packOffline(
  events: MemoryEvent[],
  order: 'size' | 'lifetime',
): { offsetOf: Map<Value, number>; size: number } {
  const span = new Map<Value, { start: number; end: number; bytes: number }>();
  events.forEach((e, i) => {
    if (e.kind === 'alloc')
      span.set(e.value, { start: i, end: events.length, bytes: allocatedBytes(tensorBytes(e.value)) });
    else if (e.kind === 'free') span.get(e.value)!.end = i;
  });
  const firstCompute = events.findIndex((e) => e.kind === 'compute');
  const whole = (s: { start: number; end: number }) =>
    s.end === events.length && (firstCompute < 0 || s.start < firstCompute);
  type Span = [Value, { bytes: number; start: number; end: number }];
  const bySize = (a: Span, b: Span) =>
    (order === 'lifetime' ? b[1].end - b[1].start - (a[1].end - a[1].start) : 0) ||
    b[1].bytes - a[1].bytes ||
    a[1].start - b[1].start;
  const offsetOf = new Map<Value, number>();
  let base = 0;
  for (const [v, s] of [...span].filter(([, s]) => whole(s)).sort(bySize)) offsetOf.set(v, base), (base += s.bytes);

  // all: every placed buffer by offset; buckets[b]: those live during events [b·BUCKET, (b+1)·BUCKET)
  // by offset, which is all a short-lived buffer needs to look at
  const BUCKET = 256;
  const SHORT = 4;
  type Placed = { at: number; bytes: number; start: number; end: number };
  const all: Placed[] = [];
  const buckets: Placed[][] = Array.from({ length: Math.ceil(events.length / BUCKET) + 1 }, () => []);
  let size = base;
  for (const [v, s] of [...span].filter(([, s]) => !whole(s)).sort(bySize)) {
    const first = Math.floor(s.start / BUCKET);
    const last = Math.floor((s.end - 1) / BUCKET);
    const lists = buckets.slice(first, last + 1);
    let at = base;
    for (const p of last - first < SHORT ? byOffset(lists) : all) {
      if (p.start >= s.end || s.start >= p.end) continue; // not live at the same time
      if (p.at >= at + s.bytes) break;
      at = Math.max(at, p.at + p.bytes);
    }
    const p = { at, bytes: s.bytes, start: s.start, end: s.end };
    for (const list of [all, ...lists]) list.splice(upperBound(list, at), 0, p);
    offsetOf.set(v, at);
    size = Math.max(size, at + s.bytes);
  }
  return { offsetOf, size };
}

/** The index after the last entry of `list` (ascending `at`) with `at` ≤ the given offset. */
function upperBound(list: { at: number }[], at: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid]!.at <= at) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The entries of lists sorted by `at`, merged in order of `at` (an entry in several lists comes once per list). */
function* byOffset<T extends { at: number }>(lists: T[][]): Generator<T> {
  if (lists.length === 1) return yield* lists[0]!;
  const heads = lists.map(() => 0);
  const heap = lists.map((_, i) => i).filter((i) => lists[i]!.length > 0);
  const key = (i: number) => lists[i]![heads[i]!]!.at;
  // (no array is made per step: the planner merges lists for every short-lived buffer of every plan it packs)
  const down = (k: number) => {
    for (;;) {
      let m = k;
      const l = 2 * k + 1;
      if (l < heap.length && key(heap[l]!) < key(heap[m]!)) m = l;
      if (l + 1 < heap.length && key(heap[l + 1]!) < key(heap[m]!)) m = l + 1;
      if (m === k) return;
      const t = heap[k]!;
      heap[k] = heap[m]!;
      heap[m] = t;
      k = m;
    }
  };
  for (let k = (heap.length >> 1) - 1; k >= 0; k--) down(k);
  while (heap.length > 0) {
    const i = heap[0]!;
    yield lists[i]![heads[i]!]!;
    if (++heads[i]! === lists[i]!.length) (heap[0] = heap.at(-1)!), heap.pop();
    if (heap.length > 0) down(0);
  }
}
