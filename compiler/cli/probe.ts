import { closeSync, fsyncSync, openSync, readSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { Builder } from '../ir/builder.ts';
import { getOp } from '../ir/ops/registry.ts';
import type { Module } from '../ir/graph.ts';
import { planConfigOf } from '../sema/plan.ts';
import { TARGETS } from '../targets/registry.ts';
import { writeAtomic } from '../write-atomic.ts';
import type { Session } from '../../runtime/session.ts';
import { openGpu } from '../../runtime/webgpu/device.ts';
import { nativeSession, webgpuSession } from './trainers.ts';

export interface ProbeOptions {
  backend: string;
  out?: string;
  /** Where the SSD tier's spill files would go (its filesystem is measured). */
  dir?: string;
  json?: boolean;
  /** Small sizes: seconds, not tens of seconds (less steady figures). */
  quick?: boolean;
}

/** Bytes per second of the best of `times` runs of `f`, which moves `bytes` bytes. */
function rate(bytes: number, times: number, f: () => void): number {
  let best = Infinity;
  for (let i = 0; i < times; i++) {
    const t0 = performance.now();
    f();
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  return bytes / best;
}

/** Host memory bandwidth: a buffer copied, counting bytes read and written. */
function hostBandwidth(mib: number): number {
  const a = Buffer.alloc(mib * 2 ** 20, 1);
  const b = Buffer.alloc(a.length);
  return rate(2 * a.length, 5, () => a.copy(b));
}

/**
 * The disk under `dir`: its capacity, and sequential write (with fsync) and read bandwidth of a file of `mib` MiB.
 * The read follows the write, so the page cache may serve part of it: the figure is an upper bound.
 */
function disk(dir: string, mib: number): { capacity: number; read: number; write: number } {
  const fs = statfsSync(dir);
  const file = join(dir, `flexc-probe-${process.pid}.bin`);
  const chunk = Buffer.alloc(4 * 2 ** 20, 7);
  const n = Math.max(1, Math.round(mib / 4));
  try {
    const write = rate(n * chunk.length, 2, () => {
      const fd = openSync(file, 'w');
      for (let i = 0; i < n; i++) writeSync(fd, chunk);
      fsyncSync(fd);
      closeSync(fd);
    });
    const read = rate(n * chunk.length, 2, () => {
      const fd = openSync(file, 'r');
      while (readSync(fd, chunk, 0, chunk.length, null) > 0);
      closeSync(fd);
    });
    return { capacity: fs.blocks * fs.bsize, read, write };
  } finally {
    rmSync(file, { force: true });
  }
}

/** C = A·B, n × n, with both as parameters: a step is the product, C read back. */
export function matmulModule(n: number): Module {
  const b = new Builder();
  const a = b.leaf('param', 'a', { dtype: 'f32', shape: [n, n] }, { init: 'normal', std: 1 });
  const w = b.leaf('param', 'b', { dtype: 'f32', shape: [n, n] }, { init: 'normal', std: 1 });
  return {
    name: `matmul_${n}`,
    values: b.values,
    outputs: [{ name: 'c', value: b.op('matmul', [a, w]) }],
    updates: [],
  };
}

/** Seconds of the fastest of 3 steps of a session after one that warms it up (the copy back included); closes it. */
async function bestStep(s: Session): Promise<number> {
  const times = await stepTimes(s, 3);
  return Math.min(...times);
}

/** Seconds of `n` steps of a session after one that warms it up, in the order run; closes it. */
async function stepTimes(s: Session, n: number): Promise<number[]> {
  await s.run();
  const times: number[] = [];
  for (let k = 0; k < n; k++) {
    const t0 = performance.now();
    await s.run();
    times.push((performance.now() - t0) / 1000);
  }
  s.destroy();
  return times;
}

/** The middle of `xs` (the upper middle of an even count). */
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

/** FLOP/s of matmulModule(n) in a session: its fastest step; closes it. */
export async function matmulFlops(s: Session, n: number): Promise<number> {
  return (2 * n ** 3) / (await bestStep(s));
}

/**
 * The products a training step runs, n × n each: A·B (forward), A·Bᵀ (an input's gradient) and Aᵀ·B (a weight's),
 * with A and B as parameters and the three products read back.
 */
export function productsModule(n: number): Module {
  const b = new Builder();
  const a = b.leaf('param', 'a', { dtype: 'f32', shape: [n, n] }, { init: 'normal', std: 1 });
  const w = b.leaf('param', 'b', { dtype: 'f32', shape: [n, n] }, { init: 'normal', std: 1 });
  const layouts: Record<string, boolean>[] = [{}, { tb: true }, { ta: true }];
  return {
    name: `products_${n}`,
    values: b.values,
    outputs: layouts.map((attrs, i) => ({ name: `c${i}`, value: b.op('matmul', [a, w], attrs) })),
    updates: [],
  };
}

/**
 * FLOP/s of productsModule(n) in a session, as a step sustains it: the median of 5 steps, not the fastest (a plan's
 * step time is predicted from it, and steps run at a typical speed). Closes the session.
 */
export async function productFlops(s: Session, n: number): Promise<number> {
  return (3 * 2 * n ** 3) / median(await stepTimes(s, 5));
}

/**
 * Seconds a kernel adds to a step beyond its work: the median step of streamModule(n, long) less that of
 * streamModule(n, short), over the kernels between, on vectors small enough that the work is nothing.
 */
export async function launchSeconds(open: (m: Module) => Promise<Session> | Session): Promise<number> {
  const [n, short, long] = [1024, 4, 68];
  const few = median(await stepTimes(await open(streamModule(n, short)), 7));
  const many = median(await stepTimes(await open(streamModule(n, long)), 7));
  return Math.max(0, (many - few) / (long - short));
}

/** y = x · ½ applied `k` times to a vector of n values, then summed: memory-bound kernels end to end. */
export function streamModule(n: number, k: number): Module {
  const b = new Builder();
  let x = b.leaf('param', 'x', { dtype: 'f32', shape: [n] }, { init: 'normal', std: 1 });
  const half = b.op('const', [], { value: 0.5, dtype: 'f32' });
  for (let i = 0; i < k; i++) x = b.op('mul', [x, half]);
  return {
    name: `stream_${n}`,
    values: b.values,
    outputs: [{ name: 's', value: b.op('sum', [x], { axes: [0], keepdims: false }) }],
    updates: [],
  };
}

/**
 * Bytes per second that memory-bound kernels move through flexc's own kernels (streamModule(n, k)): what the cost
 * model's bandwidth means for elementwise ops, products over a graph and copies on the device. On SwiftShader it is
 * far below a memcpy of host memory. Closes the session.
 */
export async function streamBandwidth(s: Session, n: number, k: number): Promise<number> {
  return (4 * n * (2 * k + 1)) / (await bestStep(s));
}

/** m rows of an n × f matrix read in a seeded random order (gather), then summed: reading rows by index. */
export function gatherModule(n: number, f: number, m: number): Module {
  const b = new Builder();
  const x = b.leaf('param', 'x', { dtype: 'f32', shape: [n, f] }, { init: 'normal', std: 1 });
  const ids = b.leaf('input', 'ids', { dtype: 'i32', shape: [m] }, {});
  const rows = b.op('gather', [x, ids]);
  return {
    name: `gather_${n}`,
    values: b.values,
    outputs: [{ name: 's', value: b.op('sum', [rows], { axes: [0, 1], keepdims: false }) }],
    updates: [],
  };
}

/**
 * The fraction of `bandwidth` (the stream's) a gather of gatherModule reaches through flexc's kernels: the bytes the
 * cost model counts for it over its share of a step's time (the sum after it streams). At most 1. Closes the session.
 */
export async function gatherEfficiency(s: Session, m: Module, bandwidth: number): Promise<number> {
  const seconds = await bestStep(s);
  const [gather, sum] = [m.values.find((v) => v.op === 'gather')!, m.values.find((v) => v.op === 'sum')!];
  const bytes = getOp('gather').cost(gather).bytes;
  const rest = getOp('sum').cost(sum).bytes / bandwidth;
  return Math.min(1, bytes / Math.max(seconds - rest, seconds / 10) / bandwidth);
}

const config = planConfigOf({ name: 'probe' });

const gb = (bytesPerSecond: number) => `${(bytesPerSecond / 1e9).toPrecision(3)} GB/s`;
const us = (seconds: number) => (seconds * 1e6).toPrecision(3);
const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;

interface ProbedDevice {
  name: string;
  memory: number;
  bandwidth: number;
  gather: number;
  fp32: number;
  launch: number;
  link: { bandwidth: number; latency: number };
}

/** Seconds of one trip of `bytes` to host memory and back the way a WebGPU session offloads and reloads a tensor. */
async function roundTrip(device: GPUDevice, buf: GPUBuffer, bytes: number): Promise<number> {
  const t0 = performance.now();
  const staging = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(buf, 0, staging, 0, bytes);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const host = new Uint8Array(staging.getMappedRange()).slice();
  staging.unmap();
  staging.destroy();
  device.queue.writeBuffer(buf, 0, host);
  await device.queue.onSubmittedWorkDone();
  return (performance.now() - t0) / 1000;
}

/**
 * The link between a WebGPU device and host memory as a session's copies use it: bandwidth from round trips of
 * `bytes` (down and back, so twice the bytes), latency per copy from round trips of 4 bytes (half of one); medians.
 */
async function webgpuLink(device: GPUDevice, bytes: number): Promise<{ bandwidth: number; latency: number }> {
  const buf = device.createBuffer({ size: bytes, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
  const trips = async (size: number) => {
    const t: number[] = [];
    for (let i = 0; i < 5; i++) t.push(await roundTrip(device, buf, size));
    return median(t);
  };
  const latency = (await trips(4)) / 2;
  const bandwidth = (2 * bytes) / Math.max(1e-9, (await trips(bytes)) - 2 * latency);
  buf.destroy();
  return { bandwidth, latency };
}

/**
 * `flexc hw probe`: measures this machine as flexc runs on it and writes a hardware description (.flex) that plans
 * can use with `on: Probed`: the backend's device (the CPU for `native`, the WebGPU adapter for `webgpu`) with its
 * measured fp32 matmul throughput and the bandwidth its memory-bound kernels reach, the host (memory, cores, copy
 * bandwidth), the disk of the spill directory (capacity, write with fsync, read) and the link between device and host.
 */
export async function probeCommand(o: ProbeOptions): Promise<void> {
  const quick = o.quick === true;
  const host = { memory: totalmem(), cores: cpus().length, bandwidth: hostBandwidth(quick ? 64 : 512) };
  const ssd = disk(o.dir ?? tmpdir(), quick ? 64 : 512);
  const n = quick ? 384 : 512;
  const [len, k] = [quick ? 2 ** 20 : 2 ** 23, 8];
  const rows = gatherModule(quick ? 2 ** 16 : 2 ** 18, 32, quick ? 2 ** 17 : 2 ** 19);
  const none = () => ({}) as never;
  let device: ProbedDevice;
  if (o.backend === 'native') {
    const open = (m: Module) => nativeSession(TARGETS.c, m, config, none);
    const fp32 = await productFlops(open(productsModule(n)), n);
    const bandwidth = await streamBandwidth(open(streamModule(len, k)), len, k);
    const gather = await gatherEfficiency(open(rows), rows, bandwidth);
    const launch = await launchSeconds(open);
    // the CPU runs the native kernels: its memory is the host's, its device-host link a copy in host memory
    const link = { bandwidth: host.bandwidth, latency: 0 };
    device = { name: 'the CPU (native kernels)', memory: host.memory, bandwidth, gather, fp32, launch, link };
  } else {
    const gpu = await openGpu();
    const open = (m: Module) => webgpuSession(gpu, m, config, none);
    const fp32 = await productFlops(await open(productsModule(n)), n);
    const bandwidth = await streamBandwidth(await open(streamModule(len, k)), len, k);
    const gather = await gatherEfficiency(await open(rows), rows, bandwidth);
    const launch = await launchSeconds(open);
    const link = await webgpuLink(gpu.device, (quick ? 16 : 128) * 2 ** 20);
    device = {
      name: `${gpu.adapter} (WebGPU)`,
      memory: gpu.device.limits.maxBufferSize,
      bandwidth,
      gather,
      fp32,
      launch,
      link,
    };
    gpu.device.destroy();
  }
  const figures = { backend: o.backend, device, host, ssd };
  const command = `flexc hw probe --backend ${o.backend}${quick ? ' --quick' : ''}`;
  const text = `// Measured by \`${command}\`: the device is ${device.name}.
// fp32 is what a step's products sustain through flexc's own kernels: A·B, A·Bᵀ and Aᵀ·B at ${n}³ (copy back
// included), the median of 5 steps; launch is what one more kernel adds to a step (median). The device's bandwidth is
// what a chain of elementwise kernels moves through them, gather_efficiency the fraction of it a gather of random rows
// reaches (best of a few runs); other bandwidths are copies (the link's: tensors to host memory and back, as a
// session offloads and reloads them, with its latency per copy).
// The SSD's read follows its write, so the page cache may serve part of it: an upper bound.
// The figures are achieved rates, not data-sheet peaks, so the cost model derates them by nothing (efficiency 1).
gpu probed_device {
  memory: ${gib(device.memory)}
  bandwidth: ${gb(device.bandwidth)}
  fp32: ${(device.fp32 / 1e12).toPrecision(3)} TFLOPS
  efficiency: 1
  memory_efficiency: 1
  gather_efficiency: ${device.gather.toPrecision(3)}
  launch: ${us(device.launch)} us
}

ssd probed_ssd {
  capacity: ${gib(ssd.capacity)}
  read: ${gb(ssd.read)}
  write: ${gb(ssd.write)}
}

link probed_link {
  bandwidth: ${gb(device.link.bandwidth)}
  latency: ${us(device.link.latency)} us
}

hardware Probed {
  gpu: probed_device
  host { memory: ${gib(host.memory)}, bandwidth: ${gb(host.bandwidth)}, cores: ${host.cores} }
  ssd: probed_ssd
  link gpu <-> host: probed_link
}
`;
  if (o.out) writeAtomic(o.out, text);
  if (o.json) process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
  else if (!o.out) process.stdout.write(text);
  if (o.out) process.stderr.write(`wrote ${o.out}: hardware \`Probed\` (${device.name})\n`);
}
