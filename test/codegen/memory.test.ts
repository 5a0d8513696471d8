import { describe, expect, it } from 'vitest';
import { ALIGNMENT, allocatedBytes, planMemory, rootOf, tensorBytes } from '../../compiler/codegen/memory.ts';
import { compile } from '../../compiler/compile.ts';
import { deadCodeEliminate, LEAF_OPS, type Module, type Value } from '../../compiler/ir/graph.ts';

const CASES = [
  ['examples/mlp.flex', 'small'],
  ['examples/gpt.flex', 'tiny'],
  ['examples/gpt.flex', 'shakespeare'],
  ['examples/gcn-cora.flex', 'train'],
  ['examples/resmlp.flex', 'small'],
] as const;

describe('the memory planner', () => {
  it.each(CASES)(
    '%s --plan %s: aligned, no overlap while live, operands live when read, arena within 1% of the live peak',
    (file, plan) => {
      const r = compile(file, plan);
      expect(r.diagnostics).toEqual([]);
      const mem = planMemory(deadCodeEliminate(r.module!));
      const live = new Map<Value, [number, number]>();
      let bytes = 0;
      let peak = 0;
      for (const e of mem.events) {
        if (e.kind === 'alloc') {
          expect(e.offset % ALIGNMENT).toBe(0);
          const span: [number, number] = [e.offset, e.offset + allocatedBytes(tensorBytes(e.value))];
          expect(span[1]).toBeLessThanOrEqual(mem.arenaBytes);
          for (const [v, [lo, hi]] of live)
            expect(span[1] <= lo || span[0] >= hi, `${e.value.name} overlaps ${v.name}`).toBe(true);
          live.set(e.value, span);
          bytes += span[1] - span[0];
          peak = Math.max(peak, bytes);
        } else if (e.kind === 'free') {
          const [lo, hi] = live.get(e.value)!;
          bytes -= hi - lo;
          live.delete(e.value);
        }
      }
      expect(mem.peakBytes).toBe(peak);
      // liveness, checked against the module itself: every operand is still allocated when an op
      // runs, and outputs and updated values are at the end of the step
      const allocated = new Set<Value>();
      const m = deadCodeEliminate(r.module!);
      for (const e of mem.events) {
        if (e.kind === 'alloc') allocated.add(e.value);
        else if (e.kind === 'free') allocated.delete(e.value);
        // a part is a range of its packed value (never allocated itself)
        else
          for (const x of e.value.inputs.map(rootOf))
            expect(allocated.has(x), `${x.name ?? x.op} read after its free`).toBe(true);
      }
      for (const o of m.outputs) expect(allocated.has(rootOf(o.value)), `output ${o.name}`).toBe(true);
      for (const u of m.updates) expect(allocated.has(rootOf(u.value)), `update of ${u.target}`).toBe(true);
      expect(mem.arenaBytes).toBeGreaterThanOrEqual(peak);
      expect(mem.arenaBytes).toBeLessThanOrEqual(peak * 1.01);
    },
  );
});

/**
 * The planner against placements written here the slow, obvious way, on random steps: first-fit (each buffer at the
 * lowest gap between the buffers live at that moment, else at the end of the arena) and offline placement (leaves
 * stacked at the bottom, largest first; then every other buffer, largest first, at the lowest offset clear of the
 * placed buffers it is live with). The arena must be the smaller of the two, and every figure as counted here.
 */
