import { resolve } from 'node:path';
import type { NDArray } from '../ir/op.ts';
import { outputShape, type Module, type Value } from '../ir/graph.ts';
import { CpuPlanSession } from '../interp/plan-session.ts';
import { CpuSession } from '../interp/session.ts';
import { dataIndex, expertIndex, pipeIndex, rankCount, ranksText, tensorIndex } from '../interp/ranks.ts';
import { layoutOf } from '../interp/session.ts';
import { type RankSession, SimulatedRanks } from '../interp/simulated-ranks.ts';
import { NcclRank } from '../interp/nccl-rank.ts';
import { launchedRank, loadNccl, RanksError, rendezvous } from '../../runtime/native/nccl.ts';
import { stagesOf } from '../ir/stages.ts';
import { buildPlan } from '../codegen/plan.ts';
import type { DeviceClass } from '../kernel/lower/common.ts';
import type { PlanConfig } from '../sema/plan.ts';
import { graphsRead, type GraphSpec } from '../../runtime/data/graph-spec.ts';
import { parsePlan, type Plan } from '../../runtime/plan.ts';
import { openGpu, type Gpu } from '../../runtime/webgpu/device.ts';
import { WebGpuSession } from '../../runtime/webgpu/session.ts';
import { NativeSession } from '../../runtime/native/session.ts';
import type { Session } from '../../runtime/session.ts';
import { cachedLibrary } from '../targets/compile.ts';
import { TARGETS } from '../targets/registry.ts';
import type { Target } from '../targets/registry.ts';

/** One backend's way to run training steps and an evaluation graph on the trained parameters. */
export interface Trainer {
  readonly backend: string;
  /** Runs one step; returns the loss (NaN for plans without one). */
  step(loss: string | undefined): Promise<number>;
  /** Runs `m` (`times` batches) on the current parameters and returns its output `name` each time. */
  evaluate(m: Module, name: string, times?: number): Promise<NDArray[]>;
  /** A function running `m` on given inputs with the current parameters, returning output `name`. */
  forward(m: Module, name: string): Promise<(inputs: Map<string, Int32Array | Float32Array>) => Promise<NDArray>>;
  close(): void;
  /** After a step whose loss is not finite: the op that first produced a NaN or infinity, if the backend can tell. */
  firstNonFinite?(): Value | undefined;
  /** What the session measured over the steps run: bytes each tier's kernels and copies addressed, bytes per link. */
  measured?(): Record<string, number>;
  /** A rank other than the first of a job launched one process per GPU: it prints nothing. */
  readonly quiet?: boolean;
}

export function cpuTrainer(m: Module, config: PlanConfig, graphs: (g: string) => GraphSpec): Trainer {
  const s = replicasOf(m, config, graphs);
  return {
    backend: s.ranks.length > 1 ? `cpu (${ranksText(s.layout)}, simulated)` : 'cpu',
    step: async (loss) => {
      const out = s.run();
      return loss ? out.get(loss)!.data[0]! : NaN;
    },
    evaluate: async (ev, name, times = 1) => Array.from({ length: times }, (_, k) => s.evaluate(ev, k + 1).get(name)!),
    forward: async (ev, name) => async (inputs) => {
      const feeds = s.feeds(ev, s.step);
      for (const [k, v] of inputs) feeds.set(k, { data: v, shape: feeds.get(k)!.shape });
      return s.evaluateOn(ev, feeds).get(name)!;
    },
    close: () => {},
    firstNonFinite: () => s.firstNonFinite(),
  };
}

/**
 * The CPU backend in poison mode: the plan built for the module runs in its own arena with the ops'
 * CPU references (CpuPlanSession), freed ranges poisoned, so a liveness bug fails the step.
 */
