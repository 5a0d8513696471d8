import type { Value } from '../ir/graph.ts';
import type { NDArray } from '../ir/op.ts';
import { sumOverRanks } from '../ir/ops/collective.ts';
import { getOp } from '../ir/ops/registry.ts';
import type { BuiltPlan } from '../codegen/plan.ts';
import type { Plan, PlanStep } from '../../runtime/plan.ts';
import type { Gpu } from '../../runtime/webgpu/device.ts';
import type { CompiledKernel } from '../../runtime/webgpu/kernels.ts';
import { WebGpuSession } from '../../runtime/webgpu/session.ts';
import { NativeSession } from '../../runtime/native/session.ts';
import { averagedOver, dataGroups, peerOf, pipeIndex, rankCount, rankGroups, type RankLayout } from './ranks.ts';
import type { ShardGroup } from '../passes/partition-tensor.ts';

type Host = Float32Array | Int32Array;
type Exchange = Extract<PlanStep, { kind: 'collective' }>;

/** What a rank's session does for the simulated ranks: a WebGPU session, or a compiled library's (C, CUDA). */
export interface RankSession {
  begin(feeds?: Map<string, Host>): void;
  steps(from: number, to: number): Promise<void>;
  end(outputs?: string[]): Promise<Map<string, Host>>;
  read(ids: number[]): Promise<Map<number, Host>>;
  write(id: number, data: Host): void;
  parameters(): Promise<Map<string, Host>>;
}

/**
 * A partitioned plan on devices simulated in one process (as XLA's host platform simulates N devices): one session
 * per rank — WebGPU sessions on one device, or one compiled library's sessions (C kernels on this CPU) — each running
 * the kernels of its pipeline stage, and between them the plan's exchanges (`collective` steps, built with
 * `buildPlan(…, { ranks })`): a collective's result on each rank from its group's operands by the op's own definition
 * (ir/ops/collective.ts, as the CPU reference's ranks compute it), a `pp_send` from the sending stage's rank of the
 * same tensor slice and replica, a gradient averaged over the data-parallel replicas. This checks that the
 * partitioned program's kernels compute what one device does; it is not a transport (compiler/interp/nccl-rank.ts is).
 */
export class SimulatedRanks<S extends RankSession = RankSession> {
  /** The outputs each pipeline position makes. */
  private readonly outputs: string[][];

  private constructor(
    readonly plan: Plan,
    readonly layout: RankLayout,
    readonly sessions: S[],
  ) {
    const P = layout.pipeline ?? 1;
    this.outputs = [...Array(P).keys()].map((p) => outputsOf(plan, P, p));
  }

  /** WebGPU sessions for every rank; each rank's parameters and state as `held(rank)` gives them (its slices). */
  static async webgpu(
    gpu: Gpu,
    built: BuiltPlan,
    layout: RankLayout,
    held: (rank: number) => Map<string, NDArray>,
  ): Promise<SimulatedRanks<WebGpuSession>> {
    const { plan, sources } = built;
    const P = layout.pipeline ?? 1;
    const compiled = new Map<string, CompiledKernel>(); // every rank runs the same kernels: compiled once
    return SimulatedRanks.of(plan, layout, held, async (r) => {
      // a rank never reads what other stages' steps would have written: no poison
      const s = await WebGpuSession.create(gpu, plan, (name) => sources.get(name)!, { poison: false, compiled });
      if (P > 1) s.stage = (stage) => stage % P === pipeIndex(layout, r);
      return s;
    });
  }

  /** Sessions of a plan compiled to a shared library (`library`: its path), one per rank. */
  static async native(
    plan: Plan,
    library: string,
    layout: RankLayout,
    held: (rank: number) => Map<string, NDArray>,
  ): Promise<SimulatedRanks<NativeSession>> {
    const P = layout.pipeline ?? 1;
    return SimulatedRanks.of(plan, layout, held, async (r) => {
      const s = NativeSession.create(plan, library, { poison: false });
      if (P > 1) s.pipe = pipeIndex(layout, r);
      return s;
    });
  }

