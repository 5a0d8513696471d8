import type { GraphSpec } from '../data/graph-spec.ts';
import { planFeeds, type DataSources } from '../feeds.ts';
import type { TextSpec } from '../data/text.ts';
import { initTensor } from '../init.ts';
import { asStored } from '../nf4.ts';
import { PlanError, type Plan } from '../plan.ts';
import { checkKernels } from '../validate-plan.ts';
import type { Gpu } from './device.ts';
import { compileKernels, type CompiledKernel } from './kernels.ts';
import { poisonByDefault, PoisonError, poisoned } from '../poison.ts';
import { Poisoner } from './poison.ts';
import { BudgetError, boundPeak, hostTensor, planGraphs, type Session } from '../session.ts';
import { TierStore, type TierMeasure } from '../tiers.ts';

export { BudgetError } from '../session.ts';

/** A step that the device did not finish within the session's time limit (a kernel that loops, or a slow device). */
export class StepTimeLimitError extends Error {}

/** Seconds a step may run on the device before it fails with StepTimeLimitError. */
export const DEFAULT_STEP_TIME_LIMIT_S = 60;

let warnedClass = false;
/**
 * Says once per process when a plan's kernels were built for the other class of device (e.g. gpu-class kernels on
 * SwiftShader run about 9x slower).
 */
function warnDeviceClass(plan: Plan, gpu: Gpu): void {
  if (warnedClass || plan.deviceClass === gpu.deviceClass) return;
  warnedClass = true;
  const why =
    gpu.deviceClass === 'cpu'
      ? 'a CPU driver, where they run several times slower'
      : 'a GPU, where they leave it mostly idle';
  process.emitWarning(
    `plan \`${plan.name}\` has ${plan.deviceClass}-class kernels, but the device ` +
      `(${gpu.adapter}) is ${why}; rebuild with \`flexc build --device-class ${gpu.deviceClass}\``,
    { code: 'FLEXC_DEVICE_CLASS' },
  );
}

/**
 * Runs an execution plan on a WebGPU device: one arena buffer, kernels compiled once, and one
 * command buffer per step. With `poison` (or FLEXC_POISON=1), every range the plan frees is
 * overwritten with NaNs at once, and a step whose outputs or parameters come back with a NaN fails
 * (PoisonError): some kernel read memory the plan no longer held.
 */
export class WebGpuSession implements Session {
  step = 0;
  /**
   * The most arena bytes the kernels address: the highest end of any range a launch binds (what
   * the device is asked to touch, not the plan's own count of live bytes).
   */
  readonly measuredPeakBytes: number;
  launches = 0;
  /** Bind groups of the launches, made once: the arena and the offsets never change. */
  private readonly bindGroups = new Map<number, GPUBindGroup>();
  /** In poison mode: the fill that each free step records. */
  private readonly fills = new Map<number, (pass: GPUComputePassEncoder) => void>();

  private constructor(
    readonly gpu: Gpu,
    readonly plan: Plan,
    private readonly kernels: Map<string, CompiledKernel>,
    private readonly arena: GPUBuffer,
    private readonly data: DataSources,
    readonly poison: boolean,
    readonly timeLimitSeconds: number,
    private readonly store: TierStore | undefined,
  ) {
    const poisoner = poison ? Poisoner.create(gpu) : undefined;
    plan.steps.forEach((st, i) => {
      const freed = st.kind === 'free' ? plan.buffers[st.buffer]! : undefined;
      if (freed?.tier === 'gpu' && poisoner)
        this.fills.set(i, poisoner.fill(arena, freed.offset, Math.max(4, freed.bytes)));
      if (st.kind !== 'launch') return;
      const k = kernels.get(st.kernel)!;
      const entries = st.bindings.map((id, binding) => {
        const b = plan.buffers[id]!;
        return { binding, resource: { buffer: arena, offset: b.offset, size: Math.max(4, b.bytes) } };
      });
      this.bindGroups.set(i, gpu.device.createBindGroup({ layout: k.layout, entries }));
    });
    this.measuredPeakBytes = boundPeak(plan);
  }

