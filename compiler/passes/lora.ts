import { Builder } from '../ir/builder.ts';
import { type Attrs, leafName, type Module, type Value } from '../ir/graph.ts';
import { globMatch, type LoraConfig } from '../sema/plan.ts';
import type { Pass } from './pass.ts';

/** The adapter leaves of a LoRA target weight: W (in × out) gains (alpha / rank) · A (in × rank) · B (rank × out). */
export const loraA = (param: string) => `${param}.lora_a`;
export const loraB = (param: string) => `${param}.lora_b`;

/** A target is a parameter's own name (`wq`, matching every `….wq`) or a pattern of whole paths (`layer.*.attn.wq`). */
export const targetMatches = (target: string, param: string): boolean =>
  /[.*]/.test(target) ? globMatch(target, param) : param.split('.').at(-1) === target;

/** A weight LoRA can adapt: a 2-D parameter that matmuls read as their right operand, untransposed. */
const adaptable = (m: Module, p: Value): boolean =>
  p.type.shape.length === 2 && m.values.some((v) => v.op === 'matmul' && v.inputs[1] === p && !v.attrs['tb']);

/** The parameters each target names, and why a target that names none is unusable. */
export function loraTargets(m: Module, lora: LoraConfig): { target: string; params: Value[]; unusable: Value[] }[] {
  const params = m.values.filter((v) => v.op === 'param');
  return lora.targets.map((target) => {
    const named = params.filter((p) => targetMatches(target, leafName(p)));
    return { target, params: named.filter((p) => adaptable(m, p)), unusable: named.filter((p) => !adaptable(m, p)) };
  });
}

/**
 * LoRA fine-tuning (Hu et al. 2021): every parameter of the model is frozen; each matmul `x @ W` on a
 * target weight becomes `x @ W + (alpha / rank) · (x @ A) @ B` with trained adapters A (Gaussian,
 * std 1/√in, as PEFT's Kaiming init) and B (zeros, so training starts from the base model). With `base: nf4` (QLoRA)
 * every frozen weight a matmul reads is stored as NF4 (`storage: nf4`: its values quantised where the runtime makes or
 * loads them, runtime/nf4.ts; 0.5625 bytes per element in the cost model). Plans without `lora` pass through.
 */
export const lora: Pass = {
  name: 'lora',
  doc: 'LoRA: frozen base weights, trained low-rank adapters on the target matmuls (finetune { lora })',
  run(m, { config }) {
    const cfg = config.task.kind === 'train' ? config.task.lora : undefined;
    return cfg ? addAdapters(m, cfg) : m;
  },
};

export function addAdapters(m: Module, cfg: LoraConfig): Module {
  const targets = new Set(loraTargets(m, cfg).flatMap((t) => t.params));
  const b = new Builder();
  const map = new Map<Value, Value>();
  const adapters = new Map<Value, [Value, Value]>();
  const scale = cfg.alpha / cfg.rank;
  for (const v of m.values) {
    const meta = { name: v.name, loc: v.loc };
    if (v.op === 'param') {
      // QLoRA: the base's matmul weights in NF4 (embeddings, norms and biases as they were)
      const nf4: Attrs = cfg.base === 'nf4' && adaptable(m, v) ? { storage: 'nf4' } : {};
      const w = b.leaf('param', leafName(v), v.type, { ...v.attrs, frozen: true, ...nf4 }, meta);
      map.set(v, w);
      if (targets.has(v)) {
        const [rows, cols] = v.type.shape;
        const name = leafName(v);
        const a = b.leaf(
          'param',
          loraA(name),
          { dtype: v.type.dtype, shape: [rows!, cfg.rank] },
          { init: 'normal', std: 1 / Math.sqrt(Number(rows)), mean: 0 },
          { name: loraA(name), loc: v.loc },
        );
        const z = b.leaf(
          'param',
          loraB(name),
          { dtype: v.type.dtype, shape: [cfg.rank, cols!] },
          { init: 'zeros' },
          { name: loraB(name), loc: v.loc },
        );
        adapters.set(v, [a, z]);
      }
      continue;
    }
    if (v.op === 'input' || v.op === 'state') {
      map.set(v, b.leaf(v.op, leafName(v), v.type, v.attrs, meta));
      continue;
    }
    const inputs = v.inputs.map((x) => map.get(x)!);
    const ad = v.op === 'matmul' && !v.attrs['tb'] ? adapters.get(v.inputs[1]!) : undefined;
    if (!ad) {
      map.set(v, b.op(v.op, inputs, v.attrs, meta));
      continue;
    }
    const base = b.op('matmul', inputs, v.attrs, meta);
    const lname = v.name !== undefined ? `${v.name}.lora` : undefined;
    const low = b.op(
      'matmul',
      [b.op('matmul', [inputs[0]!, ad[0]], v.attrs, { name: lname, loc: v.loc }), ad[1]],
      {},
      { name: lname, loc: v.loc },
    );
    const scaled =
      scale === 1
        ? low
        : b.op(
            'mul',
            [low, b.op('const', [], { value: scale, dtype: v.type.dtype }, { name: lname, loc: v.loc })],
            {},
            { name: lname, loc: v.loc },
          );
    map.set(v, b.op('add', [base, scaled], {}, meta));
  }
  return {
    ...m,
    values: b.values,
    outputs: m.outputs.map((o) => ({ ...o, value: map.get(o.value)! })),
    updates: m.updates.map((u) => ({ ...u, value: map.get(u.value)! })),
  };
}