  private static async of<T extends RankSession>(
    plan: Plan,
    layout: RankLayout,
    held: (rank: number) => Map<string, NDArray>,
    open: (rank: number) => Promise<T>,
  ): Promise<SimulatedRanks<T>> {
    const sessions: T[] = [];
    for (let r = 0; r < rankCount(layout); r++) {
      const s = await open(r);
      const mine = held(r);
      for (const p of plan.params) {
        const x = mine.get(p.name);
        if (x) s.write(p.buffer, x.data instanceof Int32Array ? x.data : Float32Array.from(x.data));
      }
      sessions.push(s);
    }
    return new SimulatedRanks(plan, layout, sessions);
  }

  /** One step on every rank (`feeds(rank)`: what each reads); each rank's outputs (those of its stage). */
  async run(feeds: (rank: number) => Map<string, Host>): Promise<Map<string, Host>[]> {
    this.sessions.forEach((s, r) => s.begin(feeds(r)));
    const steps = this.plan.steps;
    let from = 0;
    for (let i = 0; i <= steps.length; i++) {
      const st = steps[i];
      if (st && st.kind !== 'collective') continue;
      await Promise.all(this.sessions.map((s) => s.steps(from, i)));
      if (st) await this.exchange(st);
      from = i + 1;
    }
    return Promise.all(this.sessions.map((s, r) => s.end(this.outputs[pipeIndex(this.layout, r)])));
  }

  private runs(st: Exchange, r: number): boolean {
    const P = this.layout.pipeline ?? 1;
    return st.stage === undefined || st.stage % P === pipeIndex(this.layout, r);
  }

  private async read(r: number, id: number): Promise<NDArray> {
    const data = (await this.sessions[r]!.read([id])).get(id)!;
    return { data: data instanceof Int32Array ? new Int32Array(data) : Float32Array.from(data), shape: this.shape(id) };
  }

  private shape = (id: number) => this.plan.buffers[id]!.shape;

  private write(r: number, id: number, x: NDArray): void {
    this.sessions[r]!.write(id, x.data instanceof Int32Array ? x.data : Float32Array.from(x.data));
  }

  private async exchange(st: Exchange): Promise<void> {
    const ranks = [...Array(rankCount(this.layout)).keys()].filter((r) => this.runs(st, r));
    if (st.op === 'pp_send') {
      const P = this.layout.pipeline ?? 1;
      for (const r of ranks)
        this.write(r, st.to, await this.read(peerOf(this.layout, r, Number(st.attrs['from']) % P), st.from));
      return;
    }
    // a gradient's mean over the replicas (an expert's over those holding it), or the op's collective over its group
    const mean =
      st.op === 'data_mean'
        ? averagedOver(dataGroups(this.layout), st.attrs['group'] as ShardGroup | undefined)
        : undefined;
    for (const g of (mean?.groups ?? rankGroups(this.layout)(st)).filter((g) => ranks.includes(g[0]!))) {
      const operands = st.operands ?? [st.from];
      const each = await Promise.all(g.map((r) => Promise.all(operands.map((id) => this.read(r, id)))));
      const out = mean
        ? sumOverRanks(each.map((x) => x[0]!)).map((x) => ({ ...x, data: x.data.map((y) => y / mean.over) }))
        : getOp(st.op).collective!(each, st as unknown as Value);
      g.forEach((r, k) => this.write(r, st.to, out[k]!));
    }
  }
}

/** The outputs pipeline position `pipe` of `P` makes: those whose step is on one of its stages, or on none. */
export function outputsOf(plan: Plan, P: number, pipe: number): string[] {
  const stageOf = new Map<number, number | undefined>();
  for (const st of plan.steps)
    if (st.kind === 'launch') stageOf.set(st.bindings.at(-1)!, st.stage);
    else if (st.kind === 'collective') stageOf.set(st.to, st.stage);
  return plan.outputs
    .filter((o) => {
      const stage = stageOf.get(o.buffer);
      return P === 1 || stage === undefined || stage % P === pipe;
    })
    .map((o) => o.name);
}