describe('the memory planner against naive placements', () => {
  const rand = (seed: number) => () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed / 2 ** 31);
  function randomStep(seed: number, most = 65): Module {
    const r = rand(seed);
    const values: Value[] = [];
    const make = (op: string, inputs: Value[]): Value => {
      const v = {
        id: values.length,
        op,
        inputs,
        attrs: {},
        type: { dtype: 'f32', shape: [1 + Math.floor(r() ** 3 * 900)] },
      };
      values.push(v as Value);
      return v as Value;
    };
    const leaves = 1 + Math.floor(r() * 4);
    for (let i = 0; i < leaves; i++) make(r() < 0.5 ? 'input' : 'param', []);
    const ops = 5 + Math.floor(r() * (most - 5));
    for (let i = 0; i < ops; i++) {
      const from = () => values[Math.floor(r() ** 0.5 * values.length)]!;
      make('add', r() < 0.5 ? [from()] : [from(), from()]);
    }
    const outputs = values
      .filter((v) => !LEAF_OPS.has(v.op) && r() < 0.1)
      .map((value, i) => ({ name: `o${i}`, value }));
    outputs.push({ name: 'last', value: values.at(-1)! });
    return { name: 'random', values, outputs, updates: [] };
  }

  /** Lifetimes in event order, as the planner numbers them: leaves first, then per op alloc, compute, frees. */
  function lifetimes(m: Module) {
    const kept = new Set(m.outputs.map((o) => o.value));
    const last = new Map<Value, number>();
    m.values.forEach((v, i) => v.inputs.forEach((x) => last.set(x, i)));
    const spans: { v: Value; start: number; end: number; bytes: number; leaf: boolean }[] = [];
    const open = new Map<Value, (typeof spans)[number]>();
    let t = 0;
    const alloc = (v: Value) => {
      const s = {
        v,
        start: t++,
        end: -1,
        bytes: Math.ceil(Math.max(4, 4 * (v.type.shape[0] as number)) / 256) * 256,
        leaf: LEAF_OPS.has(v.op),
      };
      spans.push(s);
      open.set(v, s);
    };
    for (const v of m.values) if (LEAF_OPS.has(v.op)) alloc(v);
    m.values.forEach((v, i) => {
      if (LEAF_OPS.has(v.op)) return;
      alloc(v);
      t++; // compute
      for (const x of new Set(v.inputs))
        if (last.get(x) === i && !kept.has(x) && !LEAF_OPS.has(x.op)) (open.get(x)!.end = t++), open.delete(x);
    });
    for (const s of open.values()) s.end = t;
    return { spans, events: t };
  }

  function firstFit(spans: ReturnType<typeof lifetimes>['spans'], events: number): number {
    let size = 0;
    const at = new Map<(typeof spans)[number], number>();
    for (let t = 0; t < events; t++)
      for (const s of spans.filter((s) => s.start === t)) {
        const live = spans
          .filter((o) => at.has(o) && o.start < t && o.end > t)
          .map((o) => [at.get(o)!, at.get(o)! + o.bytes])
          .sort((a, b) => a[0]! - b[0]!);
        let place: number | undefined;
        let cursor = 0;
        for (const [lo, hi] of [...live, [size, size]]) {
          if (lo! - cursor >= s.bytes) {
            place = cursor;
            break;
          }
          cursor = Math.max(cursor, hi!);
        }
        if (place === undefined) (place = size), (size += s.bytes);
        at.set(s, place);
      }
    return size;
  }

  /** Offline placement in both of the planner's greedy orders (largest first; longest-lived first), the smaller. */
  function offline(spans: ReturnType<typeof lifetimes>['spans'], events: number): number {
    return Math.min(offlineIn(spans, events, 'size'), offlineIn(spans, events, 'lifetime'));
  }

  function offlineIn(spans: ReturnType<typeof lifetimes>['spans'], events: number, by: 'size' | 'lifetime'): number {
    const whole = (s: (typeof spans)[number]) => s.leaf && s.end === events;
    const order = (a: (typeof spans)[number], b: (typeof spans)[number]) =>
      (by === 'lifetime' ? b.end - b.start - (a.end - a.start) : 0) || b.bytes - a.bytes || a.start - b.start;
    let base = 0;
    for (const s of spans.filter(whole).sort(order)) base += s.bytes;
    const placed: { at: number; bytes: number; start: number; end: number }[] = [];
    let size = base;
    for (const s of spans.filter((s) => !whole(s)).sort(order)) {
      let at = base;
      for (const p of placed.filter((p) => p.start < s.end && s.start < p.end).sort((a, b) => a.at - b.at)) {
        if (p.at >= at + s.bytes) break;
        at = Math.max(at, p.at + p.bytes);
      }
      placed.push({ at, bytes: s.bytes, start: s.start, end: s.end });
      size = Math.max(size, at + s.bytes);
    }
    return size;
  }

  // 8 steps of up to 1,500 ops have buffers that span several of the packer's buckets
  it('208 random steps: the peak as counted, each placement as placed here, the arena the smaller', () => {
    let offlineWins = 0;
    let firstFitWins = 0;
    for (let seed = 1; seed <= 208; seed++) {
      const m = seed <= 200 ? randomStep(seed) : randomStep(seed, 1500);
      const { spans, events } = lifetimes(m);
      const mem = planMemory(m);
      expect(mem.events.length, `seed ${seed}`).toBe(events);
      let live = 0;
      let peak = 0;
      for (let t = 0; t < events; t++) {
        live += spans.filter((s) => s.start === t).reduce((a, s) => a + s.bytes, 0);
        peak = Math.max(peak, live);
        live -= spans.filter((s) => s.end === t + 1 && s.end < events).reduce((a, s) => a + s.bytes, 0);
      }
      expect(mem.peakBytes, `seed ${seed}`).toBe(peak);
      const [ff, off] = [firstFit(spans, events), offline(spans, events)];
      expect(mem.placements, `seed ${seed}`).toEqual({ firstFit: ff, offline: off });
      expect(mem.arenaBytes, `seed ${seed}`).toBe(Math.min(ff, off));
      if (off < ff) offlineWins++;
      if (ff < off) firstFitWins++;
    }
    // offline placement (its better order) wins on some steps and, since it has two orders, loses on none here;
    // first-fit remains what steps too large to pack offline get
    expect(offlineWins).toBeGreaterThan(0);
    expect(firstFitWins).toBe(0);
  });
});
