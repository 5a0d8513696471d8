import type { NDArray } from '../ir/op.ts';
import type { Module } from '../ir/graph.ts';
import { CpuSession } from '../interp/session.ts';
import { buildPlan } from '../codegen/plan.ts';
import type { PlanConfig } from '../sema/plan.ts';
import type { GraphSpec } from '../../runtime/data/graph-spec.ts';
import { parsePlan } from '../../runtime/plan.ts';
import { openGpu, type Gpu } from '../../runtime/webgpu/device.ts';
import { WebGpuSession } from '../../runtime/webgpu/session.ts';

/** One backend's way to run training steps and an evaluation graph on the trained parameters. */
export interface Trainer {
  readonly backend: string;
  /** Runs one step; returns the loss (NaN for plans without one). */
  step(loss: string | undefined): Promise<number>;
  /** Runs `m` once on the current parameters and returns its output `name`. */
  evaluate(m: Module, name: string): Promise<NDArray>;
  close(): void;
}

export function cpuTrainer(m: Module, config: PlanConfig, graphs: (g: string) => GraphSpec): Trainer {
  const s = new CpuSession(m, { seed: config.seed, graphs });
  return {
    backend: 'cpu',
    step: async (loss) => {
      const out = s.run();
      return loss ? out.get(loss)!.data[0]! : NaN;
    },
    evaluate: async (ev, name) => s.evaluate(ev).get(name)!,
    close: () => {},
  };
}

/** The graphs a module reads, as the plan carries them. */
function graphsOf(m: Module, graphs: (g: string) => GraphSpec): Record<string, GraphSpec> {
  const out: Record<string, GraphSpec> = {};
  for (const v of m.values) {
    const f = v.attrs['feed'];
    if (typeof f === 'string' && f.startsWith('graph:')) {
      const g = f.slice(6).split('/')[0]!;
      out[g] = graphs(g);
    }
  }
  return out;
}

export async function webgpuSession(gpu: Gpu, m: Module, config: PlanConfig, graphs: (g: string) => GraphSpec): Promise<WebGpuSession> {
  const built = buildPlan(m, config, graphsOf(m, graphs));
  const plan = parsePlan(JSON.parse(JSON.stringify(built.plan)));
  return WebGpuSession.create(gpu, plan, (k) => built.sources.get(k)!, { budgetBytes: config.memory.gpu, graphs });
}

export async function webgpuTrainer(m: Module, config: PlanConfig, graphs: (g: string) => GraphSpec): Promise<Trainer & { session: WebGpuSession }> {
  const gpu = await openGpu();
  const session = await webgpuSession(gpu, m, config, graphs);
  return {
    backend: `webgpu (${gpu.adapter})`,
    session,
    step: async (loss) => {
      const out = await session.run(loss ? [loss] : []);
      return loss ? out.get(loss)![0]! : NaN;
    },
    evaluate: async (ev, name) => {
      const e = await webgpuSession(gpu, ev, { ...config, memory: {} }, graphs);
      e.loadParameters(await session.parameters());
      const out = await e.run([name]);
      e.destroy();
      const t = out.get(name)!;
      return { data: t, shape: ev.outputs.find((o) => o.name === name)!.value.type.shape as number[] };
    },
    close: () => {
      session.destroy();
      gpu.device.destroy();
    },
  };
}
