import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkProgram } from '../../compiler/check-program.ts';
import { DEFAULTS, machineOf, peakFor } from '../../compiler/cost/device.ts';

/**
 * The machine the cost model sees, read from hardware declarations as a user writes them: every figure in base units
 * (bytes, bytes/s, FLOP/s, seconds), the defaults where a field is left out, and the GPU–host link found whichever way
 * round it is written.
 */
const PATH = resolve('test/cost/_hardware.flex');
function machine(hardware: string) {
  const text =
    `model M() {\n  input x: f32[4]\n  output y = x\n}\n\n${hardware}\n\n` +
    'plan p {\n  model: M\n  task: infer\n  on: H\n}\n';
  const r = checkProgram(PATH, { read: (p) => (p === PATH ? text : undefined) });
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return machineOf([...r.lowered.values()][0]!.hardware!);
}

describe('machineOf', () => {
  it('reads every field of a full declaration in base units', () => {
    const m = machine(`gpu g {
  memory: 80 GiB
  bandwidth: 3 TB/s
  fp64: 30 TFLOPS
  fp32: 60 TFLOPS
  bf16: 900 TFLOPS
  fp16: 800 TFLOPS
  efficiency: 0.5
  memory_efficiency: 0.6
  gather_efficiency: 0.25
  launch: 3 us
}
link l { bandwidth: 25 GB/s, latency: 10 us }
hardware H {
  gpu x 8: g
  host { memory: 512 GiB, bandwidth: 100 GB/s }
  link gpu <-> host: l
  network { topology: nvlink, bandwidth: 400 GB/s, latency: 2 us }
}`);
    expect(m).toStrictEqual({
      gpu: {
        memory: 80 * 2 ** 30,
        bandwidth: 3e12,
        peak: { f64: 30e12, f32: 60e12, bf16: 900e12, f16: 800e12 },
        computeEfficiency: 0.5,
        memoryEfficiency: 0.6,
        gatherEfficiency: 0.25,
        launch: 3e-6,
      },
      count: 8,
      host: { memory: 512 * 2 ** 30, bandwidth: 100e9 },
      link: { bandwidth: 25e9, latency: expect.closeTo(10e-6, 15) },
      network: { bandwidth: 400e9, latency: 2e-6, topology: 'nvlink' },
    });
  });

  it('a minimal GPU: one peak, the default efficiencies and launch time, nothing else', () => {
    const m = machine('gpu g { memory: 16 GiB, bandwidth: 900 GB/s, fp32: 15 TFLOPS }\nhardware H { gpu: g }');
    expect(m).toStrictEqual({
      gpu: {
        memory: 16 * 2 ** 30,
        bandwidth: 900e9,
        peak: { f32: 15e12 },
        computeEfficiency: DEFAULTS.computeEfficiency,
        memoryEfficiency: DEFAULTS.memoryEfficiency,
        gatherEfficiency: DEFAULTS.memoryEfficiency, // the stream's, unless the device says otherwise
        launch: DEFAULTS.launch,
      },
      count: 1,
    });
    expect(DEFAULTS).toEqual({ computeEfficiency: 0.7, memoryEfficiency: 0.8, launch: 5e-6 });
  });

  it('fp16 defaults to bf16; a host without bandwidth; the link as host <-> gpu; a network without topology', () => {
    const m = machine(`gpu g { memory: 24 GiB, bandwidth: 1 TB/s, bf16: 165 TFLOPS }
link l { bandwidth: 50 GB/s }
hardware H {
  gpu x 2: g
  host { memory: 64 GiB }
  link host <-> gpu: l
  network { bandwidth: 100 GB/s }
}`)!;
    expect(m.gpu.peak).toStrictEqual({ bf16: 165e12, f16: 165e12 });
    expect(m.host).toEqual({ memory: 64 * 2 ** 30, bandwidth: undefined });
    expect(m.link).toEqual({ bandwidth: 50e9, latency: 0 });
    expect(m.network).toEqual({ bandwidth: 100e9, latency: 0, topology: 'switched' });
  });

  it('a link that is not between the GPU and the host is not the host link', () => {
    const m = machine(`gpu g { memory: 24 GiB, bandwidth: 1 TB/s, fp32: 80 TFLOPS }
ssd s { capacity: 2 TB, read: 7 GB/s, write: 6 GB/s }
link l { bandwidth: 7 GB/s }
hardware H {
  gpu: g
  host { memory: 64 GiB }
  ssd: s
  link host <-> ssd: l
}`)!;
    expect(m.link).toBeUndefined();
    expect(m.host).toEqual({ memory: 64 * 2 ** 30, bandwidth: undefined });
  });

  it('peakFor: the dtype’s own peak, else fp32’s, else 0', () => {
    const m = machine(
      'gpu g { memory: 1 GiB, bandwidth: 1 TB/s, fp32: 10 TFLOPS, bf16: 100 TFLOPS }\nhardware H { gpu: g }',
    )!;
    expect(peakFor(m.gpu, 'bf16')).toBe(100e12);
    expect(peakFor(m.gpu, 'f32')).toBe(10e12);
    expect(peakFor(m.gpu, 'f16')).toBe(100e12);
    expect(peakFor(m.gpu, 'f64')).toBe(10e12);
    expect(peakFor({ ...m.gpu, peak: {} }, 'f32')).toBe(0);
  });

  it('no GPU: no machine', () => {
    expect(machineOf({ name: 'H', links: [] })).toBeUndefined();
  });
});