export function cpuPlanTrainer(m: Module, config: PlanConfig, graphs: (g: string) => GraphSpec): Trainer {
  const data = { graphs, text: textOf(config) };
  const open = (mod: Module, cfg: PlanConfig) =>
    new CpuPlanSession(mod, asRead(buildPlan(mod, cfg, graphsOf(mod, graphs)).plan), data, true);
  const s = open(m, config);
  const evaluation = (ev: Module) => {
    const e = open(ev, { ...config, memory: {} });
    e.loadParameters(s.parameters());
    return e;
  };
  return {
    backend: 'cpu (the plan in its arena, freed memory poisoned)',
    step: async (loss) => {
      const out = s.run(loss ? [loss] : []);
      return loss ? out.get(loss)![0]! : NaN;
    },
    evaluate: async (ev, name, times = 1) => {
      const e = evaluation(ev);
      return Array.from({ length: times }, () => ({ data: e.run([name]).get(name)!, shape: outputShape(ev, name) }));
    },
    forward: async (ev, name) => {
      const e = evaluation(ev);
      return async (inputs) => ({ data: e.run([name], inputs).get(name)!, shape: outputShape(ev, name) });
    },
    close: () => {},
  };
}

/** The graphs a module reads, as the plan carries them. */
const graphsOf = (m: Module, graphs: (g: string) => GraphSpec): Record<string, GraphSpec> =>
  Object.fromEntries(graphsRead(m).map((g) => [g, graphs(g)]));

const textOf = (config: PlanConfig) =>
  config.data ? { file: resolve(config.data.file), split: config.data.split } : undefined;

/** How a session is built and run: the kernels' device class, poison mode, a step's time limit (seconds, WebGPU). */
export interface SessionOptions {
  deviceClass?: DeviceClass;
  poison?: boolean;
  timeLimitSeconds?: number;
}

/** A built plan as the runtime reads it from plan.json: through JSON and the schema's checks. */
const asRead = (plan: Plan) => parsePlan(JSON.parse(JSON.stringify(plan)));

/** What every session of a plan is given: its budget, graphs, text, and poison mode. */
const sessionData = (config: PlanConfig, graphs: (g: string) => GraphSpec, opts: SessionOptions) => ({
  ...(config.memory.gpu ? { budgetBytes: config.memory.gpu } : {}),
  graphs,
  text: textOf(config),
  ...(opts.poison !== undefined ? { poison: opts.poison } : {}),
});

/** Plans `m` for this device (its class's kernels, its limits) and opens a session on it. */
export async function webgpuSession(
  gpu: Gpu,
  m: Module,
  config: PlanConfig,
  graphs: (g: string) => GraphSpec,
  opts: SessionOptions = {},
): Promise<WebGpuSession> {
  const { limits } = gpu.device;
  const built = buildPlan(m, config, graphsOf(m, graphs), {
    deviceClass: opts.deviceClass ?? gpu.deviceClass,
    limits: { maxBufferSize: limits.maxBufferSize, maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize },
  });
  return WebGpuSession.create(gpu, asRead(built.plan), (k) => built.sources.get(k)!, {
    ...sessionData(config, graphs, opts),
    ...(opts.timeLimitSeconds !== undefined ? { timeLimitSeconds: opts.timeLimitSeconds } : {}),
  });
}

/** Plans `m` for a compiled target (c or cuda), compiles it once into the cache, and opens its library. */
export function nativeSession(
  target: Target,
  m: Module,
  config: PlanConfig,
  graphs: (g: string) => GraphSpec,
  opts: SessionOptions = {},
): NativeSession {
  const built = buildPlan(m, config, graphsOf(m, graphs), { target });
  return NativeSession.create(asRead(built.plan), cachedLibrary(target, built), sessionData(config, graphs, opts));
}

/**
 * A trainer over any target's session: steps in the training plan's session, evaluation in sessions of their own
 * built for the same target, loaded with the trained parameters.
 */
