import { createHash } from 'node:crypto';
import type { Value } from '../../ir/graph.ts';
import { strides } from '../../ir/ops/util.ts';
import { fmtType } from '../../ir/types.ts';
import { bindingsOf } from '../../codegen/bindings.ts';
import * as K from '../build.ts';
import type { Expr, Kernel, KernelBuffer, Scalar, Stmt } from '../ir.ts';

export { strides };

/**
 * The kind of device a kernel is written for. `gpu`: workgroup-memory tiling and workgroup
 * reductions. `cpu` (CPU Vulkan drivers such as SwiftShader, and native CPU code): invocations that
 * never wait for each other — register blocking, no workgroup memory and no barriers.
 */
export type DeviceClass = 'cpu' | 'gpu';
export const DEVICE_CLASSES: readonly DeviceClass[] = ['cpu', 'gpu'];

/** What a lowering writes; `kernelOf` adds the buffers, the name and the doc. */
export interface KernelBody {
  workgroup: [number, number, number];
  dispatch: [number, number, number];
  shared?: Kernel['shared'];
  body: Stmt[];
  library?: Kernel['library'];
  vectorLoops?: boolean;
  /** What some buffers are beyond their element type (a persistent kernel's counters and workspace). */
  buffers?: Record<string, Partial<KernelBuffer>>;
}

/**
 * `cooperative`: the target runs a workgroup's invocations together (WGSL and CUDA, whatever the device class), so a
 * kernel may split work among them between barriers; C runs each invocation on its own.
 */
export type Lowering = (v: Value, cls: DeviceClass, cooperative: boolean) => KernelBody;

export const WG = 64;
const MAX_GROUPS = 65535;

export const shape = (v: Value) => v.type.shape as number[];
export const count = (v: Value) => shape(v).reduce((a, d) => a * d, 1);
export const scalarOf = (v: { type: { dtype: string } }): Scalar => (v.type.dtype === 'i32' ? 'i32' : 'f32');

/** Operand k's buffer: `a<j>`, j its binding (an op that reads one value twice reads it through one binding). */
export const operand = (v: Value, k: number) => `a${bindingsOf(v).slot[k]!}`;
/** Element `index` of operand k. */
export const read = (v: Value, k: number, index: Expr): Expr => K.load(operand(v, k), index, scalarOf(v.inputs[k]!));
/** The zero of the value's type. */
export const zero = (v: Value): Expr => (v.type.dtype === 'i32' ? K.i32(0) : K.f32(0));
export const res = 'res';

/** One invocation per element of `n` (its index is `name`), over a 2-D grid past 65,535 workgroups. */
export function linear(n: number, name = 'i'): { dispatch: [number, number, number]; index: Stmt[] } {
  const groups = Math.max(1, Math.ceil(n / WG));
  const x = Math.min(groups, MAX_GROUPS);
  const y = Math.ceil(groups / x);
  const i = K.ref(name);
  return {
    dispatch: [x, y, 1],
    index: [K.let_(name, K.add(K.gid.x, K.mul(K.gid.y, K.u32(x * WG)))), K.if_(K.ge(i, K.u32(n)), [K.ret])],
  };
}

/** A flat kernel over `n` elements: one invocation each, `stmts` reading the index `i`. */
export function flat(n: number, stmts: Stmt[]): KernelBody {
  const { dispatch, index } = linear(n);
  return { workgroup: [WG, 1, 1], dispatch, body: [...index, ...stmts] };
}

/**
 * Elements per invocation of elementwise kernels: on CPU drivers an invocation costs more than a
 * simple element, so each takes a run of consecutive elements.
 */
export const ELEMENTS_PER_INVOCATION: Record<DeviceClass, number> = { cpu: 32, gpu: 1 };

/**
 * Loops `stmts` (which read the element index `i`, and may `continue`) over elements 0…n-1, `per` consecutive
 * elements per invocation, after the `prelude` (what every element of an invocation shares).
 */
