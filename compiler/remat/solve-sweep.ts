import { allocatedBytes } from '../codegen/memory.ts';
import type { OffGpuTier } from '../ir/ops/tier.ts';
import { replay } from './replay.ts';
import type { TierChoice } from './solve-greedy.ts';
import type { StageSchedule, TrainingGraph } from './training-graph.ts';

/** A stretch of ops during which a value is not read: `start`…`end`, then `reader` reads it. */
interface Gap {
  value: number;
  start: number;
  end: number;
  reader: number;
}

/** A max-heap of gaps by end (the furthest next use first), ties by the larger value, then the lower index. */
class GapHeap {
  private items: Gap[] = [];
  constructor(private bytes: (g: Gap) => number) {}
  private above(a: Gap, b: Gap) {
    return a.end !== b.end
      ? a.end > b.end
      : this.bytes(a) !== this.bytes(b)
        ? this.bytes(a) > this.bytes(b)
        : a.value < b.value;
  }
  push(g: Gap) {
    const h = this.items;
    h.push(g);
    for (let k = h.length - 1; k > 0; ) {
      const p = (k - 1) >> 1;
      if (!this.above(h[k]!, h[p]!)) break;
      [h[k], h[p]] = [h[p]!, h[k]!];
      k = p;
    }
  }
  pop(): Gap | undefined {
    const h = this.items;
    const top = h[0];
    const last = h.pop()!;
    if (h.length) {
      h[0] = last;
      for (let k = 0; ; ) {
        const [l, r] = [2 * k + 1, 2 * k + 2];
        let m = k;
        if (l < h.length && this.above(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.above(h[r]!, h[m]!)) m = r;
        if (m === k) break;
        [h[k], h[m]] = [h[m]!, h[k]!];
        k = m;
      }
    }
    return top;
  }
}

/**
 * Moves without recomputation, for steps of any size (Belady's furthest-next-use rule): the ops run in their order;
 * wherever the bytes live at an op exceed the budget, the value whose next reader is furthest away among those
 * waiting there is moved off the GPU for that wait — offloaded once, when made, and reloaded by that reader — until
 * the op fits. Each value's host copy counts against its tier's capacity (host first, then the SSD). One pass over
 * the step with a heap: O((ops + reads) log reads). The stages it returns reload each moved value only after the
 * waits chosen; between the others it stays on the GPU. Undefined when some op does not fit however much waits
 * elsewhere (what it reads and makes, and the leaves, exceed the budget) or the tiers run out.
 */
export function solveSweep(
  g: TrainingGraph,
  budget: number,
  tiers: TierChoice,
): { stages: StageSchedule; moved: Map<number, OffGpuTier>; peak: number } | undefined {
  const n = g.nodes.length;
  const base = replay(
    g,
    g.nodes.map((_, t) => [t]),
    { trace: true },
  ).trace!;
  const readers: number[][] = g.nodes.map(() => []);
  g.nodes.forEach((v, t) => v.deps.forEach((i) => readers[i]!.push(t)));
  const startingAt: Gap[][] = g.nodes.map(() => []);
  g.nodes.forEach((v, i) => {
    if (v.output) return;
    let last = i;
    for (const t of readers[i]!) {
      if (t > last + 1) startingAt[last + 1]!.push({ value: i, start: last + 1, end: t - 1, reader: t });
      last = t;
    }
  });
  const size = (i: number) => g.nodes[i]!.bytes;
  const heap = new GapHeap((gap) => size(gap.value));
  const held = new Map(tiers.tiers.map((t) => [t.tier, 0]));
  const moved = new Map<number, OffGpuTier>();
  const reloadAt: number[][] = g.nodes.map(() => []);
  const freedUntil = new Float64Array(n + 1); // bytes coming back to the GPU after each op (a wait's end)
  let freed = 0;
  for (let t = 0; t < n; t++) {
    freed -= freedUntil[t]!;
    for (const gap of startingAt[t]!) heap.push(gap);
    while (base[t]! - freed > budget) {
      const gap = heap.pop();
      if (!gap) return undefined;
      if (gap.end < t) continue;
      const i = gap.value;
      if (!moved.has(i)) {
        const room = tiers.tiers.find((x) => held.get(x.tier)! + allocatedBytes(size(i)) <= x.capacity);
        if (!room) continue;
        held.set(room.tier, held.get(room.tier)! + allocatedBytes(size(i)));
        moved.set(i, room.tier);
      }
      freed += size(i);
      freedUntil[gap.end + 1] += size(i);
      reloadAt[gap.reader]!.push(i);
    }
  }
  const stages = reloadAt.map((rs, t) => [...rs, t].sort((a, b) => a - b));
  const peak = replay(g, stages, { reloaded: new Set(moved.keys()) }).peak;
  return { stages, moved, peak };
}
