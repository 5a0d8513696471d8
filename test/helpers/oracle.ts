import type { OpName } from '../../compiler/ir/op-names.ts';
import * as tf from '@tensorflow/tfjs';
import { Builder } from '../../compiler/ir/builder.ts';
import type { Attrs, Module, Value } from '../../compiler/ir/graph.ts';
import type { NDArray } from '../../compiler/ir/op.ts';
import { differentiate, gradOutput } from '../../compiler/passes/autodiff.ts';
import { runModule, type Precision } from '../../compiler/interp/interpret.ts';
import { rng } from '../../runtime/init.ts';

let ready: Promise<void> | undefined;
export function tfReady(): Promise<void> {
  ready ??= (async () => {
    await tf.setBackend('cpu');
    await tf.ready();
  })();
  return ready;
}
export { tf };

export interface InputSpec {
  shape: number[];
  /** i32 data (not differentiated), given explicitly. */
  ints?: number[];
  /** Float values are drawn from [lo, hi). */
  range?: [number, number];
  /** Fixed f32 data that is an input, not a differentiated parameter. */
  fixed?: number[];
}

export interface Case {
  op: OpName;
  inputs: InputSpec[];
  attrs?: Attrs;
  /** Builds the case from its operands when the op is one of a group (layernorm takes its row statistic). */
  build?: (b: Builder, ins: Value[]) => Value;
}

/** The module `loss = sum(op(inputs…) * R)` with every float operand a parameter `p<k>`. */
export function singleOpModule(c: Case): Module {
  const b = new Builder();
  const ins: Value[] = c.inputs.map((s, k) =>
    s.ints
      ? b.leaf('input', `i${k}`, { dtype: 'i32', shape: s.shape })
      : s.fixed
        ? b.leaf('input', `f${k}`, { dtype: 'f32', shape: s.shape })
        : b.leaf('param', `p${k}`, { dtype: 'f32', shape: s.shape }),
  );
  const out = c.build ? c.build(b, ins) : b.op(c.op, ins, c.attrs ?? {});
  const r = b.leaf('input', 'R', { dtype: 'f32', shape: out.type.shape as number[] });
  const loss = b.op('sum', [b.op('mul', [out, r])], { axes: out.type.shape.map((_, i) => i), keepdims: false });
  return {
    name: c.op,
    values: b.values,
    outputs: [
      { name: 'loss', value: loss },
      { name: 'out', value: out },
    ],
    updates: [],
  };
}

export function randomData(
  c: Case,
  seed: number,
): { feeds: Map<string, NDArray>; params: Map<string, NDArray>; R: Float64Array } {
  const next = rng(seed);
  const feeds = new Map<string, NDArray>();
  const params = new Map<string, NDArray>();
  c.inputs.forEach((s, k) => {
    const n = s.shape.reduce((a, d) => a * d, 1);
    if (s.ints) feeds.set(`i${k}`, { data: Int32Array.from(s.ints), shape: s.shape });
    else if (s.fixed) feeds.set(`f${k}`, { data: Float64Array.from(s.fixed), shape: s.shape });
    else {
      const [lo, hi] = s.range ?? [-1, 1];
      params.set(`p${k}`, { data: Float64Array.from({ length: n }, () => lo + (hi - lo) * next()), shape: s.shape });
    }
  });
  const m = singleOpModule(c);
  const outShape = m.outputs[1]!.value.type.shape as number[];
  const R = Float64Array.from({ length: outShape.reduce((a, d) => a * d, 1) }, () => next() * 2 - 1);
  feeds.set('R', { data: R, shape: outShape });
  return { feeds, params, R };
}

const cast = (t: NDArray, precision: Precision): NDArray =>
  t.data instanceof Int32Array
    ? t
    : { data: precision === 'f64' ? Float64Array.from(t.data) : Float32Array.from(t.data), shape: t.shape };

/** Gradients of every parameter of `m`'s `loss` output, from our autodiff and the CPU reference. */
export function ourGrads(
  m: Module,
  feeds: Map<string, NDArray>,
  params: Map<string, NDArray>,
  precision: Precision,
  step = 1,
): { loss: number; grads: Map<string, NDArray> } {
  const loss = m.outputs.find((o) => o.name === 'loss')!.value;
  const d = differentiate(m, loss);
  const f = new Map([...feeds].map(([k, v]) => [k, cast(v, precision)]));
  const p = new Map([...params].map(([k, v]) => [k, cast(v, precision)]));
  const out = runModule(d, f, p, { precision, step }).outputs;
  const grads = new Map<string, NDArray>();
  for (const v of m.values)
    if (v.op === 'param') grads.set(String(v.attrs['name']), out.get(gradOutput(String(v.attrs['name'])))!);
  return { loss: out.get('loss')!.data[0]!, grads };
}

/** Loss of `m` in float64 with `params`. */
export function lossF64(m: Module, feeds: Map<string, NDArray>, params: Map<string, NDArray>, step = 1): number {
  const f = new Map([...feeds].map(([k, v]) => [k, cast(v, 'f64')]));
  return runModule(m, f, new Map(params), { precision: 'f64', step }).outputs.get('loss')!.data[0]!;
}

/** Central finite differences of the loss along every coordinate of every parameter (small tensors only). */
export function finiteDiff(
  m: Module,
  feeds: Map<string, NDArray>,
  params: Map<string, NDArray>,
  eps = 1e-6,
  step = 1,
): Map<string, Float64Array> {
  const out = new Map<string, Float64Array>();
  for (const [name, p] of params) {
    const base = Float64Array.from(p.data);
    const g = new Float64Array(base.length);
    for (let i = 0; i < base.length; i++) {
      const at = (s: number) => {
        const a = Float64Array.from(base);
        a[i] = base[i]! + s;
        return new Map(params).set(name, { data: a, shape: p.shape });
      };
      g[i] = (lossF64(m, feeds, at(eps), step) - lossF64(m, feeds, at(-eps), step)) / (2 * eps);
    }
    out.set(name, g);
  }
  return out;
}

/** Directional derivative of the loss along a random direction, by central differences (for big models). */
export function directional(
  m: Module,
  feeds: Map<string, NDArray>,
  params: Map<string, NDArray>,
  seed: number,
  eps = 1e-5,
  step = 1,
): { fd: number; dirs: Map<string, Float64Array> } {
  const next = rng(seed);
  const dirs = new Map<string, Float64Array>();
  for (const [k, p] of params)
    dirs.set(
      k,
      Float64Array.from({ length: p.data.length }, () => next() * 2 - 1),
    );
  const shifted = (s: number) =>
    new Map(
      [...params].map(
        ([k, p]) =>
          [k, { data: Float64Array.from(p.data, (x, i) => x + s * dirs.get(k)![i]!), shape: p.shape }] as const,
      ),
    );
  return { fd: (lossF64(m, feeds, shifted(eps), step) - lossF64(m, feeds, shifted(-eps), step)) / (2 * eps), dirs };
}

/** ‖a − b‖ / max(‖b‖, tiny): the relative error of a whole tensor. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  if (a.length !== b.length) return Infinity;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === b[i]) {
      if (Number.isFinite(b[i]!)) den += b[i]! ** 2;
      continue; // equal values, infinities included, contribute no error
    }
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
}