export function elementLoop(n: number, per: number, stmts: Stmt[], prelude: Stmt[] = []): KernelBody {
  const { dispatch, index } = linear(Math.ceil(n / per), 'tid');
  const i = K.ref('i');
  const guard = n % per ? [K.if_(K.ge(i, K.u32(n)), [K.brk])] : [];
  return {
    workgroup: [WG, 1, 1],
    dispatch,
    body: [
      ...index,
      ...prelude,
      K.loop('e', K.u32(0), K.u32(per), [
        K.let_('i', K.add(K.mul(K.ref('tid'), K.u32(per)), K.ref('e'))),
        ...guard,
        ...stmts,
      ]),
    ],
  };
}

/** One workgroup per item of `n`, over a 2-D grid when n is more than 65,535; `w` is the item's index. */
export function perWorkgroup(n: number): { dispatch: [number, number, number]; index: Stmt[] } {
  const x = Math.min(Math.max(1, n), MAX_GROUPS);
  const y = Math.ceil(Math.max(1, n) / x);
  return {
    dispatch: [x, y, 1],
    index: [K.let_('w', K.add(K.wid.x, K.mul(K.wid.y, K.u32(x)))), K.if_(K.ge(K.ref('w'), K.u32(n)), [K.ret])],
  };
}

/**
 * The offset of flat index `i` over `outShape` in a tensor with strides `inStrides`: the sum over dims of
 * coordinate × stride (+ `starts[d]` × stride). Dims with stride 0 are left out.
 */
export function offset(
  i: Expr,
  outShape: readonly number[],
  inStrides: readonly number[],
  starts?: readonly number[],
): Expr {
  const os = strides(outShape);
  let sum: Expr = K.u32(0);
  let constant = 0;
  outShape.forEach((d, k) => {
    const st = inStrides[k]!;
    if (starts) constant += starts[k]! * st;
    if (st === 0 || d === 1) return;
    const coord =
      k === 0 ? K.div(i, K.u32(os[k]!)) : os[k] === 1 ? K.mod(i, K.u32(d)) : K.mod(K.div(i, K.u32(os[k]!)), K.u32(d));
    sum = K.add(sum, K.mul(coord, K.u32(st)));
  });
  return constant ? K.add(sum, K.u32(constant)) : sum;
}

/** Strides of `inShape` broadcast against `outShape` (0 where the operand has size 1 or lacks the dim). */
export function broadcastStrides(outShape: readonly number[], inShape: readonly number[]): number[] {
  const pad = [...new Array<number>(outShape.length - inShape.length).fill(1), ...inShape];
  return strides(pad).map((s, k) => (pad[k] === 1 ? 0 : s));
}

/** A kernel of one IR value: its buffers (distinct operands, then the result), a doc line and a name from its hash. */
export function kernelOf(v: Value, kb: KernelBody): Kernel {
  const { operands } = bindingsOf(v);
  const buffers: KernelBuffer[] = [
    ...operands.map((x, k) => ({ name: `a${k}`, t: scalarOf(x) as KernelBuffer['t'] })),
    { name: res, t: scalarOf(v) as KernelBuffer['t'] },
  ].map((b) => ({ ...b, ...kb.buffers?.[b.name] }));
  const sig = `${v.op}(${v.inputs.map((x) => fmtType(x.type)).join(', ')}) -> ${fmtType(v.type)}`;
  const attrs = Object.entries(v.attrs)
    .map(([k, a]) => `${k}=${Array.isArray(a) ? `[${a.join(',')}]` : String(a)}`)
    .join(' ');
  return named(v.op, {
    doc: `IR op ${sig}${attrs ? ` {${attrs}}` : ''}`,
    buffers,
    shared: kb.shared ?? [],
    workgroup: kb.workgroup,
    dispatch: kb.dispatch,
    body: kb.body,
    ...(kb.library ? { library: kb.library } : {}),
    ...(kb.vectorLoops ? { vectorLoops: true } : {}),
  });
}

/**
 * Names a kernel `<prefix>_<hash>` from everything it does and the types it is for (the runtime checks launches
 * against those; an spmm's code is the same for any number of entries): the same kernel has the same name on every
 * target.
 */
export function named(prefix: string, k: Omit<Kernel, 'name'>): Kernel {
  // literals may be infinite or NaN, which JSON would write as null
  const text = JSON.stringify(k, (_k, x) => (typeof x === 'number' && !Number.isFinite(x) ? String(x) : x));
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 10);
  return { name: `${prefix}_${hash}`, ...k };
}
