import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { buildPlan } from '../../compiler/codegen/plan.ts';
import { compile } from '../../compiler/compile.ts';
import type { PlanSummary } from '../../compiler/cli/plan.ts';
import { PIPELINE } from '../../compiler/passes/pipeline.ts';

const DIR = '.tmp/plan-test';
const flexc = (...args: string[]) => spawnSync(process.execPath, ['bin/flexc.mjs', ...args], { encoding: 'utf8' });
afterAll(() => rmSync(DIR, { recursive: true, force: true }));

// gpt.flex's model with two plans: the Shakespeare-sized GPT under checkpoint: sqrt and under auto with a budget
function variant(): string {
  mkdirSync(DIR, { recursive: true });
  const src = readFileSync('examples/gpt.flex', 'utf8').replace(/^(\/\/[^\n]*\n)*plan [\s\S]*$/m, '');
  const plans = ['sqrt', 'auto'].map(
    (c) =>
      `plan tiny_${c} {\n  model: Gpt(vocab: 65, ctx: 64, d: 64, ` +
      `heads: 4, depth: 2)\n  bind: { B: 8, T: 64 }\n  task: ` +
      `train { optimizer: adam(lr: 1e-3) }\n  checkpoint: ${c}\n${c === 'auto' ? '  memory: { gpu: 6 MiB }\n' : ''}}\n`,
  );
  const file = `${DIR}/gpt-ck.flex`;
  writeFileSync(file, `${src}\n${plans.join('\n')}`);
  return file;
}

describe('flexc plan', () => {
  it('reports every plan of a file: the GPU arena the build allocates, ' +
    'without and with checkpointing, and the recompute FLOPs', () => {
    const file = variant();
    const r = flexc('plan', file, '--json');
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { plans: PlanSummary[] };
    expect(out.plans.map((p) => p.plan)).toEqual(['tiny_sqrt', 'tiny_auto']);
    for (const p of out.plans) {
      const c = compile(file, p.plan);
      const built = buildPlan(c.module!, c.lowered!.config, {}).plan;
      expect(p.memory.gpu.arena_bytes).toBe(built.arenas.gpu);
      expect(p.memory.gpu.arena_bytes).toBeLessThan(p.memory.gpu.arena_bytes_without_checkpointing!);
      expect(p.memory.gpu.peak_bytes).toBeLessThanOrEqual(p.memory.gpu.arena_bytes); // updates in place, no alignment
      expect(p.flops.recompute).toBeGreaterThan(0);
      expect(p.flops.recompute_percent).toBeCloseTo((100 * p.flops.recompute) / p.flops.step, 1);
    }
    const auto = out.plans.find((p) => p.plan === 'tiny_auto')!;
    expect(auto.budget_bytes).toBe(6 * 2 ** 20);
    expect(auto.memory.gpu.arena_bytes).toBeLessThanOrEqual(6 * 2 ** 20);
    const human = flexc('plan', file, '--plan', 'tiny_sqrt');
    expect(human.status).toBe(0);
    const lines = [
      /^plan tiny_sqrt \(train, fp32, checkpoint sqrt\)$/,
      /^ {2}parameters {2}108,352$/,
      /^ {2}GPU memory {2}peak .* per GPU \(no budget\): parameters .*$/,
      /^ {2,}arena .* with checkpointing, .* without$/,
      /^ {2,}model states 16 B per parameter: weights 4, gradients 4, optimizer 8$/,
      /^ {2}compute .* recompute [\d.]+ \w*FLOP \(\d+\.\d%\)$/,
    ];
    const humanLines = human.stdout.split('\n');
    lines.forEach((re, i) => expect(humanLines[i]).toMatch(re));
  }, 120_000);

  it('without checkpointing the peak is the arena of the step, and the example plans all report', () => {
    const r = flexc('plan', 'examples/gpt.flex', '--json');
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { plans: PlanSummary[] };
    expect(out.plans.map((p) => p.plan)).toEqual(['tiny', 'tiny_serve', 'gpt2_small', 'shakespeare']);
    const tiny = out.plans[0]!;
    expect(tiny.memory.gpu.arena_bytes).toBe(tiny.memory.gpu.arena_bytes_without_checkpointing);
    expect(tiny.flops.recompute).toBe(0);
  }, 120_000);

  it('an unmeetable budget is FLX4010 with the smallest budget, exit 1; an unknown plan is FLX5008', () => {
    const r = flexc('plan', 'test/malformed/plan-budget-infeasible.flex');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/error\[FLX4010\][\s\S]*the smallest budget that works is \d+ bytes/);
    expect(r.stderr).not.toMatch(/at .*\.ts:\d+/);
    const bad = flexc('plan', 'examples/gpt.flex', '--plan', 'nope');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/FLX5008/);
    expect(flexc('plan', 'no-such.flex').status).toBe(2);
  }, 60_000);

  it('takes several files like check; --svg writes the one file named, a panel per plan, and says so', () => {
    const svg = `${DIR}/mem.svg`;
    const r = flexc('plan', 'examples/mlp.flex', 'examples/resmlp.flex', '--json', '--svg', svg);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { files: string[]; plans: (PlanSummary & { file: string })[] };
    expect(out.files).toEqual(['examples/mlp.flex', 'examples/resmlp.flex']);
    expect(new Set(out.plans.map((p) => p.file))).toEqual(new Set(out.files));
    const text = readFileSync(svg, 'utf8');
    expect(text.match(/<svg x="0" y="\d+"/g)).toHaveLength(out.plans.length);
    expect(r.stderr).toContain(
      `wrote ${svg}: GPU memory over the step of ${out.plans.length} ` +
        `plans: examples/mlp.flex:train, examples/mlp.flex:small`,
    );
    expect(readdirSync(DIR).filter((f) => f.startsWith('mem'))).toEqual(['mem.svg']);
    const human = flexc('plan', 'examples/mlp.flex', 'examples/resmlp.flex');
    expect(human.stdout).toContain('examples/resmlp.flex: plan ');
    const nowhere = flexc('plan', 'examples/mlp.flex', '--svg', '/no/such/dir/x.svg');
    expect(nowhere.status).toBe(2);
    expect(nowhere.stderr).toBe('flexc: cannot write /no/such/dir/x.svg: the folder /no/such/dir does not exist\n');
  }, 120_000);

  it(
    'ir: --help lists every pass of the pipeline; a misspelt ' +
      'pass gets a did-you-mean; FLX5008 points at the plan meant',
    () => {
      const help = flexc('ir', '--help').stdout.replace(/\s+/g, ' ');
      for (const p of PIPELINE) expect(help).toContain(p.name);
      const typo = flexc('ir', 'examples/mlp.flex', '--plan', 'small', '--print-after', 'autodif');
      expect(typo.status).toBe(2);
      expect(typo.stderr).toContain('did you mean `autodiff`?');
      const plan = flexc('ir', 'examples/mlp.flex', '--plan', 'smal');
      expect(plan.status).toBe(1);
      expect(plan.stderr).toContain('--> examples/mlp.flex:22:6');
      expect(plan.stderr).toContain('22 | plan small {');
    },
  );
});

