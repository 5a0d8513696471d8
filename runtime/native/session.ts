import koffi, { type LibraryHandle } from 'koffi';
import type { GraphSpec } from '../data/graph-spec.ts';
import type { TextSpec } from '../data/text.ts';
import { planFeeds, type DataSources } from '../feeds.ts';
import { initTensor } from '../init.ts';
import { asStored } from '../nf4.ts';
import { PlanError, type Plan } from '../plan.ts';
import { poisonByDefault, PoisonError, poisoned } from '../poison.ts';
import { BudgetError, boundPeak, hostTensor, launchesOf, planGraphs, type Session, type Tensor } from '../session.ts';
import { LINKS, type TierMeasure } from '../tiers.ts';

/** The C ABI of a compiled plan's host library (compiler/targets/c.ts and cuda.ts write it). */
interface HostLibrary {
  arenaBytes(): number;
  open(): unknown;
  close(arena: unknown): void;
  write(arena: unknown, offset: number, src: Tensor, bytes: number): void;
  read(arena: unknown, offset: number, dst: Tensor, bytes: number): void;
  run(arena: unknown, poison: number): number;
  /** Where host memory's tier starts in the offsets flexc_write takes (inputs kept in host memory are fed there). */
  hostBase(): number;
  /** Bytes each link carried so far: gpu→host, host→gpu, host→ssd, ssd→host. */
  moved(arena: unknown, out: BigUint64Array): void;
  /** A partitioned plan's library: steps [from, to) of the stages of pipeline position `pipe` (−1: all). */
  runSteps?: (arena: unknown, from: number, to: number, pipe: number, poison: number) => number;
  /** A partitioned CUDA plan's library: what its driver hands NCCL (compiler/targets/cuda.ts, RANK_ABI). */
  device?: {
    at: (arena: unknown, offset: number) => unknown;
    stream: (arena: unknown) => unknown;
    sync: (arena: unknown) => number;
    scratch: (arena: unknown, bytes: number) => unknown;
    copy: (arena: unknown, dst: unknown, src: unknown, bytes: number) => number;
  };
}

/** A CUDA rank's device memory and stream, for the NCCL calls of its driver (compiler/interp/nccl-rank.ts). */
export interface DeviceAccess {
  /** The device address of byte `offset` of the arena. */
  at(offset: number): unknown;
  stream: unknown;
  /** Waits for the stream (a PlanError if it failed). */
  sync(): void;
  /** Device memory of at least `bytes`, the session's own (valid until the next call). */
  scratch(bytes: number): unknown;
  /** Copies between device and host (a typed array) in any direction, and waits. */
  copy(dst: unknown, src: unknown, bytes: number): void;
}

/** A CUDA plan's library found no device to run on. */
export class NoCudaDeviceError extends Error {}

const loaded = new Map<string, HostLibrary>();

function load(path: string): HostLibrary {
  let lib = loaded.get(path);
  if (lib) return lib;
  let so: LibraryHandle;
  try {
    so = koffi.load(path);
  } catch (e) {
    throw new PlanError(`cannot load the plan's library ${path}: ${(e as Error).message}`);
  }
  lib = {
    arenaBytes: so.func('uint64_t flexc_arena_bytes(void)') as () => number,
    open: so.func('void* flexc_open(void)'),
    close: so.func('void flexc_close(void* a)'),
    write: so.func('void flexc_write(void* a, uint64_t offset, const void* src, uint64_t bytes)'),
    read: so.func('void flexc_read(void* a, uint64_t offset, _Out_ void* dst, uint64_t bytes)'),
    run: so.func('int flexc_run(void* a, int poison)'),
    hostBase: so.func('uint64_t flexc_host_base(void)') as () => number,
    moved: so.func('void flexc_moved(void* a, _Out_ uint64_t* out)'),
  };
  if (hasSymbol(so, 'flexc_run_steps'))
    lib.runSteps = so.func('int flexc_run_steps(void* a, int from, int to, int pipe, int poison)');
  if (hasSymbol(so, 'flexc_at'))
    lib.device = {
      at: so.func('void* flexc_at(void* a, uint64_t offset)'),
      stream: so.func('void* flexc_stream(void* a)'),
      sync: so.func('int flexc_sync(void* a)'),
      scratch: so.func('void* flexc_scratch(void* a, uint64_t bytes)'),
      copy: so.func('int flexc_copy(void* a, void* dst, void* src, uint64_t bytes)'),
    };
  loaded.set(path, lib);
  return lib;
}

