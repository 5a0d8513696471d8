import { COLLECTIVE_OPS } from '../ir/ops/collective.ts';
import { stagesOf } from '../ir/stages.ts';
import { shardOf } from '../passes/partition-tensor.ts';
import { resolve } from 'node:path';
import type { Module, Rows, Value } from '../ir/graph.ts';
import { bytesOf } from '../ir/op.ts';
import { leafName } from '../ir/graph.ts';
import { feedOf } from '../interp/session.ts';
import type { PlanConfig } from '../sema/plan.ts';
import type { GraphSpec } from '../../runtime/data/graph-spec.ts';
import { PLAN_VERSION, type Plan, type PlanBuffer, type PlanStep } from '../../runtime/plan.ts';
import { bindingsOf } from './bindings.ts';
import { copyKernel, lowerValue } from '../kernel/lower/index.ts';
import type { DeviceClass } from '../kernel/lower/common.ts';
import type { Kernel } from '../kernel/ir.ts';
import { TARGETS, type DeviceLimits, type Target } from '../targets/registry.ts';
import { ALIGNMENT, partOffset, planMemory, rootOf, tensorBytes } from './memory.ts';
import { tierOf, TRANSFER_OPS } from '../ir/ops/tier.ts';

export { ALIGNMENT } from './memory.ts';
export type { DeviceLimits } from '../targets/registry.ts';

/** WebGPU's default limits, which every adapter supports. */
export const DEFAULT_LIMITS: DeviceLimits = TARGETS.wgsl.limits;

/** A plan that cannot run within the device's limits, with the numbers. */
export class DeviceLimitError extends Error {}

/** A partitioned program (collectives over ranks) asked of a target that runs one device's plan. */
export class CollectivesError extends Error {
  constructor(
    readonly ranks: number,
    readonly what = 'tensor-parallel ranks',
  ) {
    super(
      `the plan is one of ${ranks} ${what}: a build writes one device's program, and its collectives need every ` +
        'rank of their group',
    );
  }
}

export interface PlanOptions {
  /** What the kernels are written in (`wgsl` unless told otherwise). */
  target?: Target;
  /** Which kernel variants to emit (see DeviceClass); the target's default unless told otherwise. */
  deviceClass?: DeviceClass;
  /** The device's limits; the target's defaults unless told otherwise. */
  limits?: DeviceLimits;
  /** The shared library's file name (targets compiled to one): LIBRARY unless told otherwise. */
  library?: string;
  /** How the plan names the text corpus (build directories store it relative to themselves). */
  textPath?: (file: string) => string;
  /**
   * A partitioned program for simulated ranks (compiler/interp/simulated-ranks.ts): each collective and `pp_send` a
   * `collective` step, each step of a pipelined program its stage, and with `dataParallel` each gradient averaged over
   * the replicas (`data_mean`) as it is made. Without it such a program is CollectivesError.
   */
  ranks?: { dataParallel: boolean };
}

export interface BuiltPlan {
  plan: Plan;
  /** Source of each kernel in the target's language, by name. */
  sources: Map<string, string>;
  /** The kernels themselves (kernel IR), by name. */
  kernels: Map<string, Kernel>;
  /** The host library's file and source, for targets compiled to a shared library. */
  host?: { file: string; code: string };
}

/** The names of the inputs each value is computed from, sorted: one pass in program order. */
function inputsReaching(m: Module): Map<Value, string[]> {
  const reach = new Map<Value, string[]>();
  for (const v of m.values) {
    if (v.op === 'input') reach.set(v, [leafName(v)]);
    else {
      const names = new Set(v.inputs.flatMap((x) => reach.get(x)!));
      reach.set(v, [...names].sort());
    }
  }
  return reach;
}

/**
 * Lowers a verified module to an execution plan: one GPU buffer range per tensor in a single arena
 * (temporaries freed after their last use and their space reused), one kernel launch per op, and
 * copies of updated parameters and optimizer state at the end of the step. Throws DeviceLimitError
 * when a tensor cannot be bound or the arena cannot be allocated within the device's limits.
 */
