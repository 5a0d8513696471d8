import { LEAF_OPS, pinnedValues, type Module, type Value } from '../ir/graph.ts';
import { bytesOf } from '../ir/op.ts';

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
    this.free.push({ at, size });
    this.free.sort((a, b) => a.at - b.at);
    const merged: { at: number; size: number }[] = [];
    for (const f of this.free) {
      const last = merged.at(-1);
      if (last && last.at + last.size === f.at) last.size += f.size;
      else merged.push({ ...f });
    }
    this.free = merged;
  }
}

export type MemoryEvent = { kind: 'alloc'; value: Value; offset: number } | { kind: 'compute'; value: Value } | { kind: 'free'; value: Value };

export interface MemoryPlan {
  /** Leaves (inputs, parameters, state) first, then per op: alloc its result, compute it, free operands at their last use. */
  events: MemoryEvent[];
  offsetOf: Map<Value, number>;
  /** The most live bytes at once (allocations rounded to the alignment). */
  peakBytes: number;
  /** The arena's size: the peak plus whatever fragmentation adds (the smaller of first-fit and offline placement). */
  arenaBytes: number;
}

const isLeaf = (v: Value) => LEAF_OPS.has(v.op);

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
  const alloc = (v: Value) => {
    const offset = arena.alloc(tensorBytes(v));
    offsetOf.set(v, offset);
    events.push({ kind: 'alloc', value: v, offset });
    live += allocatedBytes(tensorBytes(v));
    peak = Math.max(peak, live);
  };
  for (const v of m.values) if (isLeaf(v)) alloc(v);
  const pinned = pinnedValues(m);
  const lastUse = new Map<Value, number>();
  m.values.forEach((v, i) => v.inputs.forEach((x) => lastUse.set(x, i)));
  m.values.forEach((v, i) => {
    if (isLeaf(v)) return;
    alloc(v);
    events.push({ kind: 'compute', value: v });
    for (const x of new Set(v.inputs)) {
      if (lastUse.get(x) !== i || pinned.has(x) || isLeaf(x)) continue;
      arena.release(offsetOf.get(x)!, tensorBytes(x));
      events.push({ kind: 'free', value: x });
      live -= allocatedBytes(tensorBytes(x));
    }
  });
  const packed = packOffline(events);
  if (packed.size < arena.size) {
    for (const e of events) if (e.kind === 'alloc') offsetOf.set(e.value, (e.offset = packed.offsetOf.get(e.value)!));
    return { events, offsetOf, peakBytes: peak, arenaBytes: packed.size };
  }
  return { events, offsetOf, peakBytes: peak, arenaBytes: arena.size };
}

/**
 * Offline placement, knowing every buffer's lifetime (greedy by size, as TFLite's and PyTorch's
 * static planners do): largest first, each at the lowest offset where it overlaps no placed buffer
 * that is live at the same time. First-fit in program order fragments when a large buffer is
 * allocated after small long-lived ones (recomputations in a checkpointed backward pass).
 */
function packOffline(events: MemoryEvent[]): { offsetOf: Map<Value, number>; size: number } {
  const span = new Map<Value, { start: number; end: number; bytes: number }>();
  events.forEach((e, i) => {
    if (e.kind === 'alloc') span.set(e.value, { start: i, end: Infinity, bytes: allocatedBytes(tensorBytes(e.value)) });
    else if (e.kind === 'free') span.get(e.value)!.end = i;
  });
  const order = [...span.entries()].sort((a, b) => b[1].bytes - a[1].bytes || a[1].start - b[1].start);
  const placed: { at: number; bytes: number; start: number; end: number }[] = []; // by offset
  const offsetOf = new Map<Value, number>();
  let size = 0;
  for (const [v, s] of order) {
    let at = 0;
    for (const p of placed) {
      if (p.start >= s.end || s.start >= p.end) continue; // not live at the same time
      if (p.at >= at + s.bytes) break;
      at = Math.max(at, p.at + p.bytes);
    }
    let k = placed.length;
    while (k > 0 && placed[k - 1]!.at > at) k--;
    placed.splice(k, 0, { at, bytes: s.bytes, start: s.start, end: s.end });
    offsetOf.set(v, at);
    size = Math.max(size, at + s.bytes);
  }
  return { offsetOf, size };
}
