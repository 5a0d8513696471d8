import { LEAF_OPS, type Module, type Value } from '../ir/graph.ts';
import { bytesOf } from '../ir/op.ts';
import { tierOf, type OffGpuTier } from '../ir/ops/tier.ts';
import type { Machine } from './device.ts';
import { countMove, noMoves, type Link } from '../../runtime/tiers.ts';

/**
 * Bandwidths of the paths between tiers (bytes/s) and the latency of one copy over the GPU–host link (seconds). A
 * plan that names no hardware, or hardware that leaves one out, gets DEFAULT_PATHS: a PCIe 4.0 x16 link's usable
 * ~25 GB/s and an NVMe SSD's 3 GB/s read and 2 GB/s write; a link that names no latency has none.
 */
export interface TierPaths {
  /** GPU ↔ host. */
  link: number;
  ssdRead: number;
  ssdWrite: number;
  latency: number;
}
export const DEFAULT_PATHS: TierPaths = { link: 25e9, ssdRead: 3e9, ssdWrite: 2e9, latency: 0 };

export function pathsOf(machine: Machine | undefined): TierPaths {
  const pos = (x: number | undefined, d: number) => (x !== undefined && x > 0 ? x : d);
  return {
    link: pos(machine?.link?.bandwidth, DEFAULT_PATHS.link),
    ssdRead: pos(machine?.ssd?.read, DEFAULT_PATHS.ssdRead),
    ssdWrite: pos(machine?.ssd?.write, DEFAULT_PATHS.ssdWrite),
    latency: machine?.link?.latency ?? DEFAULT_PATHS.latency,
  };
}

/**
 * Seconds to move `bytes` from the GPU to a tier (`down`) or back: to host memory over the link; to the SSD through
 * host memory, as fast as the slower of the link and the disk (the two stages are pipelined). Each copy starts with
 * the link's latency.
 */
export function moveSeconds(bytes: number, tier: OffGpuTier, down: boolean, p: TierPaths): number {
  return p.latency + bytes / (tier === 'host' ? p.link : Math.min(p.link, down ? p.ssdWrite : p.ssdRead));
}

/** The tier a transfer op moves between and its direction; undefined for any other op. */
export function transferOf(v: Value): { tier: OffGpuTier; down: boolean; bytes: number } | undefined {
  if (v.op === 'offload') return { tier: tierOf(v) as OffGpuTier, down: true, bytes: bytesOf(v.type) };
  if (v.op === 'reload') return { tier: tierOf(v.inputs[0]!) as OffGpuTier, down: false, bytes: bytesOf(v.type) };
  return undefined;
}

/**
 * Copies between tiers run beside the compute of the pass that issues them, so only what exceeds that compute adds
 * to the step: offloads against the forward pass, reloads against the backward pass (any one unit of time).
 */
export function exposedMoves(forward: number, backward: number, down: number, up: number): number {
  return Math.max(0, down - forward) + Math.max(0, up - backward);
}

/**
 * The GPU's work per second in the units of recomputeCost (FLOP-equivalents): its fp32 peak derated by its
 * efficiency, or H100 SXM's (67 TFLOP/s × 0.7) when the plan names no hardware.
 */
export function unitsPerSecond(machine: Machine | undefined): number {
  const gpu = machine?.gpu;
  const peak = gpu?.peak.f32 ?? 0;
  return peak > 0 ? peak * gpu!.computeEfficiency : 67e12 * 0.7;
}

/**
 * What a scheduled step's copies between tiers add to it, in the units of `cost` (each op's, e.g. recomputeCost):
 * its offloads against the cost of the forward pass (up to the loss's seed gradient), its reloads against the rest.
 */
export function exposedTransfers(
  m: Module,
  cost: (v: Value) => number,
  paths: TierPaths,
  perSecond: number,
): { exposed: number; moves: number } {
  const seed = m.values.findIndex((v) => v.op === 'const' && v.name === 'loss.grad');
  const w = { forward: 0, backward: 0, down: 0, up: 0 };
  let moves = 0;
  m.values.forEach((v, i) => {
    const x = transferOf(v);
    if (x) {
      moves++;
      w[x.down ? 'down' : 'up'] += moveSeconds(x.bytes, x.tier, x.down, paths) * perSecond;
    } else if (!LEAF_OPS.has(v.op)) w[seed >= 0 && i > seed ? 'backward' : 'forward'] += cost(v);
  });
  return { exposed: moves ? exposedMoves(w.forward, w.backward, w.down, w.up) : 0, moves };
}

/** A value placement put off the GPU: an activation waiting for the backward pass, or a leaf kept there. */
export interface PlacedValue {
  name: string;
  kind: 'activation' | 'input' | 'param' | 'state';
  tier: OffGpuTier;
  bytes: number;
}

/**
 * The copies of a scheduled step: bytes per link (SSD traffic passes through host memory, so it counts on both of
 * its links), and which values went to which tier (activations, and leaves kept in host memory).
 */
export function movesOf(m: Module): {
  links: Record<Link, number>;
  values: PlacedValue[];
} {
  const links = noMoves();
  const values: PlacedValue[] = [];
  for (const v of m.values) {
    const x = transferOf(v);
    if (!x) continue;
    countMove(links, x.tier, x.down, x.bytes);
    if (x.down && !LEAF_OPS.has(v.inputs[0]!.op))
      values.push({ name: v.inputs[0]!.name ?? v.inputs[0]!.op, kind: 'activation', tier: x.tier, bytes: x.bytes });
  }
  for (const v of m.values)
    if (LEAF_OPS.has(v.op) && tierOf(v) !== 'gpu')
      values.push({
        name: String(v.attrs['name']),
        kind: v.op as PlacedValue['kind'],
        tier: tierOf(v) as OffGpuTier,
        bytes: bytesOf(v.type),
      });
  return { links, values };
}
