import { describe, expect, it } from 'vitest';
import { graphResolver } from '../../compiler/cli/run.ts';
import { nativeSession } from '../../compiler/cli/trainers.ts';
import { compile } from '../../compiler/compile.ts';
import { summarize } from '../../compiler/cost/plan-summary.ts';
import { CpuSession } from '../../compiler/interp/session.ts';
import { TARGETS } from '../../compiler/targets/registry.ts';
import { relErr } from '../helpers/oracle.ts';

const FILE = 'test/moe/fixtures/moe-gpt-tight.flex';

describe('fused MoE layers in a GPU budget smaller than the step (placement and checkpointing)', () => {
  const whole = compile(FILE, 'whole');
  const tight = compile(FILE, 'tight');

  it('fits the budget by moving values to host memory, and each layer stays one kernel each way', () => {
    expect(tight.diagnostics).toEqual([]);
    const { summary } = summarize(tight.module!, tight.lowered!);
    expect(summary.memory.gpu.peak_bytes).toBeLessThanOrEqual(310 * 1024);
    expect(summary.memory.gpu.peak_bytes).toBeLessThan(
      summarize(whole.module!, whole.lowered!).summary.memory.gpu.peak_bytes,
    );
    // the layers' packed results and their parameters go through host memory
    const copied = tight.module!.values.filter((v) => v.op === 'reload').map((v) => v.inputs[0]!);
    expect(copied.some((v) => v.op === 'param' && String(v.attrs['name']).includes('.moe.'))).toBe(true);
    expect(copied.some((v) => v.op === 'offload' && v.inputs[0]!.op === 'moe')).toBe(true);
    expect(copied.some((v) => v.op === 'input')).toBe(true);
    expect(summary.parameters.moe).toMatchObject({ layers: 2, kernels: { forward: 1, backward: 1 } });
  });

  it('trains as the whole step does: every output within 1e-5 over 2 steps, CPU reference and native C', async () => {
    const config = tight.lowered!.config;
    const graphs = graphResolver(tight.program);
    const ref = new CpuSession(whole.module!, { seed: config.seed, graphs });
    const want = [ref.run(), ref.run()];
    const cpu = new CpuSession(tight.module!, { seed: config.seed, graphs });
    const native = nativeSession(TARGETS.c, tight.module!, config, graphs);
    for (const w of want) {
      const got = [new Map([...cpu.run()].map(([k, x]) => [k, x.data])), await native.run()];
      for (const g of got) for (const [name, x] of w) expect(relErr(g.get(name)!, x.data), name).toBeLessThan(1e-5);
    }
    native.destroy();
  }, 120_000);
});
