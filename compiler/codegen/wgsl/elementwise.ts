import type { Value } from '../../ir/graph.ts';
import { adamStepAttrs } from '../../ir/ops/optimizer.ts';
import { ints, num } from '../../ir/ops/util.ts';
import { parseExpr, type Expr } from '../../ir/ops/fused.ts';
import {
  broadcastStrides,
  count,
  type DeviceClass,
  elementLoop,
  ELEMENTS_PER_INVOCATION,
  type Emitter,
  f32,
  linear,
  offsetFn,
  shape,
  strides,
  u32,
  WG,
} from './kernel.ts';

const SQRT_2_OVER_PI = f32(Math.sqrt(2 / Math.PI));

/** WGSL for each unary function of `x`. tanh's argument is clamped: the result is ±1 to f32 precision there. */
const UNARY: Record<string, string> = {
  neg: '-x',
  relu: 'max(x, 0.0f)',
  gelu: `0.5f * x * (1.0f + tanh(clamp(${SQRT_2_OVER_PI} * (x + 0.044715f * x * x * x), -15.0f, 15.0f)))`,
  tanh: 'tanh(clamp(x, -15.0f, 15.0f))',
  exp: 'exp(x)',
  log: 'log(x)',
  sigmoid: '1.0f / (1.0f + exp(-x))',
  sqrt: 'sqrt(x)',
};

/** Backward ops of the unary functions: (s = saved x or y, dy). */
const UNARY_GRAD: Record<string, string> = {
  relu_grad: 'select(0.0f, dy, s > 0.0f)',
  gelu_grad: `gelu_grad(s, dy)`,
  tanh_grad: 'dy * (1.0f - s * s)',
  sigmoid_grad: 'dy * s * (1.0f - s)',
};

const GELU_GRAD_FN = `fn gelu_grad(x: f32, dy: f32) -> f32 {
  let t = tanh(clamp(${SQRT_2_OVER_PI} * (x + 0.044715f * x * x * x), -15.0f, 15.0f));
  let du = ${SQRT_2_OVER_PI} * (1.0f + 3.0f * 0.044715f * x * x);
  return dy * (0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du);
}`;

const BINARY: Record<string, string> = { add: 'x + y', sub: 'x - y', mul: 'x * y', div: 'x / y' };

/**
 * out[i] = expr over operands read at broadcast offsets, after the `prelude` statements (which may
 * `continue` to the next element), a run of elements per invocation as the device class wants.
 */
function map(
  v: Value,
  cls: DeviceClass,
  expr: string,
  operands: { name: string; of: Value }[],
  extra = '',
  prelude: string[] = [],
): ReturnType<Emitter> {
  const n = count(v);
  const helpers: string[] = [];
  const loads = operands.map(({ name, of }) => {
    const k = v.inputs.indexOf(of);
    const st = broadcastStrides(shape(v), shape(of));
    const same = shape(of).length === shape(v).length && shape(of).every((d, j) => d === shape(v)[j]);
    if (same) return `let ${name} = a${k}[i];`;
    helpers.push(offsetFn(`off${k}`, shape(v), st));
    return `let ${name} = a${k}[off${k}(i)];`;
  });
  if (extra) helpers.push(extra);
  const { dispatch, body } = elementLoop(n, ELEMENTS_PER_INVOCATION[cls], [...loads, ...prelude, `res[i] = ${expr};`]);
  return { workgroup: [WG, 1, 1], dispatch, helpers: helpers.join('\n\n'), body };
}

const FMIX = `fn fmix32(h0: u32) -> u32 {
  var h = h0;
  h = h ^ (h >> 16u);
  h = h * 0x85ebca6bu;
  h = h ^ (h >> 13u);
  h = h * 0xc2b2ae35u;
  h = h ^ (h >> 16u);
  return h;
}`;

