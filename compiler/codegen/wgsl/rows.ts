import type { Value } from '../../ir/graph.ts';
import { num } from '../../ir/ops/util.ts';
import {
  count,
  type DeviceClass,
  type Emitter,
  f32,
  linear,
  perWorkgroup,
  shape,
  u32,
  WG,
  WG_REDUCE,
} from './kernel.ts';

/** Ops over the last axis: one thread per row, the same loops as the CPU reference. */
function perRow(v: Value, n: number, body: (n: string) => string, helpers = ''): ReturnType<Emitter> {
  const rows = count(v) / n;
  const { dispatch, index } = linear(rows);
  return {
    workgroup: [WG, 1, 1],
    dispatch,
    helpers,
    body: `${index}\n  let o = i * ${u32(n)};\n  ${body(u32(n)).trim()}`,
  };
}

const STATS = (eps: number) => `fn stats(o: u32, n: u32) -> vec2f {
  var mean = 0.0f;
  for (var j = 0u; j < n; j++) { mean += a0[o + j]; }
  mean = mean / f32(n);
  var vr = 0.0f;
  for (var j = 0u; j < n; j++) { let d = a0[o + j] - mean; vr += d * d; }
  return vec2f(mean, 1.0f / sqrt(vr / f32(n) + ${f32(eps)}));
}`;

const LSE = `fn lse(o: u32, n: u32) -> f32 {
  var mx = a0[o];
  for (var j = 1u; j < n; j++) { mx = max(mx, a0[o + j]); }
  var s = 0.0f;
  for (var j = 0u; j < n; j++) { s += exp(a0[o + j] - mx); }
  return mx + log(s);
}`;

/**
 * Ops over the last axis for GPUs: one workgroup per row; its invocations stride over the row and
 * combine row statistics with workgroup reductions (`wsum`, `wmax`). `j` strides, `o` is the row's offset.
 */
function perRowWorkgroup(v: Value, n: number, body: string): ReturnType<Emitter> {
  const rows = count(v) / n;
  const { dispatch, index } = perWorkgroup(rows);
  return {
    workgroup: [WG, 1, 1],
    dispatch,
    helpers: WG_REDUCE,
    body: `${index}\n  let o = w * ${u32(n)};\n  ${body.trim()}`,
  };
}

/** `for` over this invocation's share of a row of n. */
const strided = (n: number, stmt: string) => `for (var j = lid; j < ${u32(n)}; j += ${u32(WG)}) { ${stmt} }`;

/** Declares `l`, the row's log-sum-exp of a0. */
const wgLse = (n: number) => `var mx = ${f32(-Infinity)};
  ${strided(n, 'mx = max(mx, a0[o + j]);')}
  mx = wmax(mx, lid);
  var s = 0.0f;
  ${strided(n, 's += exp(a0[o + j] - mx);')}
  let l = mx + log(wsum(s, lid));`;

/** Declares `mean` and `inv` (1 / standard deviation) of the row of a0. */
const wgStats = (n: number, eps: number) => `var sx = 0.0f;
  ${strided(n, 'sx += a0[o + j];')}
  let mean = wsum(sx, lid) / ${f32(n)};
  var sd = 0.0f;
  ${strided(n, 'let d = a0[o + j] - mean; sd += d * d;')}
  let inv = 1.0f / sqrt(wsum(sd, lid) / ${f32(n)} + ${f32(eps)});`;

const gpuRowEmitters: Record<string, (v: Value, n: number) => ReturnType<Emitter>> = {
  softmax: (v, n) => perRowWorkgroup(v, n, `${wgLse(n)}\n  ${strided(n, 'res[o + j] = exp(a0[o + j] - l);')}`),
  log_softmax: (v, n) => perRowWorkgroup(v, n, `${wgLse(n)}\n  ${strided(n, 'res[o + j] = a0[o + j] - l;')}`),
  softmax_grad: (v, n) =>
    perRowWorkgroup(
      v,
      n,
      `var p = 0.0f;\n  ${strided(n, 'p += a1[o + j] * a0[o + j];')}\n  let s = ` +
        `wsum(p, lid);\n  ${strided(n, 'res[o + j] = a0[o + j] * (a1[o + j] - s);')}`,
    ),
  log_softmax_grad: (v, n) =>
    perRowWorkgroup(
      v,
      n,
      `var p = 0.0f;\n  ${strided(n, 'p += a1[o + j];')}\n  let s = wsum(p, ` +
        `lid);\n  ${strided(n, 'res[o + j] = a1[o + j] - exp(a0[o + j]) * s;')}`,
    ),
  layernorm_rstd: (v) => {
    const n = last(v.inputs[0]!);
    const { dispatch, index } = perWorkgroup(count(v));
    return {
      workgroup: [WG, 1, 1],
      dispatch,
      helpers: WG_REDUCE,
      body:
        `${index}\n  let o = w * ${u32(n)};\n  ` +
        `${wgStats(n, num(v.attrs, 'eps'))}\n  if (lid == 0u) { res[w] = inv; }`,
    };
  },
  layernorm: (v, n) =>
    perRowWorkgroup(
      v,
      n,
      `var sx = 0.0f;\n  ${strided(n, 'sx += a0[o + j];')}\n  let mean = wsum(sx, lid) / ` +
        `${f32(n)};\n  let inv = a1[w];\n  ${strided(n, 'res[o + j] = (a0[o + j] - mean) * inv;')}`,
    ),
  layernorm_grad: (v, n) =>
    perRowWorkgroup(
      v,
      n,
      `var p = 0.0f;
  var q = 0.0f;
  ${strided(n, 'p += a2[o + j]; q += a2[o + j] * a0[o + j];')}
  let sdy = wsum(p, lid) / ${f32(n)};
  let sdyy = wsum(q, lid) / ${f32(n)};
  let inv = a1[w];
  ${strided(n, 'res[o + j] = inv * (a2[o + j] - sdy - a0[o + j] * sdyy);')}`,
    ),
  cross_entropy_grad: (v, n) => {
    const rows = count(v.inputs[1]!);
    return perRowWorkgroup(
      v,
      n,
      `let g = a2[0] / ${f32(rows)};\n  let t = u32(a1[w]);\n  ${wgLse(n)}\n  ` +
        `${strided(n, 'res[o + j] = exp(a0[o + j] - l) * g - select(0.0f, g, j == t);')}`,
    );
  },
};

