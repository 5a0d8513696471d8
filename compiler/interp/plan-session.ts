import type { Module } from '../ir/graph.ts';
import type { NDArray, RefContext } from '../ir/op.ts';
import { bindingsOf } from '../codegen/bindings.ts';
import { roundTo } from '../ir/ops/cast.ts';
import { getOp } from '../ir/ops/registry.ts';
import { planFeeds, type DataSources } from '../../runtime/feeds.ts';
import { initTensor } from '../../runtime/init.ts';
import { asStored } from '../../runtime/nf4.ts';
import { PlanError, type Plan, type PlanBuffer } from '../../runtime/plan.ts';
import { POISON_BITS, poisonByDefault, PoisonError } from '../../runtime/poison.ts';
import { boundPeak } from '../../runtime/session.ts';
import { TierStore, type TierMeasure } from '../../runtime/tiers.ts';

/**
 * Runs an execution plan on the CPU, in its own arena: every launch reads its operands from the
 * arena ranges the plan gave them and writes its result into its range, computed by the op's CPU
 * reference. What the WebGPU session does with kernels, without a device: the plan's memory layout
 * and liveness are checked by the same numbers the interpreter computes.
 *
 * Every step checks that the buffers a launch binds are allocated, and that no two live buffers
 * share a byte (PlanError). With `poison` (or FLEXC_POISON=1) a freed range is overwritten with
 * NaNs and a launch that binds a freed buffer fails (PoisonError). The bookkeeping is exact, so a
 * NaN in the results is the model's own (a WebGPU session cannot tell, and fails on one).
 */
export class CpuPlanSession {
  step = 0;
  /** The most arena bytes the launches address: the highest end of any range one binds. */
  readonly measuredPeakBytes: number;
  /** Kernel launches of the last step, as run. */
  launches = 0;
  private readonly f32: Float32Array;
  private readonly i32: Int32Array;
  private readonly store?: TierStore;

  /** Host and SSD tiers, measured (plans with copies between tiers). */
  get tiers(): TierMeasure | undefined {
    return this.store?.measure;
  }

  constructor(
    readonly module: Module,
    readonly plan: Plan,
    private readonly data: DataSources,
    readonly poison = poisonByDefault(),
    spillDir?: string,
  ) {
    const size = Math.max(4, plan.arenas.gpu);
    const arena = new ArrayBuffer(size);
    this.f32 = new Float32Array(arena);
    this.i32 = new Int32Array(arena);
    this.measuredPeakBytes = boundPeak(plan);
    if (TierStore.needed(plan)) this.store = new TierStore(plan, spillDir);
    for (const p of plan.params)
      this.write(this.buffer(p.buffer), initTensor(p.init, this.buffer(p.buffer).shape, p.name, plan.seed));
  }

  /** One step: feeds the inputs, runs the plan's steps in order and returns the named outputs (all by default). */
  run(outputs?: string[], given?: Map<string, Float32Array | Int32Array>): Map<string, Float32Array | Int32Array> {
    this.step++;
    for (const [id, data] of planFeeds(this.plan, this.step, this.data, given)) this.write(this.buffer(id), data);
    const ctx: RefContext = { floats: (n) => new Float32Array(n), step: this.step };
    const live = new Map<number, PlanBuffer>();
    const freedAt = new Map<number, number>();
    const persistent = this.plan.buffers.filter((b) => b.role !== 'temp' && b.parent === undefined);
    for (const b of persistent) live.set(b.id, b);
    const bound = (id: number, i: number, what: string) => {
      if (live.has(this.buffer(id).parent ?? id)) return;
      const b = this.buffer(id);
      const why = freedAt.has(id) ? `freed at step ${freedAt.get(id)}` : 'never allocated';
      const msg = `step ${i} of plan \`${this.plan.name}\` (${what}) binds buffer ${id} (${b.name}), ${why}`;
      throw this.poison ? new PoisonError(msg) : new PlanError(msg);
    };
    let launches = 0;
    this.plan.steps.forEach((st, i) => {
      if (st.kind === 'alloc') {
        const b = this.buffer(st.buffer);
        if (b.role !== 'temp') return;
        const clash = [...live.values()].find((o) => o.tier === b.tier && overlap(o, b));
        if (clash)
          throw new PlanError(
            `step ${i} of plan \`${this.plan.name}\`: buffer ${b.id} (${b.name}, bytes ${b.offset}..${end(b)}) ` +
              `overlaps live buffer ${clash.id} (${clash.name}, bytes ${clash.offset}..${end(clash)})`,
          );
        live.set(b.id, b);
        freedAt.delete(b.id);
      } else if (st.kind === 'free') {
        const b = this.buffer(st.buffer);
        live.delete(b.id);
        freedAt.set(b.id, i);
        if (this.poison && b.tier === 'gpu') this.i32.fill(POISON_BITS, b.offset / 4, end(b) / 4);
      } else if (st.kind === 'clear') {
        bound(st.buffer, i, 'clear');
        const b = this.buffer(st.buffer);
        this.i32.fill(0, b.offset / 4, (b.offset + b.bytes) / 4);
      } else if (st.kind === 'copy') {
        bound(st.from, i, st.value);
        bound(st.to, i, st.value);
        const [from, to] = [this.buffer(st.from), this.buffer(st.to)];
        if (!this.store) throw new PlanError(`plan \`${this.plan.name}\` copies between tiers it has no arena for`);
        if (from.tier === 'gpu') this.store.put(to, new Uint8Array(this.f32.buffer, from.offset, from.bytes));
        else new Uint8Array(this.f32.buffer, to.offset, to.bytes).set(this.store.get(from));
      } else if (st.kind === 'collective')
        throw new PlanError(`plan \`${this.plan.name}\` exchanges values between ranks; it runs on simulated ranks`);
      else {
        for (const id of st.bindings) bound(id, i, st.value);
        this.write(this.buffer(st.bindings.at(-1)!), this.launch(st.value, st.bindings.slice(0, -1), ctx));
        launches++;
      }
    });
    this.launches = launches;
    const wanted = this.plan.outputs.filter((o) => !outputs || outputs.includes(o.name));
    const result = new Map(wanted.map((o) => [o.name, this.read(this.buffer(o.buffer)).data]));
    return result;
  }

