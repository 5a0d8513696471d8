import type { Value } from '../../ir/graph.ts';
import { bool } from '../../ir/ops/util.ts';
import { broadcastStrides, type Emitter, linear, offsetFn, shape, u32, WG } from './kernel.ts';

const T = 4; // each thread computes a T×T block of the result in registers
const G = 8; // 8×8 threads per workgroup

/**
 * Batched matmul, register-blocked: each thread owns a 4×4 block of C and streams A and B through
 * registers, with no workgroup memory and no barriers (barriers are what CPU Vulkan drivers pay for).
 */
export const matmulEmitters: Record<string, Emitter> = {
  matmul: (v: Value) => (narrow(v) ? rowMatmul(v) : blockMatmul(v)),
};

/** Results at most this wide use one thread per row: A is read once, and its zeros skip whole rows of B. */
const NARROW = 32;
const narrow = (v: Value) => shape(v).at(-1)! <= NARROW && !bool(v.attrs, 'tb');

/** Sizes of a (batched) matmul and the helpers that find each batch's operand offsets. */
function dims(v: Value) {
  const [a, b] = v.inputs as [Value, Value];
  const ta = bool(v.attrs, 'ta');
  const tb = bool(v.attrs, 'tb');
  const out = shape(v);
  const [m, n] = out.slice(-2) as [number, number];
  const k = ta ? shape(a).at(-2)! : shape(a).at(-1)!;
  const batch = out.slice(0, -2);
  const nb = batch.reduce((x, d) => x * d, 1);
  const aBatch = broadcastStrides(batch, shape(a).slice(0, -2)).map((s) => s * m * k);
  const bBatch = broadcastStrides(batch, shape(b).slice(0, -2)).map((s) => s * k * n);
  return { ta, tb, m, n, k, nb, helpers: [offsetFn('aoff', batch, aBatch), offsetFn('boff', batch, bBatch)].join('\n\n') };
}

function rowMatmul(v: Value): ReturnType<Emitter> {
  const { ta, m, n, k, nb, helpers } = dims(v);
  const { dispatch, index } = linear(m * nb);
  const A = ta ? `a0[ao + q * ${u32(m)} + r]` : `a0[ao + r * ${u32(k)} + q]`;
  return {
    workgroup: [WG, 1, 1],
    dispatch,
    helpers,
    body: `${index}
  let z = i / ${u32(m)};
  let r = i % ${u32(m)};
  let ao = aoff(z);
  let bo = boff(z);
  var acc: array<f32, ${n}>;
  for (var q = 0u; q < ${u32(k)}; q++) {
    let av = ${A};
    if (av == 0.0f) { continue; }
    let bq = bo + q * ${u32(n)};
    for (var c = 0u; c < ${u32(n)}; c++) { acc[c] += av * a1[bq + c]; }
  }
  let co = i * ${u32(n)};
  for (var c = 0u; c < ${u32(n)}; c++) { res[co + c] = acc[c]; }`,
  };
}

function blockMatmul(v: Value): ReturnType<Emitter> {
  {
    const { ta, tb, m, n, k, nb, helpers } = dims(v);
    const A = (i: string, q: string) => (ta ? `a0[ao + ${q} * ${u32(m)} + ${i}]` : `a0[ao + ${i} * ${u32(k)} + ${q}]`);
    const B = (q: string, j: string) => (tb ? `a1[bo + ${j} * ${u32(k)} + ${q}]` : `a1[bo + ${q} * ${u32(n)} + ${j}]`);
    const idx = Array.from({ length: T }, (_, t) => t);
    const body = `let j0 = gid.x * ${T}u;
  let i0 = gid.y * ${T}u;
  let z = gid.z;
  if (i0 >= ${u32(m)} || j0 >= ${u32(n)}) { return; }
  let ao = aoff(z);
  let bo = boff(z);
  var acc: array<f32, ${T * T}>;
  for (var q = 0u; q < ${u32(k)}; q++) {
    ${idx.map((t) => `let av${t} = select(0.0f, ${A(`min(i0 + ${t}u, ${u32(m - 1)})`, 'q')}, i0 + ${t}u < ${u32(m)});`).join('\n    ')}
    if (${idx.map((t) => `av${t} == 0.0f`).join(' && ')}) { continue; } // sparse operands (bag-of-words features, dropout) skip whole steps
    ${idx.map((t) => `let bv${t} = select(0.0f, ${B('q', `min(j0 + ${t}u, ${u32(n - 1)})`)}, j0 + ${t}u < ${u32(n)});`).join('\n    ')}
    ${idx.flatMap((r) => idx.map((c) => `acc[${r * T + c}] += av${r} * bv${c};`)).join('\n    ')}
  }
  let co = z * ${u32(m * n)};
  for (var r = 0u; r < ${T}u; r++) {
    for (var c = 0u; c < ${T}u; c++) {
      if (i0 + r < ${u32(m)} && j0 + c < ${u32(n)}) { res[co + (i0 + r) * ${u32(n)} + j0 + c] = acc[r * ${T}u + c]; }
    }
  }`;
    return {
      workgroup: [G, G, 1],
      dispatch: [Math.ceil(Math.ceil(n / T) / G), Math.ceil(Math.ceil(m / T) / G), nb],
      helpers,
      body,
    };
  }
}
