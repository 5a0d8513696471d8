import type { DType } from '../ir/types.ts';
import type { HardwareSpec, PartSpec } from '../sema/hardware.ts';

/** One GPU as the cost model sees it (base units: bytes, bytes/s, FLOP/s, seconds). */
export interface Device {
  memory: number;
  bandwidth: number;
  /** Peak dense FLOP/s per dtype. */
  peak: Partial<Record<DType, number>>;
  /** Peak dense FLOP/s of FP8 GEMMs (`fp8`), where the GPU has them. */
  fp8?: number;
  /** The fraction of peak FLOP/s a large kernel reaches (`efficiency`, default 0.7). */
  computeEfficiency: number;
  /** The fraction of bandwidth a streaming kernel reaches (`memory_efficiency`, default 0.8). */
  memoryEfficiency: number;
  /**
   * The fraction a kernel reading rows by index reaches — products over a graph, gathers, scatters
   * (`gather_efficiency`, default memoryEfficiency).
   */
  gatherEfficiency: number;
  /** Seconds to launch one kernel (`launch`, default 5 us). */
  launch: number;
}

/** The machines a plan runs on: `count` GPUs, the host behind them, the GPU–host link and the network between GPUs. */
export interface Machine {
  gpu: Device;
  count: number;
  host?: { memory?: number; bandwidth?: number };
  link?: { bandwidth: number; latency: number };
  /** The SSD behind the host: capacity and sequential read and write bandwidth. */
  ssd?: { capacity?: number; read?: number; write?: number };
  network?: { bandwidth: number; latency: number; topology: string };
  /** Servers of `gpus` GPUs joined inside by their own fabric (NVSwitch); `network` then joins the servers. */
  node?: { gpus: number; bandwidth: number; latency: number };
}

export const DEFAULTS = { computeEfficiency: 0.7, memoryEfficiency: 0.8, launch: 5e-6 };

const num = (p: PartSpec, k: string): number | undefined => (typeof p[k] === 'number' ? (p[k] as number) : undefined);

export function deviceOf(p: PartSpec): Device {
  const peak: Device['peak'] = {};
  const f32 = num(p, 'fp32');
  if (f32 !== undefined) peak.f32 = f32;
  const bf16 = num(p, 'bf16');
  if (bf16 !== undefined) peak.bf16 = bf16;
  const f16 = num(p, 'fp16') ?? bf16;
  if (f16 !== undefined) peak.f16 = f16;
  const f64 = num(p, 'fp64');
  if (f64 !== undefined) peak.f64 = f64;
  const fp8 = num(p, 'fp8');
  return {
    ...(fp8 !== undefined ? { fp8 } : {}),
    memory: num(p, 'memory') ?? Infinity,
    bandwidth: num(p, 'bandwidth') ?? 0,
    peak,
    computeEfficiency: num(p, 'efficiency') ?? DEFAULTS.computeEfficiency,
    memoryEfficiency: num(p, 'memory_efficiency') ?? DEFAULTS.memoryEfficiency,
    gatherEfficiency: num(p, 'gather_efficiency') ?? num(p, 'memory_efficiency') ?? DEFAULTS.memoryEfficiency,
    launch: num(p, 'launch') ?? DEFAULTS.launch,
  };
}

export function machineOf(h: HardwareSpec): Machine | undefined {
  if (!h.gpu) return undefined;
  const m: Machine = { gpu: deviceOf(h.gpu.part), count: h.gpu.count };
  if (h.host)
    m.host = { memory: num(h.host, 'memory'), bandwidth: num(h.host, 'bandwidth') } as Machine['host'] & object;
  const link = h.links.find((l) => [l.a, l.b].includes('gpu') && [l.a, l.b].includes('host'));
  if (link) m.link = { bandwidth: num(link.part, 'bandwidth') ?? 0, latency: num(link.part, 'latency') ?? 0 };
  if (h.ssd) m.ssd = { capacity: num(h.ssd, 'capacity'), read: num(h.ssd, 'read'), write: num(h.ssd, 'write') };
  if (h.network)
    m.network = {
      bandwidth: num(h.network, 'bandwidth') ?? 0,
      latency: num(h.network, 'latency') ?? 0,
      topology: String(h.network['topology'] ?? 'switched'),
    };
  if (h.node)
    m.node = {
      gpus: num(h.node, 'gpus') ?? 1,
      bandwidth: num(h.node, 'bandwidth') ?? 0,
      latency: num(h.node, 'latency') ?? 0,
    };
  return m;
}

/** Peak FLOP/s for arithmetic in `dtype` (fp32 where the GPU lists nothing better). */
export const peakFor = (d: Device, dtype: DType): number => d.peak[dtype] ?? d.peak.f32 ?? 0;

/** The peak an op runs at: an FP8 GEMM (matmul {fp8}) at the fp8 peak (bf16's where the GPU has none). */
export const opPeak = (d: Device, dtype: DType, fp8: boolean): number =>
  fp8 ? (d.fp8 ?? d.peak.bf16 ?? peakFor(d, dtype)) : peakFor(d, dtype);