export function buildPlan(
  m: Module,
  config: PlanConfig,
  graphs: Record<string, GraphSpec>,
  opts: PlanOptions = {},
): BuiltPlan {
  const ranks = m.values.find((v) => COLLECTIVE_OPS.has(v.op))?.attrs['ranks'];
  if (ranks !== undefined && !opts.ranks) throw new CollectivesError(Number(ranks));
  const stages = m.values.find((v) => v.op === 'pp_send')?.attrs['pipeline'];
  if (stages !== undefined && !opts.ranks) throw new CollectivesError(Number(stages), 'pipeline stages');
  const st = opts.ranks ? stagesOf(m) : undefined;
  const stageOf = (v: Value) => (st?.stage.has(v) ? { stage: st.stage.get(v)! } : {});
  // a gradient averaged over the data-parallel replicas as soon as it is made (before the update reads it)
  const averaged = (v: Value) => {
    if (gradients.has(v))
      steps.push({
        kind: 'collective',
        op: 'data_mean',
        // an expert's gradient: summed over the ranks holding the expert, over all the replicas
        attrs: expertGrads.has(v) ? { group: 'expert' } : {},
        from: bufferOf.get(v)!,
        to: bufferOf.get(v)!,
        value: `${gradients.get(v)!} averaged over the replicas`,
        ...stageOf(v),
      });
  };
  const gradients = new Map(
    opts.ranks?.dataParallel
      ? m.outputs.filter((o) => o.name.startsWith('grad:')).map((o) => [o.value, o.name] as const)
      : [],
  );
  const experts = new Set(m.values.filter((v) => v.op === 'param' && shardOf(v)?.group === 'expert').map(leafName));
  const expertGrads = new Set([...gradients].filter(([, name]) => experts.has(name.slice(5))).map(([v]) => v));
  const target = opts.target ?? TARGETS.wgsl;
  const deviceClass = opts.deviceClass ?? target.deviceClasses[0]!;
  if (!target.deviceClasses.includes(deviceClass))
    throw new Error(`internal: target ${target.name} runs no ${deviceClass}-class kernels`);
  const limits = opts.limits ?? target.limits;
  const mem = planMemory(m);
  const early = mem.early;
  const indexOf = new Map(m.values.map((v, i) => [v, i]));
  const buffers: PlanBuffer[] = [];
  const steps: PlanStep[] = [];
  const sources = new Map<string, string>();
  const lowered = new Map<string, Kernel>();
  const kernels: Plan['kernels'] = [];
  const bufferOf = new Map<Value, number>();
  const addKernel = (k: Kernel, op: string) => {
    if (lowered.has(k.name)) return;
    lowered.set(k.name, k);
    sources.set(k.name, target.render(k));
    kernels.push({
      name: k.name,
      file: `kernels/${k.name}.${target.ext}`,
      bindings: k.buffers.length,
      ops: [op],
      workgroup: k.workgroup,
    });
  };
  const inputs: Plan['inputs'] = [];
  const params: Plan['params'] = [];
  const role = (v: Value): PlanBuffer['role'] =>
    v.op === 'input' || v.op === 'param' || v.op === 'state' ? v.op : 'temp';
  const views = new Map<string, number>();
  /** The buffer of `rows` of buffer `id` (a block of a leaf, a part of an output assembled in host memory). */
  const rowsOf = (id: number, rows: Rows | undefined): number => {
    const whole = buffers[id]!;
    if (!rows) return id;
    const key = `${id}:${rows[0]}:${rows[1]}`;
    if (views.has(key)) return views.get(key)!;
    const row = whole.bytes / Math.max(1, whole.shape[0]!);
    const view = buffers.length;
    buffers.push({
      ...whole,
      id: view,
      name: `${whole.name}[${rows[0]}:${rows[1]}]`,
      shape: [rows[1] - rows[0], ...whole.shape.slice(1)],
      bytes: row * (rows[1] - rows[0]),
      offset: whole.offset + row * rows[0],
      parent: id,
    });
    views.set(key, view);
    return view;
  };
  const wholeOutputs = new Map<string, number>();
  for (const e of mem.events) {
    const v = e.value;
    const part = e.kind === 'alloc' ? mem.parts.get(v) : undefined;
    if (part) {
      if (!wholeOutputs.has(part.name)) {
        const id = buffers.length;
        const { dtype, shape } = part.whole;
        const bytes = bytesOf(part.whole);
        buffers.push({
          id,
          name: part.name,
          dtype: dtype === 'i32' ? 'i32' : 'f32',
          shape: shape as number[],
          bytes,
          tier: 'host',
          offset: part.offset,
          role: 'temp',
        });
        steps.push({ kind: 'alloc', buffer: id });
        wholeOutputs.set(part.name, id);
      }
      bufferOf.set(v, rowsOf(wholeOutputs.get(part.name)!, part.rows));
      continue;
    }
    if (e.kind === 'alloc') {
      const bytes = tensorBytes(v);
      const name = role(v) === 'temp' ? (v.name ?? v.op) : leafName(v);
      // a value in host memory or on the SSD is never bound
      if (bytes > limits.maxStorageBufferBindingSize && tierOf(v) === 'gpu')
        throw new DeviceLimitError(
          `tensor ${name} (${v.type.dtype}[${(v.type.shape as number[]).join(', ')}]) needs ${bytes} bytes, more ` +
            `than the device binds at once (maxStorageBufferBindingSize ${limits.maxStorageBufferBindingSize})`,
        );
      const id = buffers.length;
      buffers.push({
        id,
        name,
        dtype: v.type.dtype === 'i32' ? 'i32' : 'f32',
        shape: v.type.shape as number[],
        bytes,
        tier: tierOf(v),
        offset: e.offset,
        role: role(v),
      });
      bufferOf.set(v, id);
      steps.push({ kind: 'alloc', buffer: id });
      if (v.op === 'input') {
        const feed = feedOf(m, v);
        inputs.push({
          name,
          buffer: id,
          feed: feed.kind === 'synthetic' && feed.range === undefined ? { kind: 'synthetic' } : feed,
        });
      } else if (v.op === 'param' || v.op === 'state') {
        const { name: _n, frozen: _f, tier: _t, ...init } = v.attrs as Record<string, unknown>;
        params.push({
          name,
          buffer: id,
          init: init as Plan['params'][number]['init'],
          trainable: v.op === 'param' && !v.attrs['frozen'],
        });
      }
    } else if (e.kind === 'free') steps.push({ kind: 'free', buffer: bufferOf.get(v)! });
    else if (TRANSFER_OPS.has(v.op))
      steps.push({
        kind: 'copy',
        from: rowsOf(bufferOf.get(v.inputs[0]!)!, v.attrs['rows'] as unknown as Rows | undefined),
        to: bufferOf.get(v)!,
        value: `%${indexOf.get(v)!} ${v.op}`,
      });
    else if (v.op === 'part') {
      const root = buffers[bufferOf.get(rootOf(v))!]!;
      const id = buffers.length;
      buffers.push({
        ...root,
        id,
        name: v.name ?? `${root.name}.part`,
        shape: v.type.shape as number[],
        bytes: tensorBytes(v),
        offset: root.offset + 4 * partOffset(v),
        parent: root.id,
      });
      bufferOf.set(v, id);
    } else if (v.op === 'scratch') {
      if (v.attrs['zero']) steps.push({ kind: 'clear', buffer: bufferOf.get(v)! });
    } else if (opts.ranks && (COLLECTIVE_OPS.has(v.op) || v.op === 'pp_send')) {
      steps.push({
        kind: 'collective',
        op: v.op,
        attrs: v.attrs as Record<string, number | string | boolean>,
        from: bufferOf.get(v.inputs[0]!)!,
        ...(v.inputs.length > 1 ? { operands: v.inputs.map((x) => bufferOf.get(x)!) } : {}),
        to: bufferOf.get(v)!,
        value: `%${indexOf.get(v)!} ${v.op}`,
        ...stageOf(v),
      });
      averaged(v);
    } else {
      const k = lowerValue(v, deviceClass, target.cooperative);
      const written = early.get(v);
      const { operands } = bindingsOf(v);
      addKernel(k, v.op);
      steps.push({
        kind: 'launch',
        kernel: k.name,
        bindings: [...operands.map((x) => bufferOf.get(x)!), bufferOf.get(v)!],
        dispatch: k.dispatch,
        value: `%${indexOf.get(v)!} ${v.op}`,
        ...stageOf(v),
      });
      averaged(v);
      if (written)
        steps.push({
          kind: 'copy',
          from: bufferOf.get(v)!,
          to: rowsOf(bufferOf.get(written.leaf)!, written.rows),
          value: `update ${leafName(written.leaf)}`,
          ...stageOf(v),
        });
    }
  }
  for (const u of m.updates) {
    if (early.has(u.value)) continue;
    const leaf = m.values.find((v) => (v.op === 'param' || v.op === 'state') && leafName(v) === u.target)!;
    const to = rowsOf(bufferOf.get(leaf)!, u.rows);
    if (tierOf(leaf) !== 'gpu') {
      steps.push({ kind: 'copy', from: bufferOf.get(u.value)!, to, value: `update ${u.target}`, ...stageOf(u.value) });
      continue;
    }
    const n = (u.value.type.shape as number[]).reduce((a, d) => a * d, 1);
    const k = copyKernel(n);
    addKernel(k, 'copy');
    steps.push({
      kind: 'launch',
      kernel: k.name,
      bindings: [bufferOf.get(u.value)!, to],
      dispatch: k.dispatch,
      value: `update ${u.target}`,
      ...stageOf(u.value),
    });
  }
  if (mem.arenaBytes > limits.maxBufferSize)
    throw new DeviceLimitError(
      `the plan's GPU arena needs ${mem.arenaBytes} bytes, more than the ` +
        `device's largest buffer (maxBufferSize ${limits.maxBufferSize})`,
    );
  const reach = inputsReaching(m);
  const outputs: Plan['outputs'] = [];
  for (const o of m.outputs) {
    const buffer = o.rows ? wholeOutputs.get(o.name)! : bufferOf.get(o.value)!;
    const had = outputs.find((x) => x.name === o.name);
    if (had) had.inputs = [...new Set([...had.inputs, ...reach.get(o.value)!])].sort();
    else outputs.push({ name: o.name, buffer, inputs: reach.get(o.value)! });
  }
  const plan: Plan = {
    version: PLAN_VERSION,
    name: config.name,
    target: target.name,
    ...(target.host ? { library: opts.library ?? LIBRARY } : {}),
    deviceClass,
    limits,
    seed: config.seed,
    alignment: ALIGNMENT,
    arenas: {
      gpu: mem.arenaBytes,
      ...(mem.tiers.host.arenaBytes ? { host: mem.tiers.host.arenaBytes } : {}),
      ...(mem.tiers.ssd.arenaBytes ? { ssd: mem.tiers.ssd.arenaBytes } : {}),
    },
    predictedPeakBytes: mem.peakBytes,
    buffers,
    kernels,
    inputs,
    params,
    outputs,
    graphs,
    ...(config.data
      ? { text: { file: opts.textPath?.(config.data.file) ?? resolve(config.data.file), split: config.data.split } }
      : {}),
    steps,
  };
  const host = target.host && { file: hostOf(plan), code: target.host.render(plan, lowered) };
  return { plan, sources, kernels: lowered, ...(host ? { host } : {}) };
}

/** The compiled shared library of a plan, beside its plan file; a train build's evaluation plan has its own. */
export const LIBRARY = 'libplan.so';
export const FORWARD_LIBRARY = 'libforward.so';

/** The host library's source file of a compiled plan: `libplan.so` from `plan.c` (or `plan.cu`). */
export const hostOf = (plan: Plan): string =>
  `${plan.library!.replace(/^lib/, '').replace(/\.so$/, '')}.${plan.target === 'cuda' ? 'cu' : 'c'}`;
