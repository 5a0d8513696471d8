import { deadCodeEliminate, type CheckpointReport, type Module } from '../ir/graph.ts';
import { flopsOf } from '../ir/ops/registry.ts';
import { planMemory, type MemoryPlan } from '../codegen/memory.ts';
import { memoryTimeline } from '../cost/memory.ts';
import { pipelineMemory } from '../cost/pipeline.ts';
import { stagesOf } from '../ir/stages.ts';
import { REMAT_SUFFIX, type Rewritten } from '../remat/emit.ts';
import { applySchedule } from '../remat/chain-stages.ts';
import { everyK, sqrtK } from '../remat/policies.ts';
import type { Schedule } from '../remat/schedule.ts';
import { fastSchedule } from '../remat/auto.ts';
import { greedySchedule, moveAll, recomputeCores, sweepSchedule } from '../remat/auto-stages.ts';
import type { TierChoice } from '../remat/solve-greedy.ts';
import { depthFirst } from '../ir/order.ts';
import type { Machine } from '../cost/device.ts';
import { exposedTransfers, moveSeconds, pathsOf, unitsPerSecond } from '../cost/transfer.ts';
import { OFF_GPU_TIERS, tierOf, type OffGpuTier } from '../ir/ops/tier.ts';
import { gpuFloor, leafBytes, movableInputs, placeInputs } from '../remat/place-inputs.ts';
import { recomputeCost } from '../remat/cost.ts';
import { findStages } from '../remat/stages.ts';
import type { PlanConfig } from '../sema/plan.ts';
import type { Pass } from './pass.ts';

/**
 * The step needs more than the budget under the plan's policy. `autoFits`: the bytes `auto` needs
 * when it meets the budget; otherwise `smallest` is the least of any schedule flexc considers.
 */
export class BudgetInfeasibleError extends Error {
  constructor(
    readonly budget: number,
    readonly needed: number,
    readonly smallest: number,
    readonly policy: string,
    readonly autoFits?: number,
    /** Host memory with which the step meets the GPU budget (every leaf and activation there); its GPU bytes then. */
    readonly host?: { bytes: number; gpu: number },
  ) {
    super(
      `the training step needs ${needed} bytes with checkpoint: ${policy}, more than the ` +
        `${budget}-byte GPU budget; the smallest budget that works is ${smallest} bytes`,
    );
  }
}

/** The bytes a budget bounds (see CheckpointReport.measured), of a module with dead code removed. */
function measureOf(config: PlanConfig): {
  measured: CheckpointReport['measured'];
  /** `memory`: the module's memory plan, when the caller has one (else it is made). */
  bytes: (live: Module, memory?: () => MemoryPlan) => number;
} {
  const { data, offload } = config.parallel;
  // a pipeline's GPU is its fullest rank's: its stages' programs and the micro-batches its schedule keeps
  if ((config.parallel.pipeline ?? 1) > 1)
    return {
      measured: 'per-gpu',
      bytes: (live) => {
        const st = stagesOf(live);
        if (!st) return memoryTimeline(live, config, { points: false }).gpu.peak_bytes;
        return Math.max(...pipelineMemory(live, st, config).map((r) => r.peak_bytes));
      },
    };
  if (data > 1 || offload.length > 0)
    return { measured: 'per-gpu', bytes: (live) => memoryTimeline(live, config, { points: false }).gpu.peak_bytes };
  return { measured: 'arena', bytes: (live, memory = () => planMemory(live)) => memory().arenaBytes };
}
const policyName = (c: PlanConfig['checkpoint']) => (typeof c === 'string' ? c : `every(${c.every})`);

/**
 * Activation checkpointing: under `checkpoint: none | selective | all | every(k) | sqrt | auto`, decides which
 * forward values the backward pass keeps and which it recomputes, and inserts the recomputations. `selective`
 * recomputes only the attention cores (recomputeCores). `auto` with `memory: { gpu: X }` picks the schedule of least
 * recompute whose exact bytes (this module's memory plan, or one rank's peak under data parallelism: measureOf) fit
 * X, among the optimal chain schedules for each memory level and, for steps small enough, the resident-set DP's
 * (exact in Checkmate's model), the keep-or-recompute-once greedy's (fastSchedule) and selective's. A plan that
 * cannot fit X under any schedule is BudgetInfeasibleError, naming the smallest budget that works.
 */
