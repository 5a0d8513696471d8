import type { Value } from '../../ir/graph.ts';
import { num } from '../../ir/ops/util.ts';
import { count, type Emitter, f32, linear, shape, u32, WG } from './kernel.ts';

/** Ops over the last axis: one thread per row, the same loops as the CPU reference. */
function perRow(v: Value, n: number, body: (n: string) => string, helpers = ''): ReturnType<Emitter> {
  const rows = count(v) / n;
  const { dispatch, index } = linear(rows);
  return { workgroup: [WG, 1, 1], dispatch, helpers, body: `${index}\n  let o = i * ${u32(n)};\n  ${body(u32(n)).trim()}` };
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

const last = (v: Value) => shape(v).at(-1)!;

export const rowEmitters: Record<string, Emitter> = {
  softmax: (v) => perRow(v, last(v), (n) => `let l = lse(o, ${n});\n  for (var j = 0u; j < ${n}; j++) { res[o + j] = exp(a0[o + j] - l); }`, LSE),
  log_softmax: (v) => perRow(v, last(v), (n) => `let l = lse(o, ${n});\n  for (var j = 0u; j < ${n}; j++) { res[o + j] = a0[o + j] - l; }`, LSE),
  softmax_grad: (v) =>
    perRow(v, last(v), (n) => `var s = 0.0f;\n  for (var j = 0u; j < ${n}; j++) { s += a1[o + j] * a0[o + j]; }\n  for (var j = 0u; j < ${n}; j++) { res[o + j] = a0[o + j] * (a1[o + j] - s); }`),
  log_softmax_grad: (v) =>
    perRow(v, last(v), (n) => `var s = 0.0f;\n  for (var j = 0u; j < ${n}; j++) { s += a1[o + j]; }\n  for (var j = 0u; j < ${n}; j++) { res[o + j] = a1[o + j] - exp(a0[o + j]) * s; }`),
  layernorm: (v) => perRow(v, last(v), (n) => `let st = stats(o, ${n});\n  for (var j = 0u; j < ${n}; j++) { res[o + j] = (a0[o + j] - st.x) * st.y; }`, STATS(num(v.attrs, 'eps'))),
  layernorm_grad: (v) =>
    perRow(
      v,
      last(v),
      (n) => `let st = stats(o, ${n});
  var sdy = 0.0f;
  var sdyx = 0.0f;
  for (var j = 0u; j < ${n}; j++) { sdy += a1[o + j]; sdyx += a1[o + j] * (a0[o + j] - st.x) * st.y; }
  for (var j = 0u; j < ${n}; j++) {
    let xh = (a0[o + j] - st.x) * st.y;
    res[o + j] = st.y * (a1[o + j] - sdy / f32(${n}) - xh * sdyx / f32(${n}));
  }`,
      STATS(num(v.attrs, 'eps')),
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
