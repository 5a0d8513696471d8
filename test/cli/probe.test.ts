import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'flexc-probe-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const flexc = (...args: string[]) => spawnSync(process.execPath, ['bin/flexc.mjs', ...args], { encoding: 'utf8' });

describe('flexc hw probe', () => {
  it('measures this machine and writes a hardware description that checks and that plans use', () => {
    const out = join(dir, 'probed.flex');
    const r = flexc('hw', 'probe', '--quick', '--dir', dir, '-o', out, '--json');
    expect(r.status, r.stderr).toBe(0);
    const f = JSON.parse(r.stdout) as {
      device: {
        fp32: number;
        bandwidth: number;
        launch: number;
        link: { bandwidth: number; latency: number };
        memory: number;
      };
      host: { memory: number; cores: number; bandwidth: number };
      ssd: { capacity: number; read: number; write: number };
    };
    const { device, host, ssd } = f;
    for (const x of [device.fp32, device.bandwidth, device.link.bandwidth, host.bandwidth, ssd.read, ssd.write])
      expect(x).toBeGreaterThan(0);
    // what a kernel and a copy add beyond their work: under a second (native copies are in host memory: latency 0)
    for (const x of [device.launch, device.link.latency]) expect(x >= 0 && x < 1).toBe(true);
    expect(f.host.cores).toBeGreaterThanOrEqual(1);
    expect(f.ssd.capacity).toBeGreaterThan(0);
    expect(readFileSync(out, 'utf8')).toContain('hardware Probed {');
    // no spill file is left behind
    expect(spawnSync('ls', [dir], { encoding: 'utf8' }).stdout.trim()).toBe('probed.flex');
    const model = join(dir, 'model.flex');
    writeFileSync(
      model,
      `import { Probed } from "./probed.flex"
model M() {
  input x: f32[64, 32]
  input y: i32[64]
  param w: f32[32, 4] = glorot()
  output loss = cross_entropy(x @ w, y)
}
plan fits {
  model: M
  on: Probed
  task: train { optimizer: sgd(lr: 0.1) }
  memory: { gpu: 1 GiB, ssd: 1 GiB }
}
plan too_big {
  model: M
  on: Probed
  task: train { optimizer: sgd(lr: 0.1) }
  memory: { host: 1000000 TiB }
}
`,
    );
    const plan = flexc('plan', model, '--plan', 'fits', '--json');
    expect(plan.status, plan.stderr).toBe(0);
    const big = flexc('check', model);
    expect(big.status).toBe(1);
    expect(big.stderr).toMatch(/FLX5015\]: `memory.host` is .* more than the .* of host memory in hardware `Probed`/);
  }, 120_000);
});

describe('what the probe runs', () => {
  it('productsModule: A·B, A·Bᵀ and Aᵀ·B, a training step’s products, against sums here', async () => {
    const { productsModule } = await import('../../compiler/cli/probe.ts');
    const { CpuSession } = await import('../../compiler/interp/session.ts');
    const n = 5;
    const s = new CpuSession(productsModule(n), { seed: 0, graphs: () => ({}) as never });
    const out = s.run();
    const [a, b] = [s.params.get('a')!.data, s.params.get('b')!.data];
    const at = (x: ArrayLike<number>, i: number, j: number) => x[i * n + j]!;
    const product = (f: (i: number, j: number, k: number) => number) =>
      Array.from({ length: n * n }, (_, ij) => {
        let acc = 0;
        for (let k = 0; k < n; k++) acc += f(Math.floor(ij / n), ij % n, k);
        return acc;
      });
    const want = [
      product((i, j, k) => at(a, i, k) * at(b, k, j)),
      product((i, j, k) => at(a, i, k) * at(b, j, k)),
      product((i, j, k) => at(a, k, i) * at(b, k, j)),
    ];
    want.forEach((w, i) => {
      const got = Array.from(out.get(`c${i}`)!.data);
      w.forEach((x, j) => expect(got[j]).toBeCloseTo(x, 4));
    });
  });

  it('streamModule: k halvings of a vector, summed — the bytes it counts are the bytes its kernels move', async () => {
    const { streamModule } = await import('../../compiler/cli/probe.ts');
    const { CpuSession } = await import('../../compiler/interp/session.ts');
    const m = streamModule(1000, 3);
    expect(m.values.filter((v) => v.op === 'mul')).toHaveLength(3);
    const s = new CpuSession(m, { seed: 0, graphs: () => ({}) as never });
    const sum = s.run().get('s')!.data[0]!;
    const x = Array.from(s.params.get('x')!.data);
    expect(x).toHaveLength(1000);
    expect(sum).toBeCloseTo(x.reduce((a, v) => a + v, 0) / 8, 4);
  });
});