export const checkpoint: Pass = {
  name: 'checkpoint',
  doc: 'keep, recompute or move to host or SSD each activation for the backward pass (checkpoint, placement, memory)',
  run(m, { config, feasibility, machine, leastSearch }) {
    const r = checkpointModule(m, config, feasibility, machine, leastSearch);
    return r.report ? { ...r.module, checkpoint: r.report } : r.module;
  },
};

/**
 * The tiers besides the GPU a plan's activations may wait in: `placement: host | ssd` that tier (its budget, else
 * unbounded); `auto` those the plan budgets (`memory.host`, `memory.ssd`); none under data parallelism (a rank's
 * memory is the cost model's there). Moves cost their copies' time on the machine's paths (cost/transfer.ts).
 */
export function tierChoice(config: PlanConfig, machine?: Machine): TierChoice | undefined {
  if (config.parallel.data > 1 || config.parallel.offload.length > 0) return undefined;
  const { placement, memory } = config;
  const tiers = OFF_GPU_TIERS.filter((t) => (placement === 'auto' ? memory[t] !== undefined : placement === t)).map(
    (tier) => ({ tier, capacity: memory[tier] ?? Infinity }),
  );
  if (!tiers.length) return undefined;
  const paths = pathsOf(machine);
  const perSecond = unitsPerSecond(machine);
  return { tiers, moveCost: (bytes, tier, down) => moveSeconds(bytes, tier, down, paths) * perSecond };
}

export function checkpointModule(
  m: Module,
  config: PlanConfig,
  feasibility = false,
  machine?: Machine,
  leastSearch = true,
): { module: Module; report?: CheckpointReport } {
  // the order of the ops is a choice too: each op right before its first reader (depthFirst) runs a chain of
  // row-wise ops over blocks block after block, where the order the step was built in runs each op over every block.
  // The built order first, without searching for the least budget its placement solvers meet; the other with it.
  const task = config.task;
  const other = task.kind === 'train' ? depthFirst(m, task.loss) : m;
  const alternative = other.values.some((v, i) => v !== m.values[i]);
  try {
    return checkpointInOrder(m, config, feasibility, machine, leastSearch && !alternative);
  } catch (e) {
    if (!(e instanceof BudgetInfeasibleError) || !alternative) throw e;
    try {
      return checkpointInOrder(other, config, feasibility, machine, leastSearch);
    } catch (f) {
      if (!(f instanceof BudgetInfeasibleError)) throw f;
      // the built order's least without the placement solvers' search, the other's with it: both work
      throw new BudgetInfeasibleError(
        e.budget,
        e.needed,
        Math.min(e.smallest, f.smallest),
        e.policy,
        e.autoFits,
        e.host,
      );
    }
  }
}

/**
 * The cost of a schedule: its recomputation, and what its copies between tiers add beyond the compute they overlap;
 * its bytes (measureOf), and what it holds in host memory and on the SSD.
 */
function measurer(config: PlanConfig, machine: Machine | undefined) {
  const { bytes: bytesOf } = measureOf(config);
  const paths = pathsOf(machine);
  const perSecond = unitsPerSecond(machine);
  return (r: Rewritten) => {
    const live = deadCodeEliminate(r.module);
    const recompute = live.values.reduce((a, v) => a + (r.recomputed.has(v) ? recomputeCost(v) : 0), 0);
    const moves = exposedTransfers(live, recomputeCost, paths, perSecond);
    let plan: MemoryPlan | undefined;
    const memory = () => (plan ??= planMemory(live)); // made once, for the arena and the tiers alike
    const held = moves.moves ? memory().tiers : { host: { arenaBytes: 0 }, ssd: { arenaBytes: 0 } };
    return {
      module: r.module,
      bytes: bytesOf(live, memory),
      cost: recompute + moves.exposed,
      host: held.host.arenaBytes,
      ssd: held.ssd.arenaBytes,
      offloaded: live.values.filter((v) => tierOf(v) !== 'gpu').length,
    };
  };
}
type Measure = ReturnType<ReturnType<typeof measurer>>;