describe('flexc plan --compare', () => {
  it('one row per plan: throughput (serving: latencies, all replicas’ tokens), memory, bottleneck, blast', () => {
    mkdirSync(DIR, { recursive: true });
    const src = readFileSync('examples/gpt.flex', 'utf8').replace(/^(\/\/[^\n]*\n)*hardware [\s\S]*$/m, '');
    const file = `${DIR}/compare.flex`;
    writeFileSync(
      file,
      `${src.replace('import { rtx4090, pcie4 } from "std/hardware"', 'import { h100_sxm } from "std/hardware"')}
hardware Eight {
  gpu x 8: h100_sxm
  node { gpus: 8, topology: nvswitch, bandwidth: 450 GB/s, latency: 1 us }
}
plan serve {
  model: Gpt(vocab: 512, ctx: 256, d: 256, heads: 8, depth: 4)
  on: Eight
  bind: { B: 4 }
  task: infer { prefill: 64, decode: 16 }
  parallel: { tensor: 2, data: 4 }
}
plan train {
  model: Gpt(vocab: 512, ctx: 256, d: 256, heads: 8, depth: 4)
  on: Eight
  bind: { B: 4, T: 256 }
  batch: { global: 32, micro: 4 }
  task: train { optimizer: adam(lr: 1e-3) }
  parallel: { tensor: 2, pipeline: 2, data: 2 }
}
`,
    );
    const r = flexc('plan', file, '--compare', '--json', '--svg', `${DIR}/compare.svg`);
    expect(r.status, r.stderr).toBe(0);
    const rows = (JSON.parse(r.stdout) as { plans: Record<string, unknown>[] }).plans;
    expect(rows.map((x) => [x['plan'], x['partition'], x['gpus'], x['blast_radius']])).toEqual([
      // a failed package takes its replica down: 2 of 8 GPUs serving, 4 of 8 training
      ['serve', 'tensor 2 × replicas 4', 8, 0.25],
      ['train', 'tensor 2 × pipeline 2 × data 2', 8, 0.5],
    ]);
    expect(rows[0]!['time_to_first_token_seconds']).toBeGreaterThan(0);
    expect(rows[0]!['time_per_output_token_seconds']).toBeGreaterThan(0);
    expect(rows[0]!['training_tokens_per_second']).toBeUndefined();
    expect(rows[1]!['training_tokens_per_second']).toBeGreaterThan(0);
    expect(readFileSync(`${DIR}/compare.svg`, 'utf8')).toContain('serve (Eight, 8 GPUs)');
    const table = flexc('plan', file, '--compare').stdout;
    expect(table.split('\n')[0]).toMatch(/^\| plan \| hardware \| partition \| training tokens\/s \|/);
  }, 60_000);
});