/** Whether the library exports `name` (a partitioned plan's library exports more). */
function hasSymbol(so: LibraryHandle, name: string): boolean {
  try {
    so.func(`void ${name}(void)`);
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs a plan compiled to a shared library (targets `c` and `cuda`) through its C ABI: the library holds the kernels
 * and the step's launches in order, this class the arena's contents (parameters, feeds, outputs). With `poison` (or
 * FLEXC_POISON=1) the library overwrites every range the plan frees with NaNs, and a step whose outputs or parameters
 * come back with a NaN fails (PoisonError).
 */
export class NativeSession implements Session {
  step = 0;
  readonly measuredPeakBytes: number;
  launches = 0;
  /** The highest byte of host memory's and the SSD's tiers the plan's copies address. */
  private readonly tierPeaks = { host: 0, ssd: 0 };
  private arena: unknown;

  private constructor(
    readonly plan: Plan,
    private readonly lib: HostLibrary,
    private readonly data: DataSources,
    readonly poison: boolean,
  ) {
    this.measuredPeakBytes = boundPeak(plan);
    for (const st of plan.steps)
      if (st.kind === 'copy')
        for (const b of [plan.buffers[st.from]!, plan.buffers[st.to]!])
          if (b.tier !== 'gpu') this.tierPeaks[b.tier] = Math.max(this.tierPeaks[b.tier], b.offset + b.bytes);
    this.arena = lib.open();
    if (!this.arena && plan.target === 'cuda')
      throw new NoCudaDeviceError(
        `no CUDA device could hold the plan's ${lib.arenaBytes()}-byte arena (none, no driver, or too little memory)`,
      );
    if (!this.arena) throw new BudgetError(`cannot allocate the plan's ${lib.arenaBytes()}-byte arena in host memory`);
  }

  /** Host and SSD tiers: the bytes each link carried, as the library counted them (plans with copies between tiers). */
  get tiers(): TierMeasure | undefined {
    if (!this.plan.steps.some((s) => s.kind === 'copy')) return undefined;
    const out = new BigUint64Array(4);
    this.lib.moved(this.live(), out);
    const moved = Object.fromEntries(LINKS.map((l, k) => [l, Number(out[k])])) as TierMeasure['moved'];
    return { peakBytes: { ...this.tierPeaks }, moved };
  }

  /** Loads the plan's library (its path given), allocates its arena within the budget, and initialises parameters. */
  static create(
    plan: Plan,
    library: string,
    opts: {
      budgetBytes?: number;
      graphs?: (name: string) => GraphSpec;
      text?: TextSpec | undefined;
      poison?: boolean;
    } = {},
  ): NativeSession {
    if (plan.target === 'wgsl') throw new PlanError(`plan \`${plan.name}\` is WGSL; open it with WebGpuSession`);
    const lib = load(library);
    if (lib.arenaBytes() < plan.arenas.gpu)
      throw new PlanError(`the library ${library} was built for another plan (its arena is smaller than this plan's)`);
    if (opts.budgetBytes !== undefined && plan.arenas.gpu > opts.budgetBytes)
      throw new BudgetError(
        `the plan's arena needs ${plan.arenas.gpu} bytes, more than the ${opts.budgetBytes}-byte budget`,
      );
    const graphs = planGraphs(plan, opts.graphs);
    const s = new NativeSession(plan, lib, { graphs, text: opts.text ?? plan.text }, opts.poison ?? poisonByDefault());
    for (const p of plan.params) {
      const b = plan.buffers[p.buffer]!;
      s.writeBuffer(b.id, initTensor(p.init, b.shape, p.name, plan.seed));
    }
    return s;
  }

  private live(): unknown {
    if (!this.arena) throw new PlanError(`the session of plan \`${this.plan.name}\` is closed`);
    return this.arena;
  }

  private writeBuffer(id: number, data: Float32Array | Float64Array | Int32Array): void {
    const host = hostTensor(this.plan, id, data);
    const b = this.plan.buffers[id]!;
    if (host)
      this.lib.write(this.live(), (b.tier === 'host' ? this.lib.hostBase() : 0) + b.offset, host, host.length * 4);
  }

  private readBuffer(id: number): Tensor {
    const b = this.plan.buffers[id]!;
    const n = b.bytes / 4;
    const out = b.dtype === 'i32' ? new Int32Array(n) : new Float32Array(n);
    if (n) this.lib.read(this.live(), (b.tier === 'host' ? this.lib.hostBase() : 0) + b.offset, out, b.bytes);
    return out;
  }

  async run(outputs?: string[], given?: Map<string, Tensor>): Promise<Map<string, Tensor>> {
    this.begin(given);
    const status = this.lib.run(this.live(), this.poison ? 1 : 0);
    if (status !== 0)
      throw new PlanError(`step ${this.step} of plan \`${this.plan.name}\` failed on the device (status ${status})`);
    this.launches = launchesOf(this.plan);
    const result = await this.end(outputs);
    if (this.poison) {
      const bad = [...poisoned(result), ...poisoned(await this.parameters())];
      if (bad.length)
        throw new PoisonError(
          `step ${this.step} of plan \`${this.plan.name}\` read freed memory: NaN in ${bad.join(', ')}`,
        );
    }
    return result;
  }

  /**
   * A partitioned plan's rank, its steps run in runs between exchanges (compiler/interp/simulated-ranks.ts): `begin`
   * writes the next step's feeds, `steps` runs steps [from, to) of the rank's pipeline position (`pipe`; −1: every
   * stage), `end` reads its outputs; `read` and `write` reach any buffer.
   */
  pipe = -1;

  begin(given?: Map<string, Tensor>): void {
    this.step++;
    for (const [id, data] of planFeeds(this.plan, this.step, this.data, given)) this.writeBuffer(id, data);
  }

  async steps(from: number, to: number): Promise<void> {
    if (!this.lib.runSteps) throw new PlanError(`plan \`${this.plan.name}\` has no exchanges to run steps between`);
    const status = this.lib.runSteps(this.live(), from, to, this.pipe, this.poison ? 1 : 0);
    if (status !== 0)
      throw new PlanError(`steps ${from}–${to} of plan \`${this.plan.name}\` failed on the device (status ${status})`);
  }

  async end(outputs?: string[]): Promise<Map<string, Tensor>> {
    const wanted = this.plan.outputs.filter((o) => !outputs || outputs.includes(o.name));
    return new Map(wanted.map((o) => [o.name, this.readBuffer(o.buffer)]));
  }

  async read(ids: number[]): Promise<Map<number, Tensor>> {
    return new Map(ids.map((id) => [id, this.readBuffer(id)]));
  }

  write(id: number, data: Float32Array | Int32Array): void {
    this.writeBuffer(id, data);
  }

  /** A partitioned CUDA plan's device side, for its driver's NCCL calls (undefined for other libraries). */
  get device(): DeviceAccess | undefined {
    const d = this.lib.device;
    if (!d) return undefined;
    const a = this.live();
    const ok = (what: string, status: number) => {
      if (status !== 0) throw new PlanError(`${what} of plan \`${this.plan.name}\` failed on the device (${status})`);
    };
    return {
      at: (offset) => d.at(a, offset),
      stream: d.stream(a),
      sync: () => ok('a step', d.sync(a)),
      scratch: (bytes) => {
        const p = d.scratch(a, bytes);
        if (!p) throw new PlanError(`no device memory for ${bytes} bytes of an exchange's operands`);
        return p;
      },
      copy: (dst, src, bytes) => ok('a copy', d.copy(a, dst, src, bytes)),
    };
  }

  async parameters(): Promise<Map<string, Tensor>> {
    return new Map(this.plan.params.map((p) => [p.name, this.readBuffer(p.buffer)]));
  }

  loadParameters(values: Map<string, Float32Array | Float64Array | Int32Array>): void {
    for (const p of this.plan.params) {
      const v = values.get(p.name);
      if (v) this.writeBuffer(p.buffer, asStored(p.init.storage, v));
    }
  }

  destroy(): void {
    if (this.arena) this.lib.close(this.arena);
    this.arena = undefined;
  }
}
