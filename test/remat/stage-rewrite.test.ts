import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runModule } from '../../compiler/interp/interpret.ts';
import { CpuSession } from '../../compiler/interp/session.ts';
import { deadCodeEliminate, type Module, type Value } from '../../compiler/ir/graph.ts';
import { parseModule } from '../../compiler/ir/parser.ts';
import { peakWithout, replay } from '../../compiler/remat/replay.ts';
import { recomputeCost } from '../../compiler/remat/cost.ts';
import { chainOf } from '../../compiler/remat/auto.ts';
import { planMemory } from '../../compiler/codegen/memory.ts';
import { applyStageSchedule, REMAT_SUFFIX } from '../../compiler/remat/emit.ts';
import { applySchedule } from '../../compiler/remat/chain-stages.ts';
import { everyK } from '../../compiler/remat/policies.ts';
import { actions, recomputedStages, type Schedule } from '../../compiler/remat/schedule.ts';
import { chainSolver } from '../../compiler/remat/solve-chain.ts';
import { findStages } from '../../compiler/remat/stages.ts';
import { solveDag } from '../reference/solve-dag.ts';
import { solveGreedy } from '../../compiler/remat/solve-greedy.ts';
import { solveResidentSets } from '../../compiler/remat/solve-resident.ts';
import { stageScheduleOf, trainingGraph, type StageSchedule } from '../../compiler/remat/training-graph.ts';
import { once } from '../helpers/once.ts';
import { replayNaively } from '../helpers/stage-replay.ts';

/**
 * A training step as Checkmate sees it (trainingGraph), and stage schedules written back into IR (applyStageSchedule)
 * and read out again (stageScheduleOf): what runs is what the solver planned, and computes what the step did.
 */

// %2 is computed from the parameter alone; %5 reads %2 again (a skip); %6 is a constant; %7 and %8 read %3 and %2
const SMALL = parseModule(`module @small {
  %0 = input "x" : f32[4,3]
  %1 = param "w" {init = "normal", mean = 0, std = 0.1} : f32[3,3]
  %2 = matmul %0, %1 : f32[4,3]
  %3 = relu %2 : f32[4,3]
  %4 = add %3, %2 : f32[4,3]
  %5 = mean %4 {axes = [0, 1], keepdims = false} : f32[]
  %6 = const {dtype = "f32", value = 1} : f32[4,3] "loss.grad"
  %7 = relu_grad %3, %6 : f32[4,3]
  %8 = relu_grad %2, %7 : f32[4,3] "g"
  output "loss" = %5
  output "g" = %8
}
`);

describe('trainingGraph', () => {
  it('its ops in order with their cost, bytes, operands, whether pinned and whether forward; leaves apart', () => {
    const v = (n: number) => SMALL.values[n]!;
    const { graph, index } = trainingGraph(SMALL, v(5));
    expect([...index]).toEqual([2, 3, 4, 5, 6, 7, 8].map((n, i) => [v(n), i]));
    const node = (n: number, deps: number[], output: boolean, forward: boolean, name: string) => ({
      name,
      cost: recomputeCost(v(n)),
      bytes: n === 5 ? 4 : 48,
      deps,
      output,
      forward,
    });
    expect(graph).toEqual({
      nodes: [
        node(2, [], false, true, 'matmul'),
        node(3, [0], false, true, 'relu'),
        node(4, [1, 0], false, true, 'add'),
        node(5, [2], true, true, 'mean'),
        node(6, [], false, false, 'loss.grad'),
        node(7, [1, 4], false, false, 'relu_grad'),
        node(8, [0, 5], true, false, 'g'),
      ],
      leafBytes: 48 + 36,
    });
  });

  it('an operand read twice is one dependency', () => {
    const m = parseModule(`module @twice {
  %0 = input "x" : f32[4]
  %1 = mul %0, %0 : f32[4]
  %2 = mul %1, %1 : f32[4]
  %3 = mean %2 {axes = [0], keepdims = false} : f32[]
  output "loss" = %3
}
`);
    expect(trainingGraph(m, m.values[3]!).graph.nodes.map((n) => n.deps)).toEqual([[], [0], [1]]);
  });
});

const STEP = deadCodeEliminate(parseModule(readFileSync('test/passes/checkpoint/random-dag-auto.in.ir', 'utf8')));
const LOSS = STEP.outputs.find((o) => o.name === 'loss')!.value;

/** What `m` computes on the parameters and synthetic batch a CPU session of the step draws (seed 7). */
const session = once(
  () =>
    new CpuSession(STEP, {
      seed: 7,
      graphs: (name) => {
        throw new Error(`the step reads no graph (${name})`);
      },
    }),
);
const outputsOf = (m: Module) => session().evaluate(m);
const wanted = once(() => outputsOf(STEP));