export const elementwiseEmitters: Record<string, Emitter> = {
  ...Object.fromEntries(
    Object.entries(UNARY).map(([op, e]) => [
      op,
      (v: Value, cls: DeviceClass) => map(v, cls, e, [{ name: 'x', of: v.inputs[0]! }]),
    ]),
  ),
  ...Object.fromEntries(
    Object.entries(UNARY_GRAD).map(([op, e]) => [
      op,
      (v: Value, cls: DeviceClass) =>
        map(
          v,
          cls,
          e,
          [
            { name: 's', of: v.inputs[0]! },
            { name: 'dy', of: v.inputs[1]! },
          ],
          op === 'gelu_grad' ? GELU_GRAD_FN : '',
        ),
    ]),
  ),
  ...Object.fromEntries(
    Object.entries(BINARY).map(([op, e]) => [
      op,
      (v: Value, cls: DeviceClass) =>
        map(v, cls, e, [
          { name: 'x', of: v.inputs[0]! },
          { name: 'y', of: v.inputs[1]! },
        ]),
    ]),
  ),
  broadcast_to: (v, cls) => map(v, cls, 'x', [{ name: 'x', of: v.inputs[0]! }]),
  reshape: (v) => {
    const { dispatch, index } = linear(count(v));
    return { workgroup: [WG, 1, 1], dispatch, body: `${index}\n  res[i] = a0[i];` };
  },
  // WGSL kernels compute and store f32: a cast between f32 tensors is a copy (half-precision plans are not built for
  // WebGPU)
  cast: (v) => {
    const { dispatch, index } = linear(count(v));
    return { workgroup: [WG, 1, 1], dispatch, body: `${index}\n  res[i] = a0[i];` };
  },
  rope: (v) => {
    const [t, h] = shape(v).slice(-2) as [number, number];
    const half = h / 2;
    const { dispatch, index } = linear(count(v));
    const lines = [
      `let j = i % ${u32(h)};`,
      `let p = (i / ${u32(h)}) % ${u32(t)} + ${u32(Number(v.attrs['offset'] ?? 0))};`,
      `let angle = ${f32(num(v.attrs, 'sign'))} * f32(p) * ` +
        `pow(${f32(num(v.attrs, 'base'))}, ${f32(-2 / h)} * f32(j % ${u32(half)}));`,
      'let c = cos(angle);',
      'let s = sin(angle);',
      `if (j < ${u32(half)}) { res[i] = a0[i] * c - a0[i + ${u32(half)}] ` +
        `* s; } else { res[i] = a0[i] * c + a0[i - ${u32(half)}] * s; }`,
    ];
    return { workgroup: [WG, 1, 1], dispatch, body: `${index}\n  ${lines.join('\n  ')}` };
  },
  const: (v) => ({
    workgroup: [1, 1, 1],
    dispatch: [1, 1, 1],
    body: `res[0] = ${v.type.dtype === 'i32' ? `${num(v.attrs, 'value')}i` : f32(num(v.attrs, 'value'))};`,
  }),
  full: (v) => {
    const { dispatch, index } = linear(count(v));
    return {
      workgroup: [WG, 1, 1],
      dispatch,
      body:
        `${index}\n  res[i] = ` +
        `${v.type.dtype === 'i32' ? `${num(v.attrs, 'value')}i` : f32(num(v.attrs, 'value'))};`,
    };
  },
  max_grad: (v, cls) =>
    map(v, cls, 'select(0.0f, dy, x == y)', [
      { name: 'x', of: v.inputs[0]! },
      { name: 'y', of: v.inputs[1]! },
      { name: 'dy', of: v.inputs[2]! },
    ]),
  dropout: (v, cls) => {
    const p = num(v.attrs, 'p');
    const seed = num(v.attrs, 'seed');
    return map(
      v,
      cls,
      `select(x * ${f32(1 / (1 - p))}, 0.0f, u < ${f32(p)})`,
      [{ name: 'x', of: v.inputs[0]! }],
      FMIX,
      [
        'if (x == 0.0f) { res[i] = 0.0f; continue; } // a zero stays zero: skip its hash (sparse features)',
        'let step = u32(a1[0]);',
        `let u = f32(fmix32(fmix32(fmix32(${u32(seed)}) ^ step) ^ i) >> 8u) / 16777216.0f;`,
      ],
    );
  },
  causal_mask: (v, cls) => {
    const [t, s] = shape(v).slice(-2) as [number, number];
    return map(
      v,
      cls,
      `select(x, ${f32(num(v.attrs, 'fill'))}, (i % ${u32(s)}) > ((i / ${u32(s)}) % ${u32(t)}) + ${u32(s - t)})`,
      [{ name: 'x', of: v.inputs[0]! }],
    );
  },
  transpose: (v) => {
    const perm = ints(v.attrs, 'perm');
    const inStr = strides(shape(v.inputs[0]!));
    return withOffset(
      v,
      offsetFn(
        'src',
        shape(v),
        perm.map((p) => inStr[p]!),
      ),
    );
  },
  slice: (v) => withOffset(v, offsetFn('src', shape(v), strides(shape(v.inputs[0]!)), ints(v.attrs, 'starts'))),
  pad: (v) => {
    const before = ints(v.attrs, 'before');
    const inShape = shape(v.inputs[0]!);
    const os = strides(shape(v));
    const is = strides(inShape);
    const lines = shape(v).map((d, k) => `let c${k} = i32((i / ${u32(os[k]!)}) % ${u32(d)}) - ${before[k]!}i;`);
    const inside =
      shape(v)
        .map((_, k) => `c${k} >= 0i && c${k} < ${inShape[k]!}i`)
        .join(' && ') || 'true';
    const off =
      shape(v)
        .map((_, k) => `u32(c${k}) * ${u32(is[k]!)}`)
        .join(' + ') || '0u';
    const { dispatch, index } = linear(count(v));
    return {
      workgroup: [WG, 1, 1],
      dispatch,
      body:
        `${index}\n  ${lines.join('\n  ')}\n  if (${inside}) { ` +
        `res[i] = a0[${off}]; } else { res[i] = ${zero(v)}; }`,
    };
  },
  concat: (v) => {
    const ax = ((num(v.attrs, 'axis') % shape(v).length) + shape(v).length) % shape(v).length;
    const inner = shape(v)
      .slice(ax + 1)
      .reduce((a, d) => a * d, 1);
    const total = shape(v)[ax]!;
    let at = 0;
    const branches = v.inputs.map((x, k) => {
      const w = shape(x)[ax]!;
      const cond = `c < ${u32(at + w)}`;
      const stmt = `res[i] = a${k}[o * ${u32(w * inner)} + (c - ${u32(at)}) * ${u32(inner)} + r];`;
      at += w;
      return k === v.inputs.length - 1 ? `{ ${stmt} }` : `if (${cond}) { ${stmt} } else `;
    });
    const { dispatch, index } = linear(count(v));
    return {
      workgroup: [WG, 1, 1],
      dispatch,
      body:
        `${index}\n  let r = i % ${u32(inner)};\n  let c = (i / ${u32(inner)}) % ` +
        `${u32(total)};\n  let o = i / ${u32(inner * total)};\n  ${branches.join('')}`,
    };
  },
  gather: (v) => {
    const row = shape(v.inputs[0]!)
      .slice(1)
      .reduce((a, d) => a * d, 1);
    const rows = shape(v.inputs[0]!)[0]!;
    const { dispatch, index } = linear(count(v));
    return {
      workgroup: [WG, 1, 1],
      dispatch,
      body:
        `${index}\n  let r = a1[i / ${u32(row)}];\n  if (r < 0i || r >= ${rows}i) { res[i] ` +
        `= ${zero(v)}; return; }\n  res[i] = a0[u32(r) * ${u32(row)} + i % ${u32(row)}];`,
    };
  },
  scatter_add: (v) => {
    const row = shape(v)
      .slice(1)
      .reduce((a, d) => a * d, 1);
    const nIdx = count(v.inputs[1]!);
    const { dispatch, index } = linear(count(v));
    return {
      workgroup: [WG, 1, 1],
      dispatch,
      body:
        `${index}\n  let r = i32(i / ${u32(row)});\n  let j = i % ${u32(row)};\n  var acc = a0[i];\n  for (var k = ` +
        `0u; k < ${u32(nIdx)}; k++) {\n    if (a1[k] == r) { acc += a2[k * ${u32(row)} + j]; }\n  }\n  res[i] = acc;`,
    };
  },
  cache_view: (v) =>
    withOffset(
      v,
      offsetFn(
        'src',
        shape(v),
        strides(shape(v.inputs[0]!)),
        shape(v).map(() => 0),
      ),
    ),
  cache_write: (v) => {
    const ax = ((num(v.attrs, 'axis') % shape(v).length) + shape(v).length) % shape(v).length;
    const inner = shape(v)
      .slice(ax + 1)
      .reduce((a, d) => a * d, 1);
    const cap = shape(v)[ax]!;
    const n = shape(v.inputs[1]!)[ax]!;
    const at = num(v.attrs, 'at');
    const { dispatch, index } = linear(count(v));
    const lines = [
      `let r = i % ${u32(inner)};`,
      `let c = (i / ${u32(inner)}) % ${u32(cap)};`,
      `let o = i / ${u32(inner * cap)};`,
      `if (c >= ${u32(at)} && c < ${u32(at + n)}) { res[i] = a1[(o * ${u32(n)} ` +
        `+ c - ${u32(at)}) * ${u32(inner)} + r]; } else { res[i] = a0[i]; }`,
    ];
    return { workgroup: [WG, 1, 1], dispatch, body: `${index}\n  ${lines.join('\n  ')}` };
  },
  positions: (v) => {
    const { dispatch, index } = linear(count(v));
    return { workgroup: [WG, 1, 1], dispatch, body: `${index}\n  res[i] = i32(i) + ${num(v.attrs, 'offset')}i;` };
  },
  fused: fusedKernel,
  sgd: (v, cls) =>
    map(v, cls, `p - ${f32(num(v.attrs, 'lr'))} * g`, [
      { name: 'p', of: v.inputs[0]! },
      { name: 'g', of: v.inputs[1]! },
    ]),
  adam_m: (v, cls) =>
    map(v, cls, `${f32(num(v.attrs, 'beta'))} * m + ${f32(1 - num(v.attrs, 'beta'))} * g`, [
      { name: 'm', of: v.inputs[0]! },
      { name: 'g', of: v.inputs[1]! },
    ]),
  adam_v: (v, cls) =>
    map(v, cls, `${f32(num(v.attrs, 'beta'))} * m + ${f32(1 - num(v.attrs, 'beta'))} * g * g`, [
      { name: 'm', of: v.inputs[0]! },
      { name: 'g', of: v.inputs[1]! },
    ]),
  adam_step: (v, cls) => {
    const { lr, b1, b2, eps, decay } = adamStepAttrs(v.attrs);
    return map(
      v,
      cls,
      `p - ${f32(lr)} * (m / c1 / (sqrt(w / c2) + ${f32(eps)}) + ${f32(decay)} * p)`,
      [
        { name: 'p', of: v.inputs[0]! },
        { name: 'm', of: v.inputs[1]! },
        { name: 'w', of: v.inputs[2]! },
      ],
      '',
      ['let t = f32(a3[0]);', `let c1 = 1.0f - pow(${f32(b1)}, t);`, `let c2 = 1.0f - pow(${f32(b2)}, t);`],
    );
  },
};

