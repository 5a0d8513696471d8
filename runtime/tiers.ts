import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Plan, PlanBuffer } from './plan.ts';

/** The links copies between tiers travel, and the bytes each carried. */
export const LINKS = ['gpu→host', 'host→gpu', 'host→ssd', 'ssd→host'] as const;
export type Link = (typeof LINKS)[number];

/** The links a copy to (`down`) or from a tier crosses: SSD traffic passes through host memory. */
export function linksOf(tier: 'host' | 'ssd', down: boolean): Link[] {
  if (tier === 'host') return [down ? 'gpu→host' : 'host→gpu'];
  return down ? ['gpu→host', 'host→ssd'] : ['ssd→host', 'host→gpu'];
}

/** Bytes per link, none yet. */
export const noMoves = (): Record<Link, number> => ({ 'gpu→host': 0, 'host→gpu': 0, 'host→ssd': 0, 'ssd→host': 0 });

/** Adds a copy's bytes to each link it crosses. */
export function countMove(moved: Record<Link, number>, tier: 'host' | 'ssd', down: boolean, bytes: number): void {
  for (const l of linksOf(tier, down)) moved[l] += bytes;
}

/** The tiers a plan's copies move through, measured: the highest end of any range addressed, and bytes per link. */
export interface TierMeasure {
  peakBytes: { host: number; ssd: number };
  moved: Record<Link, number>;
}

/** Spill directories of open stores, removed at exit when a failure left them (a crash between open and close). */
const open = new Set<string>();
let hooked = false;
function removeAtExit(dir: string): void {
  open.add(dir);
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const d of open) rmSync(d, { recursive: true, force: true });
  });
}

/**
 * The host and SSD tiers of a session: host memory is one array (the plan's host arena), the SSD one file in a spill
 * directory of its own (`spillDir`, else FLEXC_SPILL_DIR, else the system's temporary directory), read and written
 * for real at the plan's offsets, and removed when the store closes (or at exit after a failure). Counts the bytes
 * each link carries; SSD traffic passes through host memory, so it counts on both of its links.
 */
export class TierStore {
  readonly measure: TierMeasure = {
    peakBytes: { host: 0, ssd: 0 },
    moved: noMoves(),
  };
  private readonly host: Uint8Array;
  private readonly dir?: string;
  private fd?: number;

  constructor(plan: Plan, spillDir?: string) {
    this.host = new Uint8Array(plan.arenas.host ?? 0);
    if (plan.arenas.ssd) {
      const base = spillDir ?? process.env['FLEXC_SPILL_DIR'] ?? tmpdir();
      this.dir = mkdtempSync(join(base, `flexc-spill-${plan.name}-`));
      removeAtExit(this.dir);
      this.fd = openSync(join(this.dir, 'ssd.bin'), 'w+');
    }
  }

  /** Whether the plan has copies between tiers at all. */
  static needed(plan: Plan): boolean {
    return plan.steps.some((s) => s.kind === 'copy');
  }

  /** Stores a GPU tensor's bytes into `to` (a host or SSD buffer). */
  put(to: PlanBuffer, bytes: Uint8Array): void {
    countMove(this.measure.moved, to.tier as 'host' | 'ssd', true, bytes.length);
    if (to.tier === 'host') this.host.set(bytes, to.offset);
    else writeSync(this.fd!, bytes, 0, bytes.length, to.offset);
    this.touch(to);
  }

  /** Feeds an input kept in host memory (its data, not a copy from the GPU: no link carries it). */
  feed(to: PlanBuffer, bytes: Uint8Array): void {
    this.host.set(bytes, to.offset);
    this.touch(to);
  }

  /** A host-memory buffer's bytes, read by the host (a parameter kept there): no link carries them. */
  peek(b: PlanBuffer): Uint8Array {
    return this.host.slice(b.offset, b.offset + b.bytes);
  }

  /** The bytes of `from` (a host or SSD buffer), on their way back to the GPU. */
  get(from: PlanBuffer): Uint8Array {
    countMove(this.measure.moved, from.tier as 'host' | 'ssd', false, from.bytes);
    if (from.tier === 'host') return this.host.slice(from.offset, from.offset + from.bytes);
    const out = new Uint8Array(from.bytes);
    let at = 0;
    while (at < out.length) {
      const n = readSync(this.fd!, out, at, out.length - at, from.offset + at);
      if (n === 0) throw new Error(`spill file ended reading ${from.name}`);
      at += n;
    }
    return out;
  }

  private touch(b: PlanBuffer): void {
    const t = b.tier as 'host' | 'ssd';
    this.measure.peakBytes[t] = Math.max(this.measure.peakBytes[t], b.offset + b.bytes);
  }

  /** The spill directory (undefined without an SSD tier). */
  get spillDir(): string | undefined {
    return this.dir;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd), (this.fd = undefined);
    if (this.dir) rmSync(this.dir, { recursive: true, force: true }), open.delete(this.dir);
  }
}

/** The bytes each link carries in one step of the plan, from its copy steps. */
export function plannedMoves(plan: Plan): Record<Link, number> {
  const moved = noMoves();
  for (const st of plan.steps) {
    if (st.kind !== 'copy') continue;
    const [from, to] = [plan.buffers[st.from]!, plan.buffers[st.to]!];
    const off = from.tier === 'gpu' ? to : from;
    countMove(moved, off.tier as 'host' | 'ssd', from.tier === 'gpu', off.bytes);
  }
  return moved;
}