describe('stage schedules written into the step and read back', () => {
  const { graph, index } = trainingGraph(STEP, LOSS);
  const stageSchedules = once(() => {
    const least = solveResidentSets(graph, 'minimize');
    if (typeof least !== 'object') throw new Error(`no schedule: ${least}`);
    const full = peakWithout(graph);
    const out: [string, StageSchedule][] = [['least', least.stages]];
    for (const f of [0.25, 0.5, 0.75]) {
      const budget = Math.round(least.peak + (full - least.peak) * f);
      const r = solveResidentSets(graph, budget);
      const gr = solveGreedy(graph, budget);
      if (typeof r === 'object') out.push([`resident at ${budget}`, r.stages]);
      if (typeof gr === 'object') out.push([`greedy at ${budget}`, gr.stages]);
    }
    return out;
  });

  it('each schedule runs as planned: read back, it replays to the same recompute and peak, naively too', () => {
    const schedules = stageSchedules();
    expect(schedules.length).toBeGreaterThan(5);
    for (const [what, stages] of schedules) {
      const r = applyStageSchedule(STEP, graph, index, stages);
      const back = stageScheduleOf(deadCodeEliminate(r.module), index, r.origin, r.recomputed);
      expect(replay(graph, back), what).toEqual(replay(graph, stages));
      expect(replayNaively(graph, back), what).toEqual(replayNaively(graph, stages));
      const clones = r.module.values.filter((v) => r.recomputed.has(v));
      expect(clones.length, what).toBe(stages.reduce((a, s) => a + s.length - 1, 0));
      expect(clones.every((v) => v.name?.endsWith(REMAT_SUFFIX))).toBe(true);
    }
    expect(schedules.some(([, s]) => s.some((x) => x.length > 1))).toBe(true);
  });

  it('each schedule computes bitwise what the step did, and the originals die before their recomputation', () => {
    const want = wanted();
    for (const [what, stages] of stageSchedules()) {
      const r = applyStageSchedule(STEP, graph, index, stages);
      const got = outputsOf(r.module);
      for (const [name, t] of want) expect(got.get(name)!.data, `${what}: ${name}`).toEqual(t.data);
      // a backward op reads the newest version of each activation
      const version = new Map<Value, number>();
      r.module.values.forEach((v, i) => version.set(r.origin.get(v) ?? v, i));
      for (const [i, v] of r.module.values.entries())
        if (
          !r.recomputed.has(v) &&
          index.has(r.origin.get(v) ?? v) &&
          !graph.nodes[index.get(r.origin.get(v) ?? v)!]!.forward
        )
          for (const x of v.inputs) {
            const o = r.origin.get(x) ?? x;
            const newest = r.module.values
              .slice(0, i)
              .filter((y) => (r.origin.get(y) ?? y) === o)
              .at(-1);
            if (newest) expect(x, what).toBe(newest);
          }
    }
  });

  it('a value read back with no original is refused', () => {
    const stray = { ...STEP, values: [...STEP.values.slice(0, -1), { ...STEP.values.at(-1)!, id: 9999 }] };
    expect(() => stageScheduleOf(stray, index, new Map(), new Set())).toThrow('has no original');
  });
});

describe('solveDag: the fast solver measured in Checkmate’s model', () => {
  it('at budgets from its least to none: within the budget, its stages replaying to what it reports', () => {
    const { graph, smallest } = solveDag(STEP, LOSS, 0);
    const full = peakWithout(graph);
    expect(smallest).toBeLessThan(full);
    for (const f of [0, 0.5, 1]) {
      const budget = Math.round(smallest + (full - smallest) * f);
      const { fits } = solveDag(STEP, LOSS, budget);
      expect(fits, `budget ${budget}`).toBeDefined();
      const r = replay(graph, fits!.stages);
      expect({ cost: fits!.cost, total: fits!.total, bytes: fits!.bytes }).toEqual({
        cost: r.recompute,
        total: r.cost,
        bytes: r.peak,
      });
      expect(fits!.bytes).toBeLessThanOrEqual(budget);
      if (f === 1) expect(fits!.cost).toBe(0);
    }
    expect(solveDag(STEP, LOSS, smallest - 1).fits).toBeUndefined();
  });
});

