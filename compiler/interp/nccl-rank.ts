import type { Value } from '../ir/graph.ts';
import type { NDArray } from '../ir/op.ts';
import { getOp } from '../ir/ops/registry.ts';
import type { Plan, PlanStep } from '../../runtime/plan.ts';
import { PlanError } from '../../runtime/plan.ts';
import { type DeviceAccess, NativeSession } from '../../runtime/native/session.ts';
import { type Comm, DATA_TYPES, type Nccl, SUM } from '../../runtime/native/nccl.ts';
import { outputsOf } from './simulated-ranks.ts';
import { averagedOver, dataGroups, peerOf, pipeIndex, rankCount, rankGroups, type RankLayout } from './ranks.ts';

type Host = Float32Array | Int32Array;
type Exchange = Extract<PlanStep, { kind: 'collective' }>;

/** The groups a rank's exchanges run over, each a communicator split from the world's. */
const GROUPS = ['tensor', 'expert', 'data', 'expert-data'] as const;
type Group = (typeof GROUPS)[number];

/**
 * One rank of a partitioned CUDA plan, in a process of its own (one per GPU, as torchrun and mpirun launch them): its
 * pipeline stage's steps on its GPU, and the plan's exchanges as NCCL calls on the same stream — a `pp_send` a send on
 * the sending stage's rank and a receive on the receiving one, `tp_reduce` an all-reduce over the tensor group, a
 * gradient's mean (`data_mean`) an all-reduce of operands pre-multiplied by 1/replicas over the ranks holding the same
 * slice (an expert's: those holding the expert), `tp_copy` a copy; any other collective (sequence, expert and
 * vocabulary parallelism's) all-gathers its operands over its group with NCCL and computes the rank's result from them
 * by the op's definition on the host (correct, not fast: the fast paths are the four above).
 */
export class NcclRank {
  private readonly comms = new Map<Group, Comm>();
  /** Every group kind's groups of ranks (this rank's is the one holding it). */
  private readonly groups: Record<Group, number[][]>;
  private readonly world: Comm;
  private readonly dev: DeviceAccess;
  private readonly means = new Map<string, number>();
  /** The outputs this rank's stages make. */
  private readonly outputs: string[];

  private constructor(
    readonly plan: Plan,
    readonly layout: RankLayout,
    readonly rank: number,
    readonly session: NativeSession,
    private readonly nccl: Nccl,
  ) {
    const world = rankCount(layout);
    this.dev = session.device!;
    this.outputs = outputsOf(plan, layout.pipeline ?? 1, pipeIndex(layout, rank));
    this.world = nccl.init(world, rank);
    // every rank splits every group in the same order (NCCL's splits are collective over the parent)
    const collective = rankGroups(layout);
    const data = dataGroups(layout);
    this.groups = {
      tensor: collective({ attrs: { group: 'tensor' } }),
      expert: collective({ attrs: { group: 'expert' } }),
      data: averagedOver(data).groups,
      'expert-data': averagedOver(data, 'expert').groups,
    };
    for (const g of GROUPS) {
      const color = this.groups[g].findIndex((ranks) => ranks.includes(rank));
      this.comms.set(g, nccl.split(this.world, color, this.groups[g][color]!.indexOf(rank)));
    }
  }

  /** Opens this process's rank: its session of the plan's library (on GPU LOCAL_RANK), its communicators. */
  static create(
    plan: Plan,
    library: string,
    layout: RankLayout,
    rank: number,
    held: Map<string, NDArray>,
    nccl: Nccl,
  ): NcclRank {
    const session = NativeSession.create(plan, library, { poison: false });
    if (!session.device) throw new PlanError(`the library ${library} was not built for CUDA ranks`);
    if ((layout.pipeline ?? 1) > 1) session.pipe = pipeIndex(layout, rank);
    for (const p of plan.params) {
      const x = held.get(p.name);
      if (x) session.write(p.buffer, x.data instanceof Int32Array ? x.data : Float32Array.from(x.data));
    }
    return new NcclRank(plan, layout, rank, session, nccl);
  }

  /** One step: the rank's steps between its exchanges; the outputs of its stage. */
  async run(feeds: Map<string, Host>): Promise<Map<string, Host>> {
    this.session.begin(feeds);
    const steps = this.plan.steps;
    let from = 0;
    for (let i = 0; i <= steps.length; i++) {
      const st = steps[i];
      if (st && st.kind !== 'collective') continue;
      await this.session.steps(from, i);
      if (st) {
        await this.exchange(st);
        await this.nccl.settle?.();
      }
      from = i + 1;
    }
    this.dev.sync();
    return this.session.end(this.outputs);
  }

  private get pipe(): number {
    return pipeIndex(this.layout, this.rank);
  }

