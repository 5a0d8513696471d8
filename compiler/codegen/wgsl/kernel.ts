import { createHash } from 'node:crypto';
import type { Value } from '../../ir/graph.ts';
import { fmtType } from '../../ir/types.ts';
import { bindingsOf } from '../bindings.ts';
import { strides } from '../../ir/ops/util.ts';

export { strides };

/** A compute kernel for one IR value: operands are bindings 0…n-1, the result is binding n. */
export interface Kernel {
  name: string;
  code: string;
  dispatch: [number, number, number];
}

/** What an emitter writes: the body of `main` and any helper functions; the rest is shared. */
export interface KernelBody {
  workgroup: [number, number, number];
  dispatch: [number, number, number];
  helpers?: string;
  body: string;
}

/**
 * The kind of device a kernel is written for. `gpu`: workgroup-memory tiling and workgroup
 * reductions. `cpu` (CPU Vulkan drivers such as SwiftShader, where a barrier costs more than the
 * work it saves): one invocation per output with register blocking and no barriers.
 */
export type DeviceClass = 'cpu' | 'gpu';
export const DEVICE_CLASSES: readonly DeviceClass[] = ['cpu', 'gpu'];

export type Emitter = (v: Value, cls: DeviceClass) => KernelBody;

export const WG = 64;
const MAX_GROUPS = 65535;

export const wgslType = (v: { type: { dtype: string } }) => (v.type.dtype === 'i32' ? 'i32' : 'f32');
export const shape = (v: Value) => v.type.shape as number[];
export const count = (v: Value) => shape(v).reduce((a, d) => a * d, 1);

/** Infinities cannot be WGSL constants; they are read from private variables instead. */
export const SPECIALS = `var<private> POS_INF_BITS: u32 = 0x7f800000u;
var<private> NEG_INF_BITS: u32 = 0xff800000u;
var<private> NAN_BITS: u32 = 0x7fc00000u;`;

export function f32(x: number): string {
  if (x === Infinity) return 'bitcast<f32>(POS_INF_BITS)';
  if (x === -Infinity) return 'bitcast<f32>(NEG_INF_BITS)';
  if (Number.isNaN(x)) return 'bitcast<f32>(NAN_BITS)';
  const s = String(x);
  return `${s}${/[.e]/.test(s) ? '' : '.0'}f`;
}
export const u32 = (x: number) => `${x >>> 0}u`;

/** One thread per element of `n` (its index is `name`), over a 2-D grid when n needs more than 65,535 workgroups. */
export function linear(n: number, name = 'i'): { dispatch: [number, number, number]; index: string } {
  const groups = Math.max(1, Math.ceil(n / WG));
  const x = Math.min(groups, MAX_GROUPS);
  const y = Math.ceil(groups / x);
  return {
    dispatch: [x, y, 1],
    index: `let ${name} = gid.x + gid.y * ${u32(x * WG)};\n  if (${name} >= ${u32(n)}) { return; }`,
  };
}

/**
 * Elements per invocation of elementwise kernels: on CPU drivers an invocation costs more than a
 * simple element, so each takes a run of consecutive elements.
 */
export const ELEMENTS_PER_INVOCATION: Record<DeviceClass, number> = { cpu: 32, gpu: 1 };

/**
 * Loops `stmts` (which read the element index `i`, and may `continue`) over elements 0…n-1,
 * `per` consecutive elements per invocation.
 */
export function elementLoop(
  n: number,
  per: number,
  stmts: string[],
): { dispatch: [number, number, number]; body: string } {
  const { dispatch, index } = linear(Math.ceil(n / per), 'tid');
  const guard = n % per ? `\n    if (i >= ${u32(n)}) { break; }` : '';
  return {
    dispatch,
    body:
      `${index}\n  for (var e = 0u; e < ${u32(per)}; e++) {\n    let i = ` +
      `tid * ${u32(per)} + e;${guard}\n    ${stmts.join('\n    ')}\n  }`,
  };
}

/** One workgroup per item of `n`, over a 2-D grid when n is more than 65,535; `w` is the item's index. */
export function perWorkgroup(n: number): { dispatch: [number, number, number]; index: string } {
  const x = Math.min(Math.max(1, n), MAX_GROUPS);
  const y = Math.ceil(Math.max(1, n) / x);
  return { dispatch: [x, y, 1], index: `let w = wid.x + wid.y * ${u32(x)};\n  if (w >= ${u32(n)}) { return; }` };
}