describe('chain schedules written into the step (applySchedule)', () => {
  const gpt = once(() =>
    deadCodeEliminate(parseModule(readFileSync('test/passes/checkpoint/gpt-tiny-all.in.ir', 'utf8'))),
  );
  const chainSchedules = (m: Module) => {
    const st = findStages(m, m.outputs.find((o) => o.name === 'loss')!.value);
    const n = st.members.length;
    const c = chainOf(st, 256);
    const top = [...c.saved, ...c.boundary].reduce((a, x) => a + x, 0) + Math.max(...c.overhead!);
    const solve = chainSolver(c, top);
    const out: [string, Schedule][] = Array.from({ length: n }, (_, k) => [`every(${k + 1})`, everyK(n, k + 1)]);
    for (let level = top; level >= 0; level -= 7) {
      const s = solve(level);
      if (s) out.push([`the solver's at ${level}`, s.schedule]);
    }
    return { st, n, schedules: out };
  };

  it('a value is recomputed at most as often as the schedule runs its stage again; often exactly', () => {
    let exact = 0;
    let total = 0;
    for (const m of [STEP, gpt()]) {
      const { st, n, schedules } = chainSchedules(m);
      for (const [what, s] of schedules) {
        const r = applySchedule(m, st, s);
        const live = deadCodeEliminate(r.module);
        const again = recomputedStages(s, n);
        const clones = new Map<Value, number>();
        for (const v of live.values)
          if (r.recomputed.has(v)) clones.set(r.origin.get(v)!, (clones.get(r.origin.get(v)!) ?? 0) + 1);
        for (const [v, count] of clones) {
          expect((v.name ?? '').endsWith(REMAT_SUFFIX), what).toBe(false);
          expect(count, `${what}: ${v.name ?? v.op}`).toBeLessThanOrEqual(again[st.stageOf.get(v)!]!);
        }
        const cost = live.values.reduce((a, v) => a + (r.recomputed.has(v) ? recomputeCost(v) : 0), 0);
        const planned = again.reduce((a, k, stage) => a + k * st.cost[stage]!, 0);
        expect(cost, what).toBeLessThanOrEqual(planned);
        if (cost === planned) exact++;
        total++;
      }
      // every(n) keeps everything: nothing is recomputed and the backward pass reads the originals
      const none = applySchedule(m, st, everyK(n, n));
      expect(none.recomputed.size).toBe(0);
      expect(planMemory(deadCodeEliminate(none.module)).arenaBytes).toBe(planMemory(m).arenaBytes);
      // and on the random DAG (whose activations, not its parameters, set the peak) some schedule saves memory
      const arenas = schedules.map(([, s]) => planMemory(deadCodeEliminate(applySchedule(m, st, s).module)).arenaBytes);
      if (m === STEP) expect(Math.min(...arenas)).toBeLessThan(planMemory(m).arenaBytes);
    }
    // the rest differ by clones no backward op reads (dead code)
    expect(exact).toBeGreaterThan(total / 3);
  });

  it('the backward pass reads an original only where the first sweep keeps it; recomputations read the same', () => {
    let dropped = 0;
    for (const m of [STEP, gpt()]) {
      const { st, n, schedules } = chainSchedules(m);
      const loss = m.outputs.find((o) => o.name === 'loss')!.value;
      for (const [what, s] of schedules) {
        if (JSON.stringify(s).includes('"drop":true')) dropped++;
        // what the original forward pass keeps: the boundaries it stores, the stages it keeps (to the first backward)
        const acts = actions(s, 0, n);
        const first = acts.findIndex((a) => a.op === 'backward');
        const kept = new Set<Value>();
        for (const a of acts.slice(0, first)) {
          if (a.op === 'store') st.boundary[a.boundary]!.forEach((v) => kept.add(v));
          if (a.op === 'forward') st.members[a.stage]!.forEach((v) => kept.add(v));
        }
        const r = applySchedule(m, st, s);
        const live = deadCodeEliminate(r.module);
        const outputs = new Set(m.outputs.map((o) => o.value));
        const after = live.values.indexOf(loss);
        const recomputedOrAfter = live.values.filter((v, i) => r.recomputed.has(v) || i > after);
        for (const v of recomputedOrAfter)
          for (const x of v.inputs)
            if (st.stageOf.has(x) && !outputs.has(x))
              expect(kept.has(x), `${what}: ${v.name ?? v.op} reads the original ${x.name ?? x.op}`).toBe(true);
      }
    }
    expect(dropped).toBeGreaterThan(0);
  });

  it('a backward op that reads an early activation after every stage was reversed still reads its value', () => {
    // a chain of 6 tanh whose last backward op reads the first activation again, after stage 0's backward
    const lines = ['module @late {', '  %0 = input "x" : f32[2,2]'];
    for (let i = 1; i <= 6; i++) lines.push(`  %${i} = tanh %${i - 1} : f32[2,2]`);
    lines.push(
      '  %7 = mean %6 {axes = [0, 1], keepdims = false} : f32[]',
      '  %8 = full {value = 1, shape = [2, 2]} : f32[2,2]',
    );
    for (let i = 6; i >= 1; i--) lines.push(`  %${15 - i} = tanh_grad %${i}, %${i === 6 ? 8 : 14 - i} : f32[2,2]`);
    lines.push('  %15 = mul %14, %2 : f32[2,2]', '  output "loss" = %7', '  output "g" = %15', '}');
    const m = parseModule(lines.join('\n'));
    const st = findStages(m, m.values[7]!);
    const feeds = new Map([['x', { data: Float32Array.of(0.1, -0.4, 0.7, 0.2), shape: [2, 2] }]]);
    const want = runModule(m, feeds, new Map()).outputs.get('g')!.data;
    for (let k = 1; k <= st.members.length; k++) {
      const live = deadCodeEliminate(applySchedule(m, st, everyK(st.members.length, k)).module);
      expect(runModule(live, feeds, new Map()).outputs.get('g')!.data, `every(${k})`).toEqual(want);
    }
  });

  it('every schedule computes bitwise what the step did', () => {
    const want = wanted();
    const { st, schedules } = chainSchedules(STEP);
    for (const [what, s] of schedules) {
      const got = outputsOf(applySchedule(STEP, st, s).module);
      for (const [name, t] of want) expect(got.get(name)!.data, `${what}: ${name}`).toEqual(t.data);
    }
  });
});
