import { Builder } from '../ir/builder.ts';
import type { Module, Value } from '../ir/graph.ts';
import { leafName } from '../ir/graph.ts';
import { globMatch, type OptimizerConfig } from '../sema/plan.ts';
import { gradOutput } from './autodiff.ts';
import type { Pass } from './pass.ts';
import { masterOf } from './precision.ts';

/**
 * Appends the optimizer update of every parameter that has a gradient: SGD, Adam (L2 weight decay
 * added to the gradient) or AdamW (decoupled decay), with Adam's moments as `state` leaves.
 */
export const optimizer: Pass = {
  name: 'optimizer',
  doc: 'SGD / Adam / AdamW updates of every trained parameter, with per-parameter weight decay',
  run(m, { config }) {
    if (config.task.kind !== 'train') return m;
    return applyOptimizer(m, config.task.optimizer);
  },
};

export function weightDecayOf(o: OptimizerConfig, param: string): number {
  return o.weightDecay.find((w) => globMatch(w.pattern, param))?.value ?? 0;
}

function applyOptimizer(m: Module, o: OptimizerConfig): Module {
  const b = new Builder(m);
  const updates = [...m.updates];
  let step: Value | undefined = m.values.find((v) => v.op === 'input' && leafName(v) === 'step');
  const stepInput = () => (step ??= b.leaf('input', 'step', { dtype: 'i32', shape: [] }, { feed: 'step' }));
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
    const done = (p1: Value) =>
      master
        ? [
            { target, value: p1 },
            { target: name, value: b.op('cast', [p1], { dtype: param.type.dtype }) },
          ]
        : [{ target, value: p1 }];
    b.defaults = { name: `${name}.update`, loc: p.loc };
    const wd = weightDecayOf(o, name);
    const coupled = o.kind !== 'adamw' && wd > 0;
    const g = coupled
      ? b.op('add', [
          master ? b.op('cast', [g0], { dtype: p.type.dtype }) : g0,
          b.op('mul', [p, b.scalar(wd, p.type.dtype)]),
        ])
      : g0;
    if (o.kind === 'sgd') {
      updates.push(...done(b.op('sgd', [p, g], { lr: o.lr })));
      continue;
    }
    const m0 = b.leaf('state', `${name}.adam_m`, p.type, { init: 'zeros' });
    const v0 = b.leaf('state', `${name}.adam_v`, p.type, { init: 'zeros' });
    const m1 = b.op('adam_m', [m0, g], { beta: o.beta1 });
    const v1 = b.op('adam_v', [v0, g], { beta: o.beta2 });
    const p1 = b.op('adam_step', [p, m1, v1, stepInput()], {
      lr: o.lr,
      beta1: o.beta1,
      beta2: o.beta2,
      eps: o.eps,
      decay: o.kind === 'adamw' ? wd : 0,
    });
    updates.push(...done(p1), { target: `${name}.adam_m`, value: m1 }, { target: `${name}.adam_v`, value: v1 });
  }
  return { ...m, values: b.values, updates };
}
