import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { graphResolver } from '../../compiler/cli/run.ts';
import { nativeSession, webgpuSession } from '../../compiler/cli/trainers.ts';
import { compile } from '../../compiler/compile.ts';
import { summarize } from '../../compiler/cost/plan-summary.ts';
import { CpuSession } from '../../compiler/interp/session.ts';
import { leafName, type Module } from '../../compiler/ir/graph.ts';
import type { NDArray } from '../../compiler/ir/op.ts';
import type { PlanConfig } from '../../compiler/sema/plan.ts';
import { TARGETS } from '../../compiler/targets/registry.ts';
import type { GraphSpec } from '../../runtime/data/graph-spec.ts';
import { sharedGpu } from '../helpers/gpu.ts';
import { relErr } from '../helpers/oracle.ts';

/**
 * The fused attention (one `attention` op and its kernels, no T×S scores) against its composite (`attention:
 * composite`: scores, mask, softmax, product, as every model here ran before): the same model and plan both ways.
 */
const FILE = resolve('test/attention/fixtures/attention.flex');
const SOURCE = readFileSync(FILE, 'utf8');

function compilePlan(plan: string, attention: 'fused' | 'composite', bind?: string) {
  let src = SOURCE.replace(`plan ${plan} {\n`, `plan ${plan} {\n  attention: ${attention}\n`);
  if (bind) src = src.replace(/(plan long \{[^}]*?)bind: \{[^}]*\}/, `$1bind: ${bind}`);
  const r = compile(FILE, plan, { read: (p) => (p === FILE ? src : readFileSync(p, 'utf8')) });
  expect(r.diagnostics).toEqual([]);
  return r;
}

const count = (m: Module, op: string) => m.values.filter((v) => v.op === op).length;

/** Seeded values in [-1, 1) for every KV cache leaf, so decode steps read keys and values that are not zeros. */
function fillCaches(m: Module, params: Map<string, NDArray>): void {
  let s = 12345;
  for (const v of m.values)
    if (v.op === 'state' && leafName(v).endsWith('kv_cache'))
      params.set(leafName(v), {
        data: Float32Array.from(params.get(leafName(v))!.data, () => {
          s = (s * 1103515245 + 12345) % 2 ** 31;
          return (2 * s) / 2 ** 31 - 1;
        }),
        shape: params.get(leafName(v))!.shape,
      });
}

/** WebGPU with each device class's kernels, and native C. */
async function targetSessions(m: Module, config: PlanConfig, graphs: (g: string) => GraphSpec) {
  const gpu = await sharedGpu();
  return [
    await webgpuSession(gpu, m, config, graphs, { deviceClass: 'cpu' }),
    await webgpuSession(gpu, m, config, graphs, { deviceClass: 'gpu' }),
    nativeSession(TARGETS.c, m, config, graphs),
  ];
}

function expectClose(got: Map<string, ArrayLike<number>>, want: Map<string, Pick<NDArray, 'data'>>, what: string) {
  expect([...got.keys()].sort(), what).toEqual([...want.keys()].sort());
  for (const [name, x] of want) expect(relErr(got.get(name)!, x.data), `${what}: ${name}`).toBeLessThan(1e-5);
}