export async function sessionTrainer<S extends Session>(
  backend: string,
  session: S,
  open: (m: Module, config: PlanConfig) => Promise<Session>,
  config: PlanConfig,
  close: () => void = () => {},
): Promise<Trainer & { session: S }> {
  const closers: (() => void)[] = [];
  const evaluation = async (ev: Module) => {
    const e = await open(ev, { ...config, memory: {} });
    e.loadParameters(await session.parameters());
    return e;
  };
  return {
    backend,
    session,
    step: async (loss) => {
      const out = await session.run(loss ? [loss] : []);
      return loss ? out.get(loss)![0]! : NaN;
    },
    measured: () => {
      const t = session.tiers;
      if (!t) return {};
      const perStep = (b: number) => b / Math.max(1, session.step);
      return {
        gpu_peak_bytes: session.measuredPeakBytes,
        host_peak_bytes: t.peakBytes.host,
        ssd_peak_bytes: t.peakBytes.ssd,
        ...Object.fromEntries(
          Object.entries(t.moved).map(([link, b]) => [`${link.replace('→', '_to_')}_bytes_per_step`, perStep(b)]),
        ),
      };
    },
    evaluate: async (ev, name, times = 1) => {
      const e = await evaluation(ev);
      const outs: NDArray[] = [];
      for (let k = 0; k < times; k++)
        outs.push({ data: (await e.run([name])).get(name)!, shape: outputShape(ev, name) });
      e.destroy();
      return outs;
    },
    forward: async (ev, name) => {
      const e = await evaluation(ev);
      closers.push(() => e.destroy());
      return async (inputs) => ({ data: (await e.run([name], inputs)).get(name)!, shape: outputShape(ev, name) });
    },
    close: () => {
      for (const c of closers) c();
      session.destroy();
      close();
    },
  };
}

export async function webgpuTrainer(
  m: Module,
  config: PlanConfig,
  graphs: (g: string) => GraphSpec,
  opts: SessionOptions = {},
): Promise<Trainer & { session: WebGpuSession }> {
  const gpu = await openGpu();
  if (rankCount({ ...layoutOf(m), data: config.parallel.data }) > 1)
    return webgpuRanksTrainer(gpu, m, config, graphs, opts) as Promise<Trainer & { session: WebGpuSession }>;
  const session = await webgpuSession(gpu, m, config, graphs, opts);
  // evaluation sessions are built for this device's class
  const { deviceClass: _, ...evalOpts } = opts;
  return sessionTrainer(
    `webgpu (${gpu.adapter}, ${session.plan.deviceClass}-class kernels)`,
    session,
    (ev, cfg) => webgpuSession(gpu, ev, cfg, graphs, evalOpts),
    config,
    () => gpu.device.destroy(),
  );
}

/** The CPU reference's session of a partitioned plan: every rank's initial slices, every replica's batches. */
const replicasOf = (m: Module, config: PlanConfig, graphs: (g: string) => GraphSpec, only?: number) =>
  new CpuSession(m, {
    seed: config.seed,
    graphs,
    text: textOf(config),
    data: config.parallel.data,
    ...(only !== undefined ? { only } : {}),
  });

/**
 * A partitioned plan on WebGPU: its ranks as devices simulated on this one (compiler/interp/simulated-ranks.ts), each
 * replica reading its own batch as on the CPU backend, the loss the replicas' mean; evaluation runs on the CPU
 * reference from the ranks' parameters.
 */
async function webgpuRanksTrainer(
  gpu: Gpu,
  m: Module,
  config: PlanConfig,
  graphs: (g: string) => GraphSpec,
  opts: SessionOptions,
): Promise<Trainer & { session: WebGpuSession }> {
  const cpu = replicasOf(m, config, graphs);
  const layout = cpu.layout;
  const { limits } = gpu.device;
  const built = buildPlan(m, config, graphsOf(m, graphs), {
    deviceClass: opts.deviceClass ?? gpu.deviceClass,
    limits: { maxBufferSize: limits.maxBufferSize, maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize },
    ranks: { dataParallel: (layout.data ?? 1) > 1 },
  });
  const ranks = await SimulatedRanks.webgpu(gpu, { ...built, plan: asRead(built.plan) }, layout, (k) => cpu.ranks[k]!);
  const backend = `webgpu (${gpu.adapter}, ${ranksText(layout)}, simulated)`;
  return { ...simulatedTrainer(backend, ranks, cpu, m), close: () => gpu.device.destroy() };
}