  /**
   * Compiles the plan's kernels, allocates its arena within the device's limits and the budget, and initialises
   * parameters.
   */
  static async create(
    gpu: Gpu,
    plan: Plan,
    sources: (name: string) => string,
    opts: {
      budgetBytes?: number;
      graphs?: (name: string) => GraphSpec;
      text?: TextSpec | undefined;
      /** Poison freed ranges and fail a step that reads one (default: FLEXC_POISON=1). */
      poison?: boolean;
      /** Fail a step that the device has not finished after this many seconds (default 60). */
      timeLimitSeconds?: number;
      /** Where the SSD tier's spill directory goes (default: FLEXC_SPILL_DIR, else the temporary directory). */
      spillDir?: string;
      /** Kernels compiled for this device already, by name (sessions of one plan share them); filled here. */
      compiled?: Map<string, CompiledKernel>;
    } = {},
  ): Promise<WebGpuSession> {
    const { device } = gpu;
    warnDeviceClass(plan, gpu);
    const size = Math.max(4, plan.arenas.gpu);
    if (opts.budgetBytes !== undefined && size > opts.budgetBytes)
      throw new BudgetError(`the plan's GPU arena needs ${size} bytes, more than the ${opts.budgetBytes}-byte budget`);
    if (size > device.limits.maxBufferSize)
      throw new BudgetError(
        `the plan's GPU arena needs ${size} bytes, more than this ` +
          `device's largest buffer (${device.limits.maxBufferSize} bytes)`,
      );
    const most = device.limits.maxComputeWorkgroupsPerDimension;
    for (const st of plan.steps)
      if (st.kind === 'launch' && st.dispatch.some((d) => d > most))
        throw new PlanError(
          `${st.value} dispatches ${st.dispatch.join(' × ')} workgroups; this device allows ${most} per dimension`,
        );
    checkKernels(plan, sources);
    for (const b of plan.buffers)
      if (b.bytes > device.limits.maxStorageBufferBindingSize && b.tier === 'gpu')
        throw new BudgetError(
          `tensor ${b.name} needs ${b.bytes} bytes, more than this device ` +
            `binds at once (${device.limits.maxStorageBufferBindingSize})`,
        );
    const cache = opts.compiled ?? new Map<string, CompiledKernel>();
    for (const [name, k] of await compileKernels(
      device,
      plan.kernels
        .filter((k) => !cache.has(k.name))
        .map((k) => ({ name: k.name, code: sources(k.name), bindings: k.bindings })),
    ))
      cache.set(name, k);
    const kernels = new Map(plan.kernels.map((k) => [k.name, cache.get(k.name)!]));
    const arena = device.createBuffer({
      size,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      label: `${plan.name} arena`,
    });
    const graphs = planGraphs(plan, opts.graphs);
    const poison = opts.poison ?? poisonByDefault();
    const limit = opts.timeLimitSeconds ?? DEFAULT_STEP_TIME_LIMIT_S;
    if (!(limit > 0)) throw new RangeError(`timeLimitSeconds must be more than 0, not ${limit}`);
    const data = { graphs, text: opts.text ?? plan.text };
    const store = TierStore.needed(plan) ? new TierStore(plan, opts.spillDir) : undefined;
    const s = new WebGpuSession(gpu, plan, kernels, arena, data, poison, limit, store);
    for (const p of plan.params) {
      const b = plan.buffers[p.buffer]!;
      s.writeBuffer(b.id, initTensor(p.init, b.shape, p.name, plan.seed));
    }
    return s;
  }

  private writeBuffer(id: number, data: Float32Array | Float64Array | Int32Array): void {
    const host = hostTensor(this.plan, id, data);
    const b = this.plan.buffers[id]!;
    if (host && b.tier !== 'gpu') this.store!.feed(b, new Uint8Array(host.buffer, host.byteOffset, b.bytes));
    else if (host) this.gpu.device.queue.writeBuffer(this.arena, b.offset, host as BufferSource);
  }

