import { resolve } from 'node:path';
import type { Module, Value } from '../ir/graph.ts';
import { leafName } from '../ir/graph.ts';
import { feedOf } from '../interp/session.ts';
import type { PlanConfig } from '../sema/plan.ts';
import type { GraphSpec } from '../../runtime/data/graph-spec.ts';
import { PLAN_VERSION, type Plan, type PlanBuffer, type PlanStep } from '../../runtime/plan.ts';
import { copyKernel } from './wgsl/copy.ts';
import { wgslKernel, type DeviceClass } from './wgsl/index.ts';

export const ALIGNMENT = 256;

/** The device limits a plan must respect; WebGPU's defaults, which every adapter supports, unless told otherwise. */
export interface DeviceLimits {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
}
export const DEFAULT_LIMITS: DeviceLimits = { maxBufferSize: 268_435_456, maxStorageBufferBindingSize: 134_217_728 };

/** A plan that cannot run within the device's limits, with the numbers. */
export class DeviceLimitError extends Error {}

export interface PlanOptions {
  /** Which kernel variants to emit (see DeviceClass); `gpu` unless told otherwise. */
  deviceClass?: DeviceClass;
  limits?: DeviceLimits;
  /** How the plan names the text corpus (build directories store it relative to themselves). */
  textPath?: (file: string) => string;
}

export interface BuiltPlan {
  plan: Plan;
  /** WGSL source of each kernel, by name. */
  sources: Map<string, string>;
}

const roundUp = (n: number, a: number) => Math.ceil(n / a) * a;

/** First-fit allocation in one arena, with the free list kept sorted by offset. */
class Arena {
  private free: { at: number; size: number }[] = [];
  size = 0;
  alloc(bytes: number): number {
    const need = roundUp(Math.max(bytes, 4), ALIGNMENT);
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
    const size = roundUp(Math.max(bytes, 4), ALIGNMENT);
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

/**
 * Lowers a verified module to an execution plan: one GPU buffer range per tensor in a single arena
 * (temporaries freed after their last use and their space reused), one kernel launch per op, and
 * copies of updated parameters and optimizer state at the end of the step. Throws DeviceLimitError
 * when a tensor cannot be bound or the arena cannot be allocated within the device's limits.
 */
export function buildPlan(m: Module, config: PlanConfig, graphs: Record<string, GraphSpec>, opts: PlanOptions = {}): BuiltPlan {
  const deviceClass = opts.deviceClass ?? 'gpu';
  const limits = opts.limits ?? DEFAULT_LIMITS;
  const arena = new Arena();
  const buffers: PlanBuffer[] = [];
  const steps: PlanStep[] = [];
  const sources = new Map<string, string>();
  const kernels: Plan['kernels'] = [];
  const bufferOf = new Map<Value, number>();
  let live = 0;
  let peak = 0;
  const aligned = (b: number) => roundUp(Math.max(b, 4), ALIGNMENT);

  const allocate = (v: Value, role: PlanBuffer['role'], name: string): number => {
    const bytes = (v.type.shape as number[]).reduce((a, d) => a * d, 1) * 4;
    if (bytes > limits.maxStorageBufferBindingSize)
      throw new DeviceLimitError(`tensor ${name} (${v.type.dtype}[${(v.type.shape as number[]).join(', ')}]) needs ${bytes} bytes, more than the device binds at once (maxStorageBufferBindingSize ${limits.maxStorageBufferBindingSize})`);
    const id = buffers.length;
    buffers.push({ id, name, dtype: v.type.dtype === 'i32' ? 'i32' : 'f32', shape: v.type.shape as number[], bytes, tier: 'gpu', offset: arena.alloc(bytes), role });
    bufferOf.set(v, id);
    steps.push({ kind: 'alloc', buffer: id });
    live += aligned(bytes);
    peak = Math.max(peak, live);
    return id;
  };
  const addKernel = (name: string, code: string, bindings: number, op: string) => {
    if (sources.has(name)) return;
    sources.set(name, code);
    kernels.push({ name, file: `kernels/${name}.wgsl`, bindings, ops: [op] });
  };

  const inputs: Plan['inputs'] = [];
  const params: Plan['params'] = [];
  for (const v of m.values) {
    if (v.op === 'input') {
      const feed = feedOf(m, v);
      inputs.push({ name: leafName(v), buffer: allocate(v, 'input', leafName(v)), feed: feed.kind === 'synthetic' && feed.range === undefined ? { kind: 'synthetic' } : feed });
    } else if (v.op === 'param' || v.op === 'state') {
      const id = allocate(v, v.op, leafName(v));
      const { name: _n, ...init } = v.attrs as Record<string, unknown>;
      params.push({ name: leafName(v), buffer: id, init: init as Plan['params'][number]['init'], trainable: v.op === 'param' });
    }
  }

  const pinned = new Set<Value>([...m.outputs.map((o) => o.value), ...m.updates.map((u) => u.value)]);
  const lastUse = new Map<Value, number>();
  m.values.forEach((v, i) => v.inputs.forEach((x) => lastUse.set(x, i)));
  m.values.forEach((v, i) => {
    if (v.op === 'input' || v.op === 'param' || v.op === 'state') return;
    const k = wgslKernel(v, deviceClass);
    addKernel(k.name, k.code, v.inputs.length + 1, v.op);
    const out = allocate(v, 'temp', v.name ?? v.op);
    steps.push({ kind: 'launch', kernel: k.name, bindings: [...v.inputs.map((x) => bufferOf.get(x)!), out], dispatch: k.dispatch, value: `%${i} ${v.op}` });
    for (const x of new Set(v.inputs)) {
      if (lastUse.get(x) !== i || pinned.has(x) || x.op === 'input' || x.op === 'param' || x.op === 'state') continue;
      const b = buffers[bufferOf.get(x)!]!;
      arena.release(b.offset, b.bytes);
      steps.push({ kind: 'free', buffer: b.id });
      live -= aligned(b.bytes);
    }
  });
  for (const u of m.updates) {
    const leaf = m.values.find((v) => (v.op === 'param' || v.op === 'state') && leafName(v) === u.target)!;
    const n = (u.value.type.shape as number[]).reduce((a, d) => a * d, 1);
    const k = copyKernel(n);
    addKernel(k.name, k.code, 2, 'copy');
    steps.push({ kind: 'launch', kernel: k.name, bindings: [bufferOf.get(u.value)!, bufferOf.get(leaf)!], dispatch: k.dispatch, value: `update ${u.target}` });
  }
  if (arena.size > limits.maxBufferSize)
    throw new DeviceLimitError(`the plan's GPU arena needs ${arena.size} bytes, more than the device's largest buffer (maxBufferSize ${limits.maxBufferSize})`);
  const outputs = m.outputs.map((o) => ({ name: o.name, buffer: bufferOf.get(o.value)! }));
  const plan: Plan = {
    version: PLAN_VERSION,
    name: config.name,
    target: 'wgsl',
    deviceClass,
    limits,
    seed: config.seed,
    alignment: ALIGNMENT,
    arenas: { gpu: arena.size },
    predictedPeakBytes: peak,
    buffers,
    kernels,
    inputs,
    params,
    outputs,
    graphs,
    ...(config.data ? { text: { file: opts.textPath?.(config.data.file) ?? resolve(config.data.file), split: config.data.split } } : {}),
    steps,
  };
  return { plan, sources };
}