  private stageOf(st: PlanStep): number | undefined {
    return 'stage' in st && st.stage !== undefined ? st.stage % (this.layout.pipeline ?? 1) : undefined;
  }

  private count(id: number): number {
    return this.plan.buffers[id]!.bytes / 4;
  }

  private type(id: number) {
    return DATA_TYPES[this.plan.buffers[id]!.dtype === 'i32' ? 'i32' : 'f32'];
  }

  private offset(id: number): number {
    return this.plan.buffers[id]!.offset;
  }

  private async exchange(st: Exchange): Promise<void> {
    const { nccl, dev } = this;
    const P = this.layout.pipeline ?? 1;
    const at = (id: number) => dev.at(this.offset(id));
    if (st.op === 'pp_send') {
      const [from, to] = [Number(st.attrs['from']) % P, this.stageOf(st)!];
      if (from === to) {
        // two stages of one rank (interleaved): a copy
        if (this.pipe === to && st.from !== st.to) dev.copy(at(st.to), at(st.from), this.plan.buffers[st.from]!.bytes);
        return;
      }
      if (this.pipe === from)
        nccl.send(
          at(st.from),
          this.count(st.from),
          this.type(st.from),
          peerOf(this.layout, this.rank, to),
          this.world,
          dev.stream,
        );
      if (this.pipe === to)
        nccl.recv(
          at(st.to),
          this.count(st.to),
          this.type(st.to),
          peerOf(this.layout, this.rank, from),
          this.world,
          dev.stream,
        );
      return;
    }
    const stage = this.stageOf(st);
    if (stage !== undefined && stage !== this.pipe) return;
    if (st.op === 'tp_copy') {
      if (st.from !== st.to) dev.copy(at(st.to), at(st.from), this.plan.buffers[st.from]!.bytes);
      return;
    }
    if (st.op === 'tp_reduce') {
      nccl.allReduce(
        at(st.from),
        at(st.to),
        this.count(st.from),
        this.type(st.from),
        SUM,
        this.comms.get('tensor')!,
        dev.stream,
      );
      return;
    }
    if (st.op === 'data_mean') {
      const group: Group = st.attrs['group'] === 'expert' ? 'expert-data' : 'data';
      nccl.allReduce(
        at(st.from),
        at(st.to),
        this.count(st.from),
        DATA_TYPES.f32,
        this.mean(group),
        this.comms.get(group)!,
        dev.stream,
      );
      return;
    }
    await this.gathered(st);
  }

  /** The mean over the replicas, as a pre-multiplied sum on `group`'s communicator (made once). */
  private mean(group: Group): number {
    let op = this.means.get(group);
    if (op === undefined) {
      op = this.nccl.preMulSum(1 / (this.layout.data ?? 1), this.comms.get(group)!);
      this.means.set(group, op);
    }
    return op;
  }

  /** Any other collective: its operands all-gathered over its group, the rank's result computed on the host. */
  private async gathered(st: Exchange): Promise<void> {
    const group: Group = st.attrs['group'] === 'expert' ? 'expert' : 'tensor';
    const members = this.groups[group].find((g) => g.includes(this.rank))!;
    const n = members.length;
    const operands = st.operands ?? [st.from];
    const each: NDArray[][] = members.map(() => []);
    for (const id of operands) {
      const b = this.plan.buffers[id]!;
      const scratch = this.dev.scratch(b.bytes * n);
      this.nccl.allGather(
        this.dev.at(b.offset),
        scratch,
        b.bytes / 4,
        this.type(id),
        this.comms.get(group)!,
        this.dev.stream,
      );
      await this.nccl.settle?.();
      const all = b.dtype === 'i32' ? new Int32Array((b.bytes / 4) * n) : new Float32Array((b.bytes / 4) * n);
      this.dev.copy(all, scratch, b.bytes * n);
      const per = b.bytes / 4;
      members.forEach((_, k) => each[k]!.push({ data: all.subarray(k * per, (k + 1) * per), shape: b.shape }));
    }
    const out = getOp(st.op).collective!(each, { attrs: st.attrs } as unknown as Value);
    const mine = out[members.indexOf(this.rank)]!;
    this.session.write(st.to, mine.data instanceof Int32Array ? mine.data : Float32Array.from(mine.data));
  }

  /** Sums `count` floats at device address `at` over every rank, in place, and waits. */
  async allReduceWorld(at: unknown, count: number): Promise<void> {
    this.nccl.allReduce(at, at, count, DATA_TYPES.f32, SUM, this.world, this.dev.stream);
    await this.nccl.settle?.();
    this.dev.sync();
  }

  destroy(): void {
    for (const c of this.comms.values()) this.nccl.destroy(c);
    this.nccl.destroy(this.world);
    this.session.destroy();
  }
}
