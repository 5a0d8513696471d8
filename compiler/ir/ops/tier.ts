import type { OpDef } from '../op.ts';
import { bytesOf } from '../op.ts';
import { ShapeError } from '../types.ts';
import { shapeOf } from './util.ts';

/** The memory tiers a value can live in besides the GPU: host memory and the SSD (a spill directory). */
export const OFF_GPU_TIERS = ['host', 'ssd'] as const;
export type OffGpuTier = (typeof OFF_GPU_TIERS)[number];
export type Tier = 'gpu' | OffGpuTier;

/**
 * The tier a value lives in: an `offload`'s result in its tier, a leaf (input, parameter, optimizer state) placed in
 * host memory (`tier: "host"`) there, every other value on the GPU.
 */
export const tierOf = (v: { op: string; attrs: Record<string, unknown> }): Tier =>
  v.op === 'offload'
    ? (v.attrs['tier'] as OffGpuTier)
    : (v.op === 'input' || v.op === 'param' || v.op === 'state') && v.attrs['tier'] === 'host'
      ? 'host'
      : 'gpu';

/** What is wrong with where a value's operands live, if anything: only copies cross tiers. */
export function tierError(v: {
  op: string;
  inputs: { op: string; attrs: Record<string, unknown> }[];
}): string | undefined {
  const off = v.inputs.filter((x) => tierOf(x) !== 'gpu').length;
  if (v.op === 'reload') return off === 1 ? undefined : 'reload reads a value that is already on the GPU';
  if (v.op === 'offload') return off === 0 ? undefined : 'offload reads a value that is not on the GPU';
  return off ? `${v.op} reads a value in host memory or on the SSD; only reload does` : undefined;
}

/** What both copies share: no gradient (placement inserts them after autodiff), the bytes moved, the identity. */
const copy = {
  class: 'transfer',
  arity: 1,
  noGrad: 'placement inserts it after autodiff, as a copy between tiers',
  cost: (v) => ({ flops: 0, bytes: bytesOf(v.type) }),
  ref: ([x], v) => ({ data: x!.data.slice(), shape: shapeOf(v) }),
} satisfies Partial<OpDef>;

/**
 * Moves between memory tiers. `offload x {tier}` copies a GPU value to host memory or the SSD (its
 * result lives there; the GPU copy dies at its last reader); `reload h` copies it back to the GPU, all of it or
 * `rows: [lo, hi]` of it (a block of a parameter or optimizer state kept in host memory).
 * They are copies, not kernels: the runtime issues them on the tier's link and waits for an offload only
 * where a reload reads it. Their cost is the bytes moved, which the step model puts on the link.
 */
export const tierOps: OpDef[] = [
  {
    ...copy,
    name: 'offload',
    attrs: { tier: { kind: 'string' } },
    infer: ([x], a) => {
      if (!(OFF_GPU_TIERS as readonly unknown[]).includes(a['tier']))
        throw new ShapeError(`offload tier must be one of ${OFF_GPU_TIERS.join(', ')}, got ${String(a['tier'])}`);
      return { ...x! };
    },
  },
  {
    ...copy,
    name: 'reload',
    attrs: { rows: { kind: 'ints', optional: true } },
    infer: ([x], a) => {
      if (a['rows'] === undefined) return { ...x! };
      const [lo, hi] = a['rows'] as number[];
      const n = x!.shape[0];
      if (
        !(Number.isInteger(lo) && Number.isInteger(hi) && lo! >= 0 && lo! < hi! && (typeof n !== 'number' || hi! <= n))
      )
        throw new ShapeError(
          `reload rows [${String(a['rows'])}] are not a range of the ${String(n)} rows of its value`,
        );
      return { dtype: x!.dtype, shape: [hi! - lo!, ...x!.shape.slice(1)] };
    },
    ref: ([x], v) => {
      const shape = shapeOf(v);
      const rows = v.attrs['rows'] as number[] | undefined;
      const row = shape.slice(1).reduce((a, d) => a * d, 1);
      const at = (rows?.[0] ?? 0) * row;
      // a scalar is one element: no rows
      return { data: x!.data.slice(at, at + (shape.length ? shape[0]! * row : 1)), shape };
    },
  },
];

/** Ops that move a value between tiers (no kernel: a copy step of the plan). */
export const TRANSFER_OPS: ReadonlySet<string> = new Set(['offload', 'reload']);
/**
 * Ops a plan launches no kernel for: copies between tiers, a kernel's workspace, parts of a packed result, collectives
 * (the runtime's, over its ranks).
 */
export const NO_KERNEL_OPS: ReadonlySet<string> = new Set([
  ...TRANSFER_OPS,
  'scratch',
  'part',
  'tp_copy',
  'tp_reduce',
  'seq_split',
  'seq_gather',
  'seq_gather_tp',
  'seq_reduce_scatter',
  'pp_send',
  'ep_all_to_all',
  'vp_embed',
  'vp_embed_grad',
  'vp_cross_entropy',
  'vp_cross_entropy_grad',
]);
