import { describe, expect, it } from 'vitest';
import { planMemory } from '../../compiler/codegen/memory.ts';
import { compile } from '../../compiler/compile.ts';
import { copyModule, pipelinePlan } from '../../compiler/plan-pipeline.ts';
import { graphResolver } from '../../compiler/sema/graph-decl.ts';
import type { PlanConfig } from '../../compiler/sema/plan.ts';

/** `blocks: auto`: the planner picks how many node blocks a graph step is cut into. */
const r = compile('examples/gcn-cora-blocks.flex', 'sixteenth');
const low = r.lowered!;
const graphs = graphResolver(r.program);
const KiB = 1024;

function plan(over: Partial<PlanConfig>) {
  const config = { ...low.config, ...over } as PlanConfig;
  const out = pipelinePlan(r.plan!.decl, copyModule(low.forward), config, { graphs });
  return { ...out, arena: out.module && planMemory(out.module).arenaBytes };
}

describe('blocks: auto', () => {
  it('without a budget keeps the step whole', () => {
    const p = plan({ blocks: 'auto', memory: {} });
    expect(p.blocks).toBe(1);
    expect(p.module!.values.some((v) => v.op === 'spmm_acc')).toBe(false);
  });

  it('chooses the fewest blocks (1, 2, 4, …) that meet the budgets: one fewer power of 2 does not', () => {
    for (const gpu of [2048 * KiB, 1024 * KiB, 536 * KiB]) {
      const memory = { gpu, host: 2 ** 30 };
      const p = plan({ blocks: 'auto', memory });
      expect(p.diagnostics).toEqual([]);
      expect(p.arena).toBeLessThanOrEqual(gpu);
      // the same plan as asking for that many blocks
      const fixed = plan({ blocks: p.blocks!, memory });
      expect(fixed.arena).toBe(p.arena);
      if (p.blocks! > 1) expect(plan({ blocks: p.blocks! / 2, memory }).diagnostics[0]?.code).toBe('FLX4010');
    }
    // GCN-Cora's quarter budget needs its nodes in blocks
    expect(plan({ blocks: 'auto', memory: { gpu: 536 * KiB, host: 2 ** 30 } }).blocks).toBeGreaterThan(1);
  });

  it('a budget no number of blocks meets is FLX4010 naming the least budget of any number tried, and it works', () => {
    const p = plan({ blocks: 'auto', memory: { gpu: 64 * KiB, host: 2 ** 30 } });
    expect(p.module).toBeUndefined();
    const d = p.diagnostics[0]!;
    expect(d.code).toBe('FLX4010');
    const m =
      /smallest budget that works is (\d+) bytes .* with (\d+) node blocks? \(`blocks: auto` tried 1 to 64\)/.exec(
        d.message,
      );
    expect(m, d.message).not.toBeNull();
    // the least of every number of blocks tried: that many blocks meet it
    const [least, blocks] = [Number(m![1]), Number(m![2])];
    const at = plan({ blocks, memory: { gpu: least, host: 2 ** 30 } });
    expect(at.diagnostics).toEqual([]);
    expect(at.arena).toBeLessThanOrEqual(least);
  });
});