/** A partitioned plan compiled to C: its ranks simulated in this process, each a session of the plan's library. */
async function nativeRanksTrainer(
  target: Target,
  m: Module,
  config: PlanConfig,
  graphs: (g: string) => GraphSpec,
): Promise<Trainer & { session: NativeSession }> {
  const cpu = replicasOf(m, config, graphs);
  const layout = cpu.layout;
  const built = buildPlan(m, config, graphsOf(m, graphs), { target, ranks: { dataParallel: (layout.data ?? 1) > 1 } });
  const plan = asRead(built.plan);
  const ranks = await SimulatedRanks.native(plan, cachedLibrary(target, built), layout, (k) => cpu.ranks[k]!);
  const backend = `native (C kernels, OpenMP; ${ranksText(layout)}, simulated)`;
  const t = simulatedTrainer(backend, ranks, cpu, m);
  return { ...t, close: () => ranks.sessions.forEach((s) => s.destroy()) };
}

/**
 * Steps over simulated ranks, each replica reading its own batch as on the CPU backend, the loss the replicas' mean;
 * evaluation on the CPU reference (`cpu`) from the ranks' parameters.
 */
function simulatedTrainer<S extends RankSession>(
  backend: string,
  ranks: SimulatedRanks<S>,
  cpu: CpuSession,
  m: Module,
): Trainer & { session: S } {
  const layout = ranks.layout;
  const st = stagesOf(m);
  let step = 0;
  // the ranks' parameters (each its stage's) into the CPU session, for an evaluation there
  const synced = async () => {
    for (const [k, s] of ranks.sessions.entries())
      for (const [name, x] of await s.parameters()) {
        const leaf = m.values.find((v) => (v.op === 'param' || v.op === 'state') && v.attrs['name'] === name);
        if (!leaf || (st && st.stage.get(leaf)! % st.pipeline !== pipeIndex(layout, k))) continue;
        const held = cpu.ranks[k]!.get(name)!;
        for (const r of cpu.ranks.keys())
          if (tensorIndex(layout, r) === tensorIndex(layout, k) && expertIndex(layout, r) === expertIndex(layout, k))
            cpu.ranks[r]!.set(name, { data: x, shape: held.shape });
      }
    return cpu;
  };
  return {
    backend,
    session: ranks.sessions[0]!,
    step: async (loss) => {
      step++;
      const outs = await ranks.run(
        (k) => new Map([...cpu.feeds(m, step, dataIndex(layout, k))].map(([n, x]) => [n, x.data as Float32Array])),
      );
      // each replica's loss once (its first rank holding it)
      const each = outs.filter((o, k) => tensorIndex(layout, k) === 0 && loss && o.has(loss));
      return loss ? each.reduce((a, o) => a + o.get(loss)![0]!, 0) / each.length : NaN;
    },
    evaluate: async (ev, name, times = 1) => {
      const c = await synced();
      return Array.from({ length: times }, (_, k) => c.evaluate(ev, k + 1).get(name)!);
    },
    forward: async (ev, name) => {
      const c = await synced();
      return async (inputs) => {
        const feeds = c.feeds(ev, step);
        for (const [k, v] of inputs) feeds.set(k, { data: v, shape: feeds.get(k)!.shape });
        return c.evaluateOn(ev, feeds).get(name)!;
      };
    },
    close: () => {},
  };
}

/**
 * A partitioned plan on CUDA, this process one of its ranks (one per GPU, launched by torchrun or mpirun: RANK,
 * WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT): its stage's steps on its GPU, the exchanges through NCCL
 * (compiler/interp/nccl-rank.ts). Each replica reads its own batch as on the CPU backend; the loss is the replicas'
 * mean, all-reduced so that every rank has it; rank 0 prints.
 */