/** The tiers a placement may use beside the leaves `m` already keeps in host memory (placeInputs). */
function roomBeside(m: Module, tiers: TierChoice, recompute: boolean): TierChoice {
  const inputs = leafBytes(m, 'host');
  return {
    ...tiers,
    recompute,
    tiers: tiers.tiers.map((t) => (t.tier === 'host' ? { ...t, capacity: t.capacity - inputs } : t)),
  };
}

/** Whether a schedule keeps the host and SSD budgets (the host arena holds the leaves placed there too). */
const withinTiers = (config: PlanConfig, r: { host?: number; ssd?: number }) =>
  (r.host ?? 0) <= (config.memory.host ?? Infinity) && (r.ssd ?? 0) <= (config.memory.ssd ?? Infinity);

/**
 * A step without a backward pass (inference, evaluation) over its GPU budget, with tiers to move to: the leaves of
 * 256 bytes or more wait in host memory (when the plan budgets it) and the sweep moves values between their readers
 * (solveSweep); there is nothing to recompute for.
 */
function placeForward(
  m: Module,
  config: PlanConfig,
  machine: Machine | undefined,
  searchLeast: boolean,
): { module: Module; report?: CheckpointReport } {
  const budget = config.memory.gpu;
  const tiers = tierChoice(config, machine);
  const { measured, bytes: bytesOf } = measureOf(config);
  const without = bytesOf(deadCodeEliminate(m));
  if (budget === undefined || without <= budget || !tiers) return { module: m };
  const policy = policyName(config.checkpoint);
  const mod = tiers.tiers.some((t) => t.tier === 'host') ? placeInputs(m, new Set(movableInputs(m))) : m;
  const last = deadCodeEliminate(mod)
    .values.filter((v) => mod.outputs.some((o) => o.value === v))
    .at(-1);
  if (!last) return { module: m };
  const room = roomBeside(mod, tiers, false);
  const measure = measurer(config, machine);
  const r = sweepSchedule(deadCodeEliminate(mod), last, budget, measure, room);
  const fits = r?.fits;
  if (!fits || !withinTiers(config, fits)) {
    const least = searchLeast ? (r?.smallest?.(without)?.bytes ?? without) : without;
    throw new BudgetInfeasibleError(budget, without, least, policy);
  }
  return {
    module: fits.module,
    report: {
      policy,
      solver: 'sweep',
      stages: 0,
      measured,
      bytesWithout: without,
      bytesWith: fits.bytes,
      recomputeFlops: 0,
      stepFlops: flopsOf(m.values),
      tiers: { placement: config.placement, host: fits.host, ssd: fits.ssd, offloaded: fits.offloaded },
    },
  };
}