/** WGSL of one call in a fused expression, with its operands already in variables. */
function callWgsl(op: string, args: string[]): string {
  const sub = (tpl: string, names: string[]) =>
    names.reduce((t, n, k) => t.replace(new RegExp(`\\b${n}\\b`, 'g'), args[k]!), tpl);
  if (UNARY[op]) return sub(UNARY[op]!, ['x']);
  if (BINARY[op]) return sub(BINARY[op]!, ['x', 'y']);
  return sub(UNARY_GRAD[op]!, ['s', 'dy']);
}

/** A fused chain: operands loaded once (broadcast as needed), then one `let` per op of the expression. */
function fusedKernel(v: Value, cls: DeviceClass): ReturnType<Emitter> {
  const e = parseExpr(String(v.attrs['expr']));
  const lines: string[] = [];
  let n = 0;
  const emit = (x: Expr): string => {
    if (x.kind === 'operand') return `x${x.index}`;
    if (x.kind === 'const') return f32(x.value);
    const args = x.args.map(emit);
    const t = `t${n++}`;
    lines.push(`let ${t} = ${callWgsl(x.op, args)};`);
    return t;
  };
  const result = emit(e);
  return map(
    v,
    cls,
    result,
    v.inputs.map((of, k) => ({ name: `x${k}`, of })),
    /gelu_grad\(/.test(lines.join('')) ? GELU_GRAD_FN : '',
    lines,
  );
}

const zero = (v: Value) => (v.type.dtype === 'i32' ? '0i' : '0.0f');

function withOffset(v: Value, fn: string): ReturnType<Emitter> {
  const { dispatch, index } = linear(count(v));
  return { workgroup: [WG, 1, 1], dispatch, helpers: fn, body: `${index}\n  res[i] = a0[src(i)];` };
}