async function ncclTrainer(
  m: Module,
  config: PlanConfig,
  graphs: (g: string) => GraphSpec,
): Promise<Trainer & { session: NativeSession }> {
  const launched = launchedRank();
  // this process's rank's parameters only (the feeds of its replica come from the same session)
  const cpu = replicasOf(m, config, graphs, launched?.rank);
  const layout = cpu.layout;
  const world = rankCount(layout);
  if (!launched)
    throw new RanksError(
      `a partitioned plan on CUDA runs one process per GPU (${ranksText(layout)}), and this one was not ` +
        'launched as a rank',
      `launch ${world} with torchrun (\`torchrun --nproc-per-node ${world} --no-python npx flexc run …\`) or mpirun`,
    );
  if (launched.world !== world)
    throw new RanksError(
      `the plan's partition (${ranksText(layout)}) needs WORLD_SIZE ${world}, not ${launched.world}`,
      `launch ${world} processes`,
    );
  const nccl = loadNccl();
  rendezvous();
  const target = TARGETS['cuda'];
  const built = buildPlan(m, config, graphsOf(m, graphs), { target, ranks: { dataParallel: true } });
  const rank = NcclRank.create(
    asRead(built.plan),
    cachedLibrary(target, built),
    layout,
    launched.rank,
    cpu.ranks[launched.rank]!,
    nccl,
  );
  const dev = rank.session.device!;
  let step = 0;
  const unsupported = async (): Promise<never> => {
    throw new RanksError('evaluating a partitioned plan on CUDA ranks is not built yet', 'evaluate with --backend cpu');
  };
  return {
    backend: `cuda (CUDA kernels; rank ${launched.rank} of ${ranksText(layout)}, NCCL)`,
    session: rank.session,
    quiet: launched.rank !== 0,
    step: async (loss) => {
      step++;
      const feeds = cpu.feeds(m, step, dataIndex(layout, launched.rank));
      const out = await rank.run(new Map([...feeds].map(([n, x]) => [n, x.data as Float32Array])));
      if (!loss) return NaN;
      // each replica's loss once (its first tensor rank), summed over the world with the count of them
      const mine = out.get(loss) && tensorIndex(layout, launched.rank) === 0;
      const sums = Float32Array.of(mine ? out.get(loss)![0]! : 0, mine ? 1 : 0);
      const scratch = dev.scratch(8);
      dev.copy(scratch, sums, 8);
      await rank.allReduceWorld(scratch, 2);
      dev.copy(sums, scratch, 8);
      return sums[0]! / sums[1]!;
    },
    evaluate: unsupported,
    forward: unsupported,
    close: () => rank.destroy(),
  };
}

/** Training on a compiled target: `native` (C, this CPU's cores) or `cuda` (an NVIDIA GPU). */
export async function nativeTrainer(
  target: Target,
  m: Module,
  config: PlanConfig,
  graphs: (g: string) => GraphSpec,
  opts: SessionOptions = {},
): Promise<Trainer & { session: NativeSession }> {
  // on CUDA, a process launched as a rank is one (a world of one included: its gradients' means are NCCL's)
  if (target.name === 'cuda' && launchedRank()) return ncclTrainer(m, config, graphs);
  if (rankCount({ ...layoutOf(m), data: config.parallel.data }) > 1)
    return target.name === 'cuda' ? ncclTrainer(m, config, graphs) : nativeRanksTrainer(target, m, config, graphs);
  const session = nativeSession(target, m, config, graphs, opts);
  const what = target.name === 'c' ? 'native (C kernels, OpenMP)' : 'cuda (CUDA kernels)';
  return sessionTrainer(what, session, async (ev, cfg) => nativeSession(target, ev, cfg, graphs, opts), config);
}