function checkpointInOrder(
  m: Module,
  config: PlanConfig,
  feasibility: boolean,
  machine: Machine | undefined,
  /** Whether to search, when no schedule meets the budget, for the least budget the placement solvers meet. */
  searchLeast: boolean,
): { module: Module; report?: CheckpointReport } {
  const task = config.task;
  if (task.kind !== 'train') return placeForward(m, config, machine, searchLeast);
  const loss = m.outputs.find((o) => o.name === task.loss)?.value;
  if (!loss) return { module: m };
  const budget = config.memory.gpu;
  const policy = policyName(config.checkpoint);
  const st = findStages(m, loss);
  const n = st.members.length;
  const { measured, bytes: bytesOf } = measureOf(config);
  const without = bytesOf(deadCodeEliminate(m));
  const stepFlops = flopsOf(m.values);
  const tiers = tierChoice(config, machine);
  const measure = measurer(config, machine);
  const withSchedule = (s: Schedule) => measure(applySchedule(m, st, s));
  const autoFit = (budget: number) => fastSchedule(m, loss, st, budget, measure, feasibility);
  const recompute = config.checkpoint !== 'none';
  const within = (r: { host?: number; ssd?: number }) => withinTiers(config, r);
  /**
   * The recompute-only solvers' cheapest schedule within the budget and, with tiers, the greedy's keep / recompute /
   * move choices (host memory less what the leaves placed there take); the cheaper in step time wins.
   */
  const placeAuto = (
    mod: Module,
    least: boolean,
  ): { best?: Measure & { solver: NonNullable<CheckpointReport['solver']> }; smallest: number } => {
    const room = tiers && roomBeside(mod, tiers, recompute);
    // with tiers to move to and no least budget asked: when the leaves kept on the GPU and the op that needs most
    // overflow the arena alone (gpuFloor), nothing fits; the chain DP stops far over the budget (the sweep is what
    // fits here)
    const quick = !!room && !least && measured === 'arena';
    if (quick && gpuFloor(deadCodeEliminate(mod)) > budget!) return { smallest: Infinity };
    const l = mod.outputs.find((o) => o.name === task.loss)!.value;
    const found = !recompute
      ? { smallest: Infinity, fits: undefined }
      : fastSchedule(mod, l, mod === m ? st : findStages(mod, l), budget!, measure, feasibility, quick);
    const live = deadCodeEliminate(mod);
    const placed = !room
      ? []
      : [
          { solver: 'sweep' as const, r: sweepSchedule(live, l, budget!, measure, room) },
          { solver: 'greedy' as const, r: greedySchedule(live, l, budget!, measure, room) },
        ];
    const fits = [found.fits, ...placed.map((p) => p.r?.fits && { ...p.r.fits, solver: p.solver })].filter(
      (x) => x && within(x),
    );
    const best = fits.sort((a, b) => a!.cost - b!.cost)[0];
    // the sweep's least budget (it fits whenever moving every wait does); the greedy's only where the sweep has none
    let searched = Infinity;
    if (!best && least)
      for (const p of placed) if (searched === Infinity) searched = p.r?.smallest?.(found.smallest)?.bytes ?? Infinity;
    return { best, smallest: Math.min(found.smallest, searched) };
  };
  const report = (
    out: Module,
    bytes: number,
    solver?: CheckpointReport['solver'],
    placed?: Partial<Measure>,
  ): { module: Module; report: CheckpointReport } => {
    const recomputeFlops = flopsOf(out.values.filter((v) => v.name?.endsWith(REMAT_SUFFIX)));
    return {
      module: out,
      report: {
        policy,
        ...(solver ? { solver } : {}),
        stages: n,
        measured,
        bytesWithout: without,
        bytesWith: bytes,
        recomputeFlops,
        stepFlops,
        ...(placed?.offloaded
          ? {
              tiers: {
                placement: config.placement,
                host: placed.host ?? 0,
                ssd: placed.ssd ?? 0,
                offloaded: placed.offloaded,
              },
            }
          : {}),
      },
    };
  };

  /** Selective recomputation; without an attention core (none, or only fused attention), nothing to recompute. */
  const selective = () => recomputeCores(m, loss, measure);
  const withFixedPolicy = (c: Exclude<PlanConfig['checkpoint'], 'none' | 'auto'>) =>
    c === 'selective'
      ? (selective() ?? { module: m, bytes: without })
      : withSchedule(everyK(n, c === 'all' ? 1 : c === 'sqrt' ? sqrtK(n) : c.every));
  /** Every activation the backward reads in `tier`; with host memory, every leaf of 256 bytes or more too. */
  const fixedPlacement = (tier: OffGpuTier) => {
    const mod = tier === 'host' ? placeInputs(m, new Set(movableInputs(m))) : m;
    return moveAll(mod, mod.outputs.find((o) => o.name === task.loss)!.value, tier, measure);
  };
  /**
   * When no schedule meets the GPU budget within the plan's host budget (or without one): the host memory with which
   * every leaf and activation there would meet it, if any would (the budget's other tier, named in FLX4010).
   */
  const hostWouldFit = (): BudgetInfeasibleError['host'] => {
    if (config.parallel.data > 1 || config.parallel.offload.length > 0 || budget === undefined) return undefined;
    const r = fixedPlacement('host');
    return r.bytes <= budget && r.host > (config.memory.host ?? 0) ? { bytes: r.host, gpu: r.bytes } : undefined;
  };
  let chosen: { module: Module; bytes: number; solver?: CheckpointReport['solver'] } & Partial<Measure>;
  const c = config.checkpoint;
  const fixedTier = config.placement === 'host' || config.placement === 'ssd' ? config.placement : undefined;
  if (fixedTier) chosen = fixedPlacement(fixedTier);
  else if (budget === undefined || without <= budget || (c !== 'auto' && (c !== 'none' || !tiers)))
    chosen = c === 'none' || c === 'auto' ? { module: m, bytes: without } : withFixedPolicy(c);
  else {
    // checkpoint: auto, or placement: auto with tiers under checkpoint: none (moves without recomputation)
    // the activations first; where host memory is budgeted, leaves waiting there too (placeInputs)
    const movable = tiers?.tiers.some((t) => t.tier === 'host') ? movableInputs(m) : [];
    let best: (Measure & { solver: NonNullable<CheckpointReport['solver']> }) | undefined;
    let smallest = Infinity;
    // the attention cores recomputed, everything else kept: the cheapest schedule wherever it fits
    const cores = c === 'auto' ? selective() : undefined;
    if (cores && within(cores)) {
      smallest = cores.bytes;
      if (cores.bytes <= budget!) best = { ...cores, solver: 'selective' };
    }
    // the first k of them for k = 0, 1, 2, 4, … and all: a few tries however many leaves a model has
    const counts = [0, ...Array.from({ length: Math.ceil(Math.log2(movable.length + 1)) }, (_, i) => 2 ** i)];
    const tried: Module[] = [];
    for (const k of new Set([...counts.filter((k) => k < movable.length), movable.length])) {
      const mod = k ? placeInputs(m, new Set(movable.slice(0, k))) : m;
      if (leafBytes(mod, 'host') > (config.memory.host ?? Infinity)) break; // these leaves alone overflow host memory
      tried.push(mod);
      const r = placeAuto(mod, false);
      smallest = Math.min(smallest, r.smallest);
      const better = r.best && (!best || r.best.cost < best.cost);
      // once a plan fits, more leaves in host memory are tried only while they make it cheaper
      if (best && !better) break;
      if (better) best = r.best;
      if (best && (feasibility || best.cost === 0)) break;
    }
    // and the fixed placements among the budgeted tiers: every activation (with host memory, every leaf too) there
    for (const t of tiers?.tiers ?? []) {
      const r = fixedPlacement(t.tier);
      if (!within(r)) continue;
      smallest = Math.min(smallest, r.bytes);
      if (r.bytes <= budget! && (!best || r.cost < best.cost)) best = { ...r, solver: 'greedy' };
    }
    // none fits: the same tries again, searching for the least budget each meets
    if (!best && searchLeast) for (const mod of tried) smallest = Math.min(smallest, placeAuto(mod, true).smallest);
    if (!best) throw new BudgetInfeasibleError(budget!, without, smallest, policy, undefined, hostWouldFit());
    chosen = best;
  }
  if (budget !== undefined && chosen.bytes > budget) {
    const auto = without <= budget ? { fits: { bytes: without, cost: 0 }, smallest: without } : autoFit(budget);
    throw new BudgetInfeasibleError(
      budget,
      chosen.bytes,
      Math.min(auto.smallest, without),
      policy,
      auto.fits?.bytes,
      auto.fits ? undefined : hostWouldFit(),
    );
  }
  for (const t of OFF_GPU_TIERS) {
    const limit = config.memory[t];
    if (limit !== undefined && (chosen[t] ?? 0) > limit) throw new TierBudgetError(t, limit, chosen[t]!);
  }
  return report(chosen.module, chosen.bytes, chosen.solver, chosen);
}

/** A fixed placement needs more of a tier than the plan's budget for it. */
export class TierBudgetError extends Error {
  constructor(
    readonly tier: OffGpuTier,
    readonly budget: number,
    readonly needed: number,
  ) {
    super(`placement needs ${needed} bytes of ${tier}, more than its ${budget}-byte budget`);
  }
}
