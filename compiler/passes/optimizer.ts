import { Builder } from '../ir/builder.ts';
import type { Module, Value } from '../ir/graph.ts';
import { leafName } from '../ir/graph.ts';
import { accumulationOf, globMatch, type OptimizerConfig } from '../sema/plan.ts';
import { gradOutput } from './autodiff.ts';
import { shardAttrs } from './partition-tensor.ts';
import type { Pass } from './pass.ts';
import { masterOf } from './precision.ts';

/**
 * Appends the optimizer update of every parameter that has a gradient: SGD, Adam (L2 weight decay
 * added to the gradient) or AdamW (decoupled decay), with Adam's moments as `state` leaves. With gradient
 * accumulation over k micro-batches (`batch: { global, micro }`), a run of the step is one micro-batch: each
 * gradient, over k, is added to an fp32 `<param>.grad_acc` state, and the update reads the sum; every leaf keeps its
 * value except in the run that ends an optimizer step (`last_micro`, 1 every k-th run), where the update lands and
 * the sum is cleared. The blends multiply by 0 and 1, so either side passes bitwise.
 */
export const optimizer: Pass = {
  name: 'optimizer',
  doc: 'SGD / Adam / AdamW updates of every trained parameter, with per-parameter weight decay',
  run(m, { config }) {
    if (config.task.kind !== 'train') return m;
    return applyOptimizer(m, config.task.optimizer, accumulationOf(config));
  },
};

/** What the optimizer pass writes, by the names it gives its ops and the attribute of its fp32 sums. */
export const isUpdateOp = (v: Value) => !!v.name?.endsWith('.update');
/** A micro-batch's gradient added to its parameter's fp32 sum (gradient accumulation). */
export const isAccumulateOp = (v: Value) => !!v.name?.endsWith('.accumulate');
/** A parameter's fp32 sum of micro-batches' gradients (`<param>.grad_acc`). */
export const isGradSum = (v: Value) => v.attrs['grad_acc'] !== undefined;

export function weightDecayOf(o: OptimizerConfig, param: string): number {
  return o.weightDecay.find((w) => globMatch(w.pattern, param))?.value ?? 0;
}

function applyOptimizer(m: Module, o: OptimizerConfig, k: number): Module {
  const b = new Builder(m);
  const updates = [...m.updates];
  const scalarInput = (name: string, dtype: 'i32' | 'f32', attrs: Record<string, string | number>) =>
    m.values.find((v) => v.op === 'input' && leafName(v) === name) ??
    b.leaf('input', name, { dtype, shape: [] }, attrs);
  let step: Value | undefined;
  // the optimizer's step: the run counter, or under accumulation the runs over k
  const stepInput = () =>
    (step ??=
      k > 1
        ? scalarInput('optimizer_step', 'i32', { feed: 'step', every: k })
        : scalarInput('step', 'i32', { feed: 'step' }));
  let lastRun: [Value, Value] | undefined;
  /** 1 and 0 in the run that applies the update, 0 and 1 in the others. */
  const last = () => {
    if (lastRun) return lastRun;
    const l = scalarInput('last_micro', 'f32', { feed: 'last_micro', every: k });
    return (lastRun = [l, b.op('sub', [b.scalar(1), l])]);
  };
  /** What a leaf holds after the run: `next` in the run that applies the update, `now` in the others. */
  const blend = (next: Value, now: Value) =>
    k > 1 ? b.op('add', [b.op('mul', [next, last()[0]]), b.op('mul', [now, last()[1]])]) : next;
  const outputs = new Map(m.outputs.map((o) => [o.name, o.value]));
  const masters = new Map(
    m.values.filter((v) => v.op === 'state' && v.attrs['master'] !== undefined).map((v) => [leafName(v), v]),
  );
  for (const param of m.values.filter((v) => v.op === 'param')) {
    const name = leafName(param);
    const g0 = outputs.get(gradOutput(name));
    if (!g0) continue;
    // a half-precision parameter: the optimizer updates its fp32 master copy, then casts it back
    const master = masters.get(masterOf(name));
    const p = master ?? param;
    const target = leafName(p);
    b.defaults = { name: `${name}.update`, loc: p.loc };
    const done = (next: Value) => {
      const p1 = blend(next, p);
      return master
        ? [
            { target, value: p1 },
            { target: name, value: b.op('cast', [p1], { dtype: param.type.dtype }) },
          ]
        : [{ target, value: p1 }];
    };
    // accumulated: the sum so far plus this micro-batch's share, in fp32 (Megatron's main gradients)
    let gAcc: Value | undefined;
    if (k > 1) {
      const acc = b.leaf(
        'state',
        `${name}.grad_acc`,
        { dtype: 'f32', shape: p.type.shape },
        {
          init: 'zeros',
          grad_acc: name,
          ...shardAttrs(p),
        },
      );
      b.defaults = { name: `${name}.accumulate`, loc: p.loc };
      const g32 = g0.type.dtype === 'f32' ? g0 : b.op('cast', [g0], { dtype: 'f32' });
      gAcc = b.op('add', [acc, b.op('mul', [g32, b.scalar(1 / k)])]);
      b.defaults = { name: `${name}.update`, loc: p.loc };
      updates.push({ target: `${name}.grad_acc`, value: b.op('mul', [gAcc, last()[1]]) });
    }
    const wd = weightDecayOf(o, name);
    const coupled = o.kind !== 'adamw' && wd > 0;
    const gIn = gAcc ?? (master && coupled ? b.op('cast', [g0], { dtype: p.type.dtype }) : g0);
    const g = coupled ? b.op('add', [gIn, b.op('mul', [p, b.scalar(wd, p.type.dtype)])]) : gIn;
    if (o.kind === 'sgd') {
      updates.push(...done(b.op('sgd', [p, g], { lr: o.lr })));
      continue;
    }
    const m0 = b.leaf('state', `${name}.adam_m`, p.type, { init: 'zeros', ...shardAttrs(p) });
    const v0 = b.leaf('state', `${name}.adam_v`, p.type, { init: 'zeros', ...shardAttrs(p) });
    const m1 = b.op('adam_m', [m0, g], { beta: o.beta1 });
    const v1 = b.op('adam_v', [v0, g], { beta: o.beta2 });
    const p1 = b.op('adam_step', [p, m1, v1, stepInput()], {
      lr: o.lr,
      beta1: o.beta1,
      beta2: o.beta2,
      eps: o.eps,
      decay: o.kind === 'adamw' ? wd : 0,
    });
    updates.push(
      ...done(p1),
      { target: `${name}.adam_m`, value: blend(m1, m0) },
      { target: `${name}.adam_v`, value: blend(v1, v0) },
    );
  }
  return { ...m, values: b.values, updates };
}