const last = (v: Value) => shape(v).at(-1)!;

const cpuRowEmitters: Record<string, Emitter> = {
  softmax: (v) =>
    perRow(
      v,
      last(v),
      (n) => `let l = lse(o, ${n});\n  for (var j = 0u; j < ${n}; j++) { res[o + j] = exp(a0[o + j] - l); }`,
      LSE,
    ),
  log_softmax: (v) =>
    perRow(
      v,
      last(v),
      (n) => `let l = lse(o, ${n});\n  for (var j = 0u; j < ${n}; j++) { res[o + j] = a0[o + j] - l; }`,
      LSE,
    ),
  softmax_grad: (v) =>
    perRow(
      v,
      last(v),
      (n) =>
        `var s = 0.0f;\n  for (var j = 0u; j < ${n}; j++) { s += a1[o + j] * a0[o + j]; }\n ` +
        ` for (var j = 0u; j < ${n}; j++) { res[o + j] = a0[o + j] * (a1[o + j] - s); }`,
    ),
  log_softmax_grad: (v) =>
    perRow(
      v,
      last(v),
      (n) =>
        `var s = 0.0f;\n  for (var j = 0u; j < ${n}; j++) { s += a1[o + j]; }\n  for ` +
        `(var j = 0u; j < ${n}; j++) { res[o + j] = a1[o + j] - exp(a0[o + j]) * s; }`,
    ),
  layernorm_rstd: (v) => {
    const n = last(v.inputs[0]!);
    const { dispatch, index } = linear(count(v));
    return {
      workgroup: [WG, 1, 1],
      dispatch,
      helpers: STATS(num(v.attrs, 'eps')),
      body: `${index}\n  res[i] = stats(i * ${u32(n)}, ${u32(n)}).y;`,
    };
  },
  layernorm: (v) =>
    perRow(
      v,
      last(v),
      (n) =>
        `var mean = 0.0f;\n  for (var j = 0u; j < ${n}; j++) { mean += a0[o + j]; }\n  mean = mean / ` +
        `f32(${n});\n  for (var j = 0u; j < ${n}; j++) { res[o + j] = (a0[o + j] - mean) * a1[i]; }`,
    ),
  layernorm_grad: (v) =>
    perRow(
      v,
      last(v),
      (n) => `var sdy = 0.0f;
  var sdyy = 0.0f;
  for (var j = 0u; j < ${n}; j++) { sdy += a2[o + j]; sdyy += a2[o + j] * a0[o + j]; }
  for (var j = 0u; j < ${n}; j++) {
    res[o + j] = a1[i] * (a2[o + j] - sdy / f32(${n}) - a0[o + j] * sdyy / f32(${n}));
  }`,
    ),
  cross_entropy_grad: (v) => {
    const rows = count(v.inputs[1]!);
    return perRow(
      v,
      last(v),
      (n) => `let g = a2[0] / ${f32(rows)};
  let l = lse(o, ${n});
  for (var j = 0u; j < ${n}; j++) { res[o + j] = exp(a0[o + j] - l) * g; }
  let t = u32(a1[i]);
  res[o + t] -= g;`,
      LSE,
    );
  },
};

export const rowEmitters: Record<string, Emitter> = {
  ...Object.fromEntries(
    Object.entries(cpuRowEmitters).map(([op, cpu]) => [
      op,
      (v: Value, cls: DeviceClass) => (cls === 'gpu' ? gpuRowEmitters[op]!(v, last(v)) : cpu(v, cls)),
    ]),
  ),
  cross_entropy: (v) => {
    const c = shape(v.inputs[0]!).at(-1)!;
    const rows = count(v.inputs[1]!);
    // one workgroup: each thread sums a strided set of rows, then a tree reduction in workgroup memory
    return {
      workgroup: [WG, 1, 1],
      dispatch: [1, 1, 1],
      helpers: `var<workgroup> part: array<f32, ${WG}>;\n\n${LSE}`,
      body: `var acc = 0.0f;
  for (var r = lid; r < ${u32(rows)}; r += ${u32(WG)}) {
    let o = r * ${u32(c)};
    acc += lse(o, ${u32(c)}) - a0[o + u32(a1[r])];
  }
  part[lid] = acc;
  workgroupBarrier();
  for (var s = ${u32(WG / 2)}; s > 0u; s = s >> 1u) {
    if (lid < s) { part[lid] += part[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { res[0] = part[0] / ${f32(rows)}; }`,
    };
  },
};