/**
 * Workgroup-wide sum and max of one value per invocation (WG invocations), by a tree in workgroup
 * memory. Call from uniform control flow only.
 */
export const WG_REDUCE = `var<workgroup> wred: array<f32, ${WG}>;

fn wsum(x: f32, lid: u32) -> f32 {
  wred[lid] = x;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { wred[lid] += wred[lid + s]; }
    workgroupBarrier();
  }
  let r = wred[0];
  workgroupBarrier();
  return r;
}

fn wmax(x: f32, lid: u32) -> f32 {
  wred[lid] = x;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { wred[lid] = max(wred[lid], wred[lid + s]); }
    workgroupBarrier();
  }
  let r = wred[0];
  workgroupBarrier();
  return r;
}`;

/**
 * A WGSL function `name(i: u32) -> u32` mapping a flat index over `outShape` to an offset: the sum over
 * dims of coordinate × `inStrides[d]` (+ `starts[d]` × stride). Dims with stride 0 are left out.
 */
export function offsetFn(
  name: string,
  outShape: readonly number[],
  inStrides: readonly number[],
  starts?: readonly number[],
): string {
  const os = strides(outShape);
  const terms: string[] = [];
  let constant = 0;
  outShape.forEach((d, k) => {
    const st = inStrides[k]!;
    if (starts) constant += starts[k]! * st;
    if (st === 0 || d === 1) return;
    const coord =
      k === 0 ? `(i / ${u32(os[k]!)})` : os[k] === 1 ? `(i % ${u32(d)})` : `((i / ${u32(os[k]!)}) % ${u32(d)})`;
    terms.push(st === 1 ? coord : `${coord} * ${u32(st)}`);
  });
  if (constant) terms.push(u32(constant));
  return `fn ${name}(i: u32) -> u32 {\n  return ${terms.length ? terms.join(' + ') : '0u'};\n}`;
}

/** Strides of `inShape` broadcast against `outShape` (0 where the operand has size 1 or lacks the dim). */
export function broadcastStrides(outShape: readonly number[], inShape: readonly number[]): number[] {
  const pad = [...new Array<number>(outShape.length - inShape.length).fill(1), ...inShape];
  return strides(pad).map((s, k) => (pad[k] === 1 ? 0 : s));
}

/** Assembles a kernel: bindings, helpers and `main`, with a header naming the IR op it implements. */
export function assemble(v: Value, kb: KernelBody): Kernel {
  // Operand k is `a<k>` in kernel bodies; an operand that repeats an earlier one reads its binding.
  const { slot } = bindingsOf(v);
  const firstOf = slot.map((b) => slot.indexOf(b));
  const decls = v.inputs.flatMap((x, k) =>
    firstOf[k] === k ? [`@group(0) @binding(${slot[k]}) var<storage, read_write> a${k}: array<${wgslType(x)}>;`] : [],
  );
  decls.push(`@group(0) @binding(${new Set(slot).size}) var<storage, read_write> res: array<${wgslType(v)}>;`);
  const shared = (text: string) => text.replace(/\ba(\d+)\b/g, (_, k: string) => `a${firstOf[Number(k)] ?? k}`);
  const main = shared(kb.body);
  const helpers = kb.helpers && shared(kb.helpers);
  const sig = `${v.op}(${v.inputs.map((x) => fmtType(x.type)).join(', ')}) -> ${fmtType(v.type)}`;
  const attrs = Object.entries(v.attrs)
    .map(([k, a]) => `${k}=${Array.isArray(a) ? `[${a.join(',')}]` : String(a)}`)
    .join(' ');
  const body = [
    ...decls,
    '',
    ...(/_BITS\b/.test(main + (helpers ?? '')) ? [SPECIALS, ''] : []),
    ...(helpers ? [helpers, ''] : []),
    `@compute @workgroup_size(${kb.workgroup.join(', ')})`,
    `fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_index) ` +
      `lid: u32${/\bwid\b/.test(main) ? ', @builtin(workgroup_id) wid: vec3u' : ''}) {`,
    `  ${main.trim()}`,
    '}',
    '',
  ].join('\n');
  const name = `${v.op}_${createHash('sha256').update(body).digest('hex').slice(0, 10)}`;
  const code = `// ${name}: IR op ${sig}${attrs ? ` {${attrs}}` : ''}\n${body}`;
  return { name, code, dispatch: kb.dispatch };
}
