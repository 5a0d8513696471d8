import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compile } from '../../compiler/compile.ts';
import { elems } from '../../compiler/ir/op.ts';
import { checkFile } from '../../compiler/sema/check.ts';
import { loadProgram } from '../../compiler/sema/program.ts';
import { resolvePlan } from '../../compiler/sema/plan.ts';
import type { PlanDecl } from '../../grammar/ast.ts';
import type { Diagnostic } from '../../grammar/diagnostics.ts';

function project(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'flexc-sema-'));
  writeFileSync(join(dir, 'flex.json'), '{}');
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

describe('units', () => {
  it('GiB is 2^30 bytes and GB is 10^9; bandwidth, compute and time scale too', () => {
    const dir = project({
      'p.flex':
        'model M {\n  input x: f32[4]\n  output y = x\n}\nplan a { model: ' +
        'M\n memory: { gpu: 20 GiB, host: 21.5 GB, ssd: 2 TiB } }\n',
    });
    try {
      const prog = loadProgram(join(dir, 'p.flex'));
      const out: Diagnostic[] = [];
      const r = resolvePlan(prog.entry.ast.decls.find((d) => d.kind === 'plan') as PlanDecl, prog.entry, prog, out);
      expect(out).toEqual([]);
      expect(r!.config.memory).toEqual({ gpu: 20 * 2 ** 30, host: 21.5e9, ssd: 2 * 2 ** 40 });
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

describe('hardware', () => {
  it('checks clusters, presets, links and networks, and resolves them to base units', async () => {
    const { checkHardware } = await import('../../compiler/sema/hardware.ts');
    const dir = project({
      'hw.flex':
        'import { h100_sxm, pcie4, nvme_gen4 } from "std/hardware"\nhardware ' +
        'Rack {\n  gpu x 32: h100_sxm\n  host { memory: 512 GiB, bandwidth: 200 ' +
        'GB/s }\n  ssd: nvme_gen4\n  link gpu <-> host: pcie4\n  network { ' +
        'topology: circuit_switched, bandwidth: 450 GB/s, latency: 2 us }\n}\n',
    });
    try {
      const prog = loadProgram(join(dir, 'hw.flex'));
      expect(checkFile(join(dir, 'hw.flex')).diagnostics).toEqual([]);
      const out: Diagnostic[] = [];
      const hw = checkHardware(prog.entry.ast.decls[0] as never, prog.entry, prog, out);
      expect(out).toEqual([]);
      expect(hw.gpu).toEqual({
        count: 32,
        part: expect.objectContaining({ memory: 80 * 2 ** 30, bandwidth: 3.35e12, bf16: 989.4e12 }),
      });
      expect(hw.network).toEqual({ topology: 'circuit_switched', bandwidth: 450e9, latency: 2e-6 });
      expect(hw.links).toEqual([{ a: 'gpu', b: 'host', part: { bandwidth: 25e9, latency: 10 * 1e-6 } }]);
      expect(hw.ssd).toEqual({ capacity: 2e12, read: 7e9, write: 6e9 });
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

describe('names and imports', () => {
  it('relative imports inside the project resolve, and layers check against their callers', () => {
    const dir = project({
      'lib/blocks.flex': 'layer Twice(x: f32[..., d]) -> f32[..., d] {\n  return x + x\n}\n',
      'main.flex':
        'import { Twice } from "./lib/blocks"\nmodel M {\n  input x: f32[B, ' +
        '8]\n  output y = Twice(x)\n}\nplan p { model: M\n bind: { B: 2 } }\n',
    });
    try {
      const r = compile(join(dir, 'main.flex'));
      expect(r.diagnostics).toEqual([]);
      expect(r.module!.outputs[0]!.value.type.shape).toEqual([2, 8]);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
  it('an import cycle loads each file once and reports what is missing, not a hang', () => {
    const dir = project({
      'a.flex': 'import { B } from "./b"\nlayer A(x: f32[n]) -> f32[n] {\n  return x\n}\n',
      'b.flex': 'import { A } from "./a"\nlayer B(x: f32[n]) -> f32[n] {\n  return A(x)\n}\n',
    });
    try {
      expect(checkFile(join(dir, 'a.flex')).diagnostics).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
  it('symbolic shapes: a layer used with inconsistent sizes names both shapes', () => {
    const dir = project({
      'm.flex':
        'layer Add(a: f32[n, d], b: f32[n, d]) -> f32[n, d] {\n  return a + b\n}\nmodel ' +
        'M {\n  input x: f32[B, 4]\n  input y: f32[B, 5]\n  output z = Add(x, y)\n}\n',
    });
    try {
      const d = checkFile(join(dir, 'm.flex')).diagnostics[0]!;
      expect(d.code).toBe('FLX3002');
      expect(d.message).toContain('argument `b` of `Add` must be f32[n, d] but is f32[B,5]');
      expect(d.message).toContain('size `d` is 4 here but 5 in the value');
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

describe('the GPT-2 small plan', () => {
  it('has the published 124,439,808 parameters (tied embeddings)', () => {
    const r = compile('examples/gpt.flex', 'gpt2_small');
    const params = r.module!.values.filter((v) => v.op === 'param');
    expect(params.reduce((a, v) => a + elems(v.type), 0)).toBe(124_439_808);
    expect(r.module!.values.filter((v) => v.op === 'state').length).toBe(2 * params.length);
  });
});
