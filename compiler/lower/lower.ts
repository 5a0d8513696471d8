import type * as A from '../../grammar/ast.ts';
import { diag, didYouMean, type Diagnostic } from '../../grammar/diagnostics.ts';
import type { Module } from '../ir/graph.ts';
import { Elaborator } from '../sema/elaborate.ts';
import { resolvePlan, type PlanConfig } from '../sema/plan.ts';
import type { Program } from '../sema/program.ts';
import type { EVal } from '../sema/values.ts';

export interface Lowered {
  /** The forward graph, before any pass. */
  forward: Module;
  config: PlanConfig;
}

/** The plans of the entry file; picks one by name, or the only one. */
export function selectPlan(program: Program, name: string | undefined): { plan?: A.PlanDecl; diagnostics: Diagnostic[] } {
  const plans = program.entry.ast.decls.filter((d): d is A.PlanDecl => d.kind === 'plan');
  const names = plans.map((p) => p.name.name);
  if (name !== undefined) {
    const plan = plans.find((p) => p.name.name === name);
    if (plan) return { plan, diagnostics: [] };
    return { diagnostics: [diag('FLX5008', program.entry.ast.span, `${program.entry.path} has no plan \`${name}\``, didYouMean(name, names) ?? (names.length ? `its plans: ${names.join(', ')}` : 'it declares no plan'))] };
  }
  if (plans.length === 1) return { plan: plans[0]!, diagnostics: [] };
  return {
    diagnostics: [diag('FLX5008', program.entry.ast.span, plans.length ? `${program.entry.path} has ${plans.length} plans; choose one with --plan` : `${program.entry.path} declares no plan`, plans.length ? `its plans: ${names.join(', ')}` : 'add `plan name { model: … }`')],
  };
}

/** Binds a plan: resolves its settings and elaborates its model with every size fixed. */
export function lowerPlan(program: Program, plan: A.PlanDecl, opts: { evaluation?: boolean } = {}): { lowered?: Lowered; diagnostics: Diagnostic[] } {
  const out: Diagnostic[] = [];
  const r = resolvePlan(plan, program.entry, program, out);
  if (!r) return { diagnostics: out };
  const { model } = r;
  const config: PlanConfig = opts.evaluation ? { ...r.config, name: `${r.config.name}_eval`, task: { kind: 'infer' } } : r.config;
  const args = new Map<string, EVal>(Object.entries(config.modelArgs).map(([k, v]) => [k, typeof v === 'number' ? { kind: 'num', n: v } : { kind: 'bool', b: v }]));
  const el = new Elaborator(program, { mode: 'lower', training: config.task.kind === 'train', binds: new Map(Object.entries(config.bind)) });
  const forward = el.model(model, args, config.name);
  const bound = Object.entries(config.bind).map(([k, v]) => `${k} = ${v}`).join(', ');
  for (const d of el.diagnostics) out.push(d.hint || !bound ? d : { ...d, hint: `while lowering plan \`${config.name}\` with ${bound}` });
  const bindField = plan.fields.find((f) => f.key.name === 'bind');
  if (bindField?.value.kind === 'object')
    for (const f of bindField.value.fields)
      if (!el.usedSymbols.has(f.key.name)) out.push(diag('FLX5004', f.key.span, `\`${f.key.name}\` is bound but no size of model \`${config.model}\` is called that`, didYouMean(f.key.name, el.usedSymbols)));
  if (config.task.kind === 'train' && !out.length) {
    const lossName = config.task.loss;
    const loss = forward.outputs.find((o) => o.name === lossName);
    const span = plan.fields.find((f) => f.key.name === 'task')?.span ?? plan.name.span;
    if (!loss) out.push(diag('FLX3060', span, `plan \`${config.name}\` trains on output \`${lossName}\`, which model \`${config.model}\` does not declare`, didYouMean(lossName, forward.outputs.map((o) => o.name)) ?? 'name the loss with `task: train { loss: name }`'));
    else if (loss.value.type.shape.length !== 0 || loss.value.type.dtype[0] !== 'f') out.push(diag('FLX3061', span, `the loss \`${lossName}\` must be a float scalar, but is ${loss.value.type.dtype}[${loss.value.type.shape.join(', ')}]`, 'reduce it, e.g. with `mean(…)`'));
    else if (!forward.values.some((v) => v.op === 'param')) out.push(diag('FLX3062', span, `model \`${config.model}\` has no parameters to train`));
  }
  return out.length ? { diagnostics: out } : { lowered: { forward, config }, diagnostics: [] };
}