describe.each(['mha', 'gqa', 'alibi'])('%s attention: fused = composite', (model) => {
  const fused = compilePlan(`${model}_train`, 'fused');
  const composite = compilePlan(`${model}_train`, 'composite');

  it('fused: one attention op forward and one attention_grad backward per layer; the composite has none', () => {
    expect(count(fused.module!, 'attention')).toBe(2);
    expect(count(fused.module!, 'attention_grad')).toBe(2);
    expect(count(fused.module!, 'softmax')).toBe(0);
    expect(count(composite.module!, 'attention')).toBe(0);
    expect(count(composite.module!, 'softmax')).toBe(2);
    // the ALiBi model drops its probabilities: in the fused kernels (the step an operand), in the composite by ops
    const dropped = model === 'alibi' ? 2 : 0;
    expect(fused.module!.values.filter((v) => v.op === 'attention' && v.inputs.length === 4)).toHaveLength(dropped);
    expect(count(composite.module!, 'dropout')).toBe(2 * dropped); // forward, and its gradient's
    expect(count(fused.module!, 'dropout')).toBe(0);
  });

  it('training on the CPU reference: loss, logits, every gradient and the parameters within 1e-5 over 3 steps', () => {
    const graphs = graphResolver(fused.program);
    const a = new CpuSession(fused.module!, { seed: 3, graphs });
    const b = new CpuSession(composite.module!, { seed: 3, graphs });
    for (let step = 1; step <= 3; step++) {
      const want = b.run();
      expectClose(new Map([...a.run()].map(([k, x]) => [k, x.data])), want, `step ${step}`);
    }
    for (const [name, x] of b.params) expect(relErr(a.params.get(name)!.data, x.data), name).toBeLessThan(1e-5);
  });

  // each target's fused kernels against the same target's composite (WGSL's sin and cos in RoPE are a few ulps off
  // the CPU's on SwiftShader, so a target is compared with itself)
  it('training on WebGPU (both device classes) and native C: fused within 1e-5 of the composite there', async () => {
    const config = fused.lowered!.config;
    const graphs = graphResolver(fused.program);
    const [a, b] = [
      await targetSessions(fused.module!, config, graphs),
      await targetSessions(composite.module!, config, graphs),
    ];
    for (const [i, s] of a.entries()) {
      for (let step = 1; step <= 2; step++) {
        const want = new Map([...(await b[i]!.run())].map(([k, x]) => [k, { data: x, shape: [] }]));
        expectClose(await s.run(), want, `${s.constructor.name} (${i}) step ${step}`);
      }
      s.destroy();
      b[i]!.destroy();
    }
  }, 120_000);

  it('serving: the prompt’s pass and decode steps reading a KV cache, within 1e-5 on every target', async () => {
    const f = compilePlan(`${model}_serve`, 'fused');
    const c = compilePlan(`${model}_serve`, 'composite');
    const graphs = graphResolver(f.program);
    const config = f.lowered!.config;
    const pairs: [Module, Module][] = [
      [f.module!, c.module!],
      ...f.decode!.map((d, i) => [d.module, c.decode![i]!.module] as [Module, Module]),
    ];
    expect(pairs).toHaveLength(3); // the prompt, the first decode step and the last
    for (const [fm, cm] of pairs) {
      expect(count(fm, 'attention')).toBe(2);
      const ref = new CpuSession(cm, { seed: config.seed, graphs });
      fillCaches(cm, ref.params);
      const cpu = new CpuSession(fm, { seed: config.seed, graphs });
      fillCaches(fm, cpu.params);
      const onCpu = ref.run();
      expectClose(new Map([...cpu.run()].map(([k, x]) => [k, x.data])), onCpu, `${fm.name} on the CPU`);
      const params = new Map([...cpu.params].map(([k, x]) => [k, x.data]));
      const [a, b] = [await targetSessions(fm, config, graphs), await targetSessions(cm, config, graphs)];
      for (const [i, s] of a.entries()) {
        s.loadParameters(params);
        b[i]!.loadParameters(params);
        const want = new Map([...(await b[i]!.run())].map(([k, x]) => [k, { data: x, shape: [] }]));
        const got = await s.run();
        expectClose(got, want, `${fm.name} on ${s.constructor.name} (${i})`);
        // the caches were loaded (without RoPE's sin and cos, a target's numbers are the CPU's too)
        if (model !== 'gqa') expectClose(got, onCpu, `${fm.name} on ${s.constructor.name} (${i}) against the CPU`);
        s.destroy();
        b[i]!.destroy();
      }
    }
  }, 120_000);
});

describe('memory as the context grows (one layer, d 64, 8 heads, training)', () => {
  const activations = (attention: 'fused' | 'composite', t: number) => {
    const r = compilePlan('long', attention, `{ B: 1, T: ${t} }`);
    return summarize(r.module!, r.lowered!).summary.memory.gpu.activations;
  };
  const [fused, composite] = (['fused', 'composite'] as const).map((a) =>
    [1024, 2048, 4096].map((t) => activations(a, t)),
  );

  it('fused: activation memory linear in T (equal steps from 1k to 2k to 4k); composite: quadratic', () => {
    const [f1, f2, f4] = fused as [number, number, number];
    // a linear a·T + b has (a(4k) − a(2k)) = 2 (a(2k) − a(1k))
    expect((f4 - f2) / (2 * (f2 - f1))).toBeCloseTo(1, 2);
    const [c1, c2, c4] = composite as [number, number, number];
    // a T² term: every doubling adds about 4x the last
    expect((c4 - c2) / (c2 - c1)).toBeGreaterThan(3.5);
    // at 4k the scores alone (8 heads × 4096² × 4 bytes = 512 MiB) outweigh all of the fused layer's activations
    expect(c4 - f4).toBeGreaterThan(8 * 4096 * 4096 * 4);
  });
});