  /** Reads buffers back to the host. */
  async read(ids: number[]): Promise<Map<number, Float32Array | Int32Array>> {
    const held = ids.filter((id) => this.plan.buffers[id]!.tier !== 'gpu');
    if (held.length) {
      const out = await this.read(ids.filter((id) => this.plan.buffers[id]!.tier === 'gpu'));
      for (const id of held) {
        const b = this.plan.buffers[id]!;
        const bytes = this.store!.peek(b);
        out.set(id, b.dtype === 'i32' ? new Int32Array(bytes.buffer) : new Float32Array(bytes.buffer));
      }
      return new Map(ids.map((id) => [id, out.get(id)!]));
    }
    const { device } = this.gpu;
    const total = ids.reduce((a, id) => a + Math.max(4, this.plan.buffers[id]!.bytes), 0);
    const staging = device.createBuffer({
      size: Math.max(4, total),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const enc = device.createCommandEncoder();
    let at = 0;
    const where: [number, number][] = [];
    for (const id of ids) {
      const b = this.plan.buffers[id]!;
      if (b.bytes) enc.copyBufferToBuffer(this.arena, b.offset, staging, at, b.bytes);
      where.push([id, at]);
      at += Math.max(4, b.bytes);
    }
    device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const all = staging.getMappedRange().slice(0);
    staging.unmap();
    staging.destroy();
    const out = new Map<number, Float32Array | Int32Array>();
    for (const [id, off] of where) {
      const b = this.plan.buffers[id]!;
      const n = b.bytes / 4;
      out.set(id, b.dtype === 'i32' ? new Int32Array(all, off, n) : new Float32Array(all, off, n));
    }
    return out;
  }

  /**
   * Runs one step of the plan; returns the named outputs read back (all of them by default).
   * `given` supplies inputs by name; the others come from their feeds (step counter, graph, synthetic batch).
   */
  async run(
    outputs?: string[],
    given?: Map<string, Float32Array | Int32Array>,
  ): Promise<Map<string, Float32Array | Int32Array>> {
    this.begin(given);
    await this.steps(0, this.plan.steps.length);
    return this.end(outputs);
  }

  /** Starts a step: its feeds written (a partitioned plan's ranks then run `steps` between their exchanges). */
  begin(given?: Map<string, Float32Array | Int32Array>): void {
    if (this.overran) throw this.overran;
    this.step++;
    for (const [id, data] of planFeeds(this.plan, this.step, this.data, given)) this.writeBuffer(id, data);
  }

  /** Writes a buffer (a simulated rank's share of an exchange between ranks, or a parameter's starting value). */
  write(id: number, data: Float32Array | Int32Array): void {
    this.writeBuffer(id, data);
  }

  /** The stage of a pipelined plan this session runs (steps of other stages are skipped); all when undefined. */
  stage: ((stage: number) => boolean) | undefined;

  /** Runs steps [from, to) of the plan and waits for the device (exchanges between ranks are the caller's). */
  async steps(from: number, to: number): Promise<void> {
    const { device } = this.gpu;
    device.pushErrorScope('validation');
    let enc = device.createCommandEncoder();
    let pass = enc.beginComputePass();
    // a copy between tiers ends the command buffer: an offload's bytes reach host memory (and the SSD) when the
    // device has run up to it, while the step goes on; a reload waits for them and is queued before what follows
    const offloads = new Map<number, Promise<void>>();
    let launches = 0;
    for (let i = from; i < to; i++) {
      const st = this.plan.steps[i]!;
      if (st.kind === 'collective' || ('stage' in st && st.stage !== undefined && this.stage && !this.stage(st.stage)))
        continue;
      if (st.kind === 'free') this.fills.get(i)?.(pass);
      else if (st.kind === 'launch') {
        pass.setPipeline(this.kernels.get(st.kernel)!.pipeline);
        pass.setBindGroup(0, this.bindGroups.get(i)!);
        pass.dispatchWorkgroups(...st.dispatch);
        launches++;
      } else if (st.kind === 'clear') {
        const b = this.plan.buffers[st.buffer]!;
        pass.end();
        enc.clearBuffer(this.arena, b.offset, Math.ceil(b.bytes / 4) * 4);
        pass = enc.beginComputePass();
      } else if (st.kind === 'copy') {
        const [from, to] = [this.plan.buffers[st.from]!, this.plan.buffers[st.to]!];
        pass.end();
        if (from.tier === 'gpu') {
          const staging = device.createBuffer({
            size: Math.max(4, from.bytes),
            usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
          });
          if (from.bytes) enc.copyBufferToBuffer(this.arena, from.offset, staging, 0, from.bytes);
          device.queue.submit([enc.finish()]);
          offloads.set(
            to.id,
            staging.mapAsync(GPUMapMode.READ).then(() => {
              this.store!.put(to, new Uint8Array(staging.getMappedRange(0, Math.max(4, from.bytes)), 0, from.bytes));
              staging.unmap();
              staging.destroy();
            }),
          );
        } else {
          device.queue.submit([enc.finish()]);
          await this.finished(offloads.get(from.id) ?? Promise.resolve()); // bounded like the step itself
          const bytes = this.store!.get(from);
          if (bytes.length) device.queue.writeBuffer(this.arena, to.offset, bytes as BufferSource);
        }
        enc = device.createCommandEncoder();
        pass = enc.beginComputePass();
      }
    }
    pass.end();
    device.queue.submit([enc.finish()]);
    this.launches = from === 0 ? launches : this.launches + launches;
    await this.finished(Promise.all([...offloads.values(), device.queue.onSubmittedWorkDone()]));
    const rejected = await device.popErrorScope();
    if (rejected)
      throw new PlanError(
        `internal: the device rejected step ${this.step} of plan \`${this.plan.name}\`: ${rejected.message}`,
      );
  }

  /** Ends a step: the outputs asked for (all by default) read back, checked for poison. */
  async end(outputs?: string[]): Promise<Map<string, Float32Array | Int32Array>> {
    const wanted = this.plan.outputs.filter((o) => !outputs || outputs.includes(o.name));
    const got = await this.read(wanted.map((o) => o.buffer));
    const result = new Map(wanted.map((o) => [o.name, got.get(o.buffer)!]));
    if (this.poison) {
      const bad = [...poisoned(result), ...poisoned(await this.parameters())];
      if (bad.length)
        throw new PoisonError(
          `step ${this.step} of plan \`${this.plan.name}\` read freed memory: NaN in ${bad.join(', ')}`,
        );
    }
    return result;
  }

  /** The step past its time limit: the device may still be running it, so the session takes no more steps. */
  private overran: StepTimeLimitError | undefined;

  /** Waits for the device to finish the step, or fails it at the time limit. */
  private async finished(done: Promise<unknown>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((ok) => (timer = setTimeout(() => ok('late'), this.timeLimitSeconds * 1000)));
    const first = await Promise.race([done, late]);
    clearTimeout(timer);
    if (first !== 'late') return;
    const kernels = [...new Set(this.plan.steps.flatMap((st) => (st.kind === 'launch' ? [st.kernel] : [])))];
    const shown = kernels.slice(0, 5).join(', ') + (kernels.length > 5 ? `, … (${kernels.length} kernels)` : '');
    this.overran = new StepTimeLimitError(
      `step ${this.step} of plan \`${this.plan.name}\` did not finish on the device ` +
        `within ${this.timeLimitSeconds} s ` +
        `(its kernels: ${shown}); a kernel that loops without end (an edited kernel file?) or a device too slow ` +
        'for the plan: rebuild it, or give the session a longer time limit',
    );
    throw this.overran;
  }

  /** Current values of the parameters and optimizer state, by name. */
  async parameters(): Promise<Map<string, Float32Array | Int32Array>> {
    const got = await this.read(this.plan.params.map((p) => p.buffer));
    return new Map(this.plan.params.map((p) => [p.name, got.get(p.buffer)!]));
  }

  /** Overwrites parameters (e.g. trained weights moved into an evaluation plan). */
  loadParameters(values: Map<string, Float32Array | Float64Array | Int32Array>): void {
    for (const p of this.plan.params) {
      const v = values.get(p.name);
      if (v) this.writeBuffer(p.buffer, asStored(p.init.storage, v));
    }
  }

  /** Host and SSD tiers, measured (plans with copies between tiers). */
  get tiers(): TierMeasure | undefined {
    return this.store?.measure;
  }

  destroy(): void {
    this.arena.destroy();
    this.store?.close();
  }
}
