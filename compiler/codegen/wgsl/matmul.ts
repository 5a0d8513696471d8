import type { Value } from '../../ir/graph.ts';
import { bool } from '../../ir/ops/util.ts';
import { broadcastStrides, type Emitter, linear, offsetFn, shape, u32, WG } from './kernel.ts';

const T = 4; // each thread computes a T×T block of the result in registers
const G = 8; // 8×8 threads per workgroup

/**
 * Batched matmul. GPU class: tiled through workgroup memory. CPU class: register-blocked, each
 * thread owning a 4×4 block of C and streaming A and B through registers, with no workgroup memory
 * and no barriers (barriers are what CPU Vulkan drivers pay for); narrow results one row per thread.
 */
export const matmulEmitters: Record<string, Emitter> = {
  matmul: (v: Value, cls) => (cls === 'gpu' ? tiledMatmul(v) : narrow(v) ? rowMatmul(v) : blockMatmul(v)),
};

const TILE = G * T; // a workgroup computes a TILE×TILE block of C…
const KT = 16; // …stepping through K in slices of KT held in workgroup memory

/**
 * Each workgroup stages KT-deep slices of its TILE rows of A and TILE columns of B in workgroup
 * memory (zero-padded at the edges); each of its G×G threads accumulates a T×T block of C in
 * registers, over k in order (the CPU reference's order for each element).
 */
function tiledMatmul(v: Value): ReturnType<Emitter> {
  const { ta, tb, m, n, k, nb, helpers } = dims(v);
  const threads = G * G;
  const loads = (TILE * KT) / threads;
  const A = (i: string, q: string) => (ta ? `a0[ao + ${q} * ${u32(m)} + ${i}]` : `a0[ao + ${i} * ${u32(k)} + ${q}]`);
  const B = (q: string, j: string) => (tb ? `a1[bo + ${j} * ${u32(k)} + ${q}]` : `a1[bo + ${q} * ${u32(n)} + ${j}]`);
  const clamp = (x: string, hi: number) => `min(${x}, ${u32(hi - 1)})`;
  return {
    workgroup: [G, G, 1],
    dispatch: [Math.ceil(n / TILE), Math.ceil(m / TILE), nb],
    helpers: `${helpers}

var<workgroup> ta_: array<f32, ${KT * TILE}>;
var<workgroup> tb_: array<f32, ${KT * TILE}>;`,
    body: `let i0 = wid.y * ${u32(TILE)};
  let j0 = wid.x * ${u32(TILE)};
  let z = wid.z;
  let tx = lid % ${u32(G)};
  let ty = lid / ${u32(G)};
  let ao = aoff(z);
  let bo = boff(z);
  var acc: array<f32, ${T * T}>;
  for (var q0 = 0u; q0 < ${u32(k)}; q0 += ${u32(KT)}) {
    for (var e = 0u; e < ${u32(loads)}; e++) {
      let x = lid + e * ${u32(threads)};
      let ar = x / ${u32(KT)};
      let aq = x % ${u32(KT)};
      let gi = i0 + ar;
      let ga = q0 + aq;
      ta_[aq * ${u32(TILE)} + ar] =
        select(0.0f, ${A(clamp('gi', m), clamp('ga', k))}, gi < ${u32(m)} && ga < ${u32(k)});
      let bq = x / ${u32(TILE)};
      let bc = x % ${u32(TILE)};
      let gj = j0 + bc;
      let gb = q0 + bq;
      tb_[bq * ${u32(TILE)} + bc] =
        select(0.0f, ${B(clamp('gb', k), clamp('gj', n))}, gj < ${u32(n)} && gb < ${u32(k)});
    }
    workgroupBarrier();
    for (var q = 0u; q < ${u32(KT)}; q++) {
      var av: array<f32, ${T}>;
      var bv: array<f32, ${T}>;
      for (var t = 0u; t < ${u32(T)}; t++) {
        av[t] = ta_[q * ${u32(TILE)} + ty * ${u32(T)} + t];
        bv[t] = tb_[q * ${u32(TILE)} + tx * ${u32(T)} + t];
      }
      for (var r = 0u; r < ${u32(T)}; r++) {
        for (var c = 0u; c < ${u32(T)}; c++) { acc[r * ${u32(T)} + c] += av[r] * bv[c]; }
      }
    }
    workgroupBarrier();
  }
  let co = z * ${u32(m * n)};
  for (var r = 0u; r < ${u32(T)}; r++) {
    for (var c = 0u; c < ${u32(T)}; c++) {
      let gi = i0 + ty * ${u32(T)} + r;
      let gj = j0 + tx * ${u32(T)} + c;
      if (gi < ${u32(m)} && gj < ${u32(n)}) { res[co + gi * ${u32(n)} + gj] = acc[r * ${u32(T)} + c]; }
    }
  }`,
  };
}

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
  return {
    ta,
    tb,
    m,
    n,
    k,
    nb,
    helpers: [offsetFn('aoff', batch, aBatch), offsetFn('boff', batch, bBatch)].join('\n\n'),
  };
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
    const aRow = (t: number) =>
      `let av${t} = select(0.0f, ${A(`min(i0 + ${t}u, ${u32(m - 1)})`, 'q')}, i0 + ${t}u < ${u32(m)});`;
    const bCol = (t: number) =>
      `let bv${t} = select(0.0f, ${B('q', `min(j0 + ${t}u, ${u32(n - 1)})`)}, j0 + ${t}u < ${u32(n)});`;
    const body = `let j0 = gid.x * ${T}u;
  let i0 = gid.y * ${T}u;
  let z = gid.z;
  if (i0 >= ${u32(m)} || j0 >= ${u32(n)}) { return; }
  let ao = aoff(z);
  let bo = boff(z);
  var acc: array<f32, ${T * T}>;
  for (var q = 0u; q < ${u32(k)}; q++) {
    ${idx.map(aRow).join('\n    ')}
    // sparse operands (bag-of-words features, dropout) skip whole steps
    if (${idx.map((t) => `av${t} == 0.0f`).join(' && ')}) { continue; }
    ${idx.map(bCol).join('\n    ')}
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