  /** Closes the host and SSD tiers (the spill directory is removed). */
  destroy(): void {
    this.store?.close();
  }

  /** Current values of the parameters and optimizer state, by name. */
  parameters(): Map<string, Float32Array | Int32Array> {
    return new Map(this.plan.params.map((p) => [p.name, this.read(this.buffer(p.buffer)).data]));
  }

  /** Overwrites parameters (e.g. to start from another session's values). */
  loadParameters(values: Map<string, NDArray['data']>): void {
    for (const p of this.plan.params) {
      const v = values.get(p.name);
      if (v) this.write(this.buffer(p.buffer), asStored(p.init.storage, v));
    }
  }

  /**
   * The result of one launch: a value's op (`%i op`) by its CPU reference, its operands read from the
   * bindings as the plan makes them (bindingsOf), or a parameter update's copy.
   */
  private launch(what: string, bound: number[], ctx: RefContext): NDArray['data'] {
    const read = (k: number) => this.read(this.buffer(bound[k] ?? fail(`plan step \`${what}\` binds too few buffers`)));
    if (what.startsWith('update ')) return read(0).data;
    const v = this.module.values[Number(/^%(\d+) /.exec(what)?.[1] ?? NaN)];
    if (!v || !what.endsWith(` ${v.op}`)) throw new PlanError(`plan step \`${what}\` names no value of the module`);
    const r = getOp(v.op).ref(bindingsOf(v).slot.map(read), v, ctx);
    if (!(r.data instanceof Int32Array)) roundTo(v.type.dtype, r.data);
    return r.data;
  }

  private buffer(id: number): PlanBuffer {
    return this.plan.buffers[id] ?? fail(`plan has no buffer ${id}`);
  }

  /** A copy of a buffer's range (a reference may keep or return its operands). */
  private read(b: PlanBuffer): { data: Float32Array | Int32Array; shape: number[] } {
    if (b.tier !== 'gpu') {
      const bytes = this.store!.peek(b);
      return {
        data: b.dtype === 'i32' ? new Int32Array(bytes.buffer) : new Float32Array(bytes.buffer),
        shape: b.shape,
      };
    }
    const view = b.dtype === 'i32' ? this.i32 : this.f32;
    return { data: view.slice(b.offset / 4, end(b) / 4), shape: b.shape };
  }

  private write(b: PlanBuffer, data: NDArray['data']): void {
    if (data.length * 4 !== b.bytes) fail(`buffer ${b.name} holds ${b.bytes / 4} values, got ${data.length}`);
    if (b.tier !== 'gpu') {
      const typed = b.dtype === 'i32' ? Int32Array.from(data) : Float32Array.from(data);
      return this.store!.feed(b, new Uint8Array(typed.buffer));
    }
    (b.dtype === 'i32' ? this.i32 : this.f32).set(data, b.offset / 4);
  }
}

const end = (b: PlanBuffer): number => b.offset + b.bytes;
const overlap = (a: PlanBuffer, b: PlanBuffer): boolean => a.offset < end(b) && b.offset < end(a);

function fail(msg: string): never {
  throw new PlanError(msg);
}
