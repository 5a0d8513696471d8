import type { Machine } from './device.ts';

/** A network between `n` GPUs: per-GPU bandwidth (bytes/s each way) and per-message latency (s). */
export interface Fabric {
  n: number;
  bandwidth: number;
  latency: number;
}

/**
 * Ring collectives (Patarasuk & Yuan 2009; the NCCL cost model): each of the n−1 steps moves
 * bytes/n per GPU. All-reduce is a reduce-scatter then an all-gather.
 */
export const reduceScatter = (bytes: number, f: Fabric): number =>
  f.n <= 1 ? 0 : (f.n - 1) * (bytes / f.n / f.bandwidth + f.latency);
export const allGather = reduceScatter;
export const allReduce = (bytes: number, f: Fabric): number => 2 * reduceScatter(bytes, f);
/** All-to-all: each GPU sends (n−1)/n of its bytes, n−1 messages. */
export const allToAll = (bytes: number, f: Fabric): number =>
  f.n <= 1 ? 0 : ((f.n - 1) / f.n) * (bytes / f.bandwidth) + (f.n - 1) * f.latency;

/**
 * The fabric a group of `n` ranks `stride` apart communicates over (ranks numbered tensor-first, as Megatron lays
 * them out): the node's (NVSwitch) when the group lies inside one node, else the network between nodes, whose
 * per-GPU bandwidth bounds a ring that crosses it.
 */
export function fabricOf(m: Machine, n: number, stride = 1): Fabric {
  const inside = m.node && n * stride <= m.node.gpus ? m.node : undefined;
  const net = inside ?? m.network ?? m.node;
  return { n, bandwidth: net?.bandwidth ?? Infinity, latency: net?.latency ?? 0 };
}
