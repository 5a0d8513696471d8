import { describe, expect, it } from 'vitest';
import { Builder } from '../../compiler/ir/builder.ts';
import { OPS } from '../../compiler/ir/ops/registry.ts';
import { compile } from '../../compiler/compile.ts';
import { classOf } from '../../compiler/cost/op-time.ts';
import { OP_NAMES } from '../../compiler/ir/op-names.ts';

describe('the op registry', () => {
  it('every op has a shape rule, a cost, a CPU reference, and a gradient or a stated reason for none', () => {
    for (const [name, d] of OPS) {
      expect(d.name).toBe(name);
      for (const f of ['infer', 'cost', 'ref'] as const) expect(typeof d[f], `${name}.${f}`).toBe('function');
      expect(!!d.grad || !!d.noGrad, `${name}: gradient`).toBe(true);
    }
  });

  it('OP_NAMES (the type of op names) lists exactly the defined ops, and every op declares its class', () => {
    expect([...OPS.keys()].sort()).toEqual([...OP_NAMES].sort());
    for (const [name, d] of OPS)
      expect(
        typeof d.class === 'function' ||
          ['matmul', 'attention', 'elementwise', 'optimizer', 'transfer'].includes(d.class),
        name,
      ).toBe(true);
  });

  it(
    "op classes come from the registry: an MLP's weight-gradient matmuls " +
      "are matmul, not attention; GPT's products over heads are attention",
    () => {
      const classes = (f: string, p: string) => {
        const by = new Map<string, Set<string>>();
        for (const v of compile(f, p).module!.values)
          if (!['input', 'param', 'state'].includes(v.op))
            by.set(classOf(v), (by.get(classOf(v)) ?? new Set()).add(v.op));
        return by;
      };
      const mlp = classes('examples/mlp.flex', 'train');
      expect(mlp.has('attention')).toBe(false);
      expect([...mlp.get('matmul')!]).toEqual(['matmul']);
      expect([...mlp.get('optimizer')!]).toEqual(['adam_m', 'adam_v', 'adam_step']);
      const gpt = classes('examples/gpt.flex', 'tiny');
      expect([...gpt.get('attention')!].sort()).toEqual(
        expect.arrayContaining(['attention', 'attention_grad', 'attention_lse']),
      );
      const gcn = classes('examples/gcn-cora.flex', 'train');
      expect(gcn.get('matmul')).toContain('spmm_csr');
      expect(gcn.has('attention')).toBe(false);
    },
  );

  it('the ops the issue asks for are all present', () => {
    const wanted = [
      'matmul',
      'add',
      'sub',
      'mul',
      'div',
      'relu',
      'gelu',
      'tanh',
      'exp',
      'log',
      'sigmoid',
      'softmax',
      'log_softmax',
      'layernorm',
      'sum',
      'mean',
      'max',
      'transpose',
      'reshape',
      'slice',
      'concat',
      'gather',
      'scatter_add',
      'cross_entropy',
      'dropout',
      'spmm',
      'causal_mask',
    ];
    for (const w of wanted) expect(OPS.has(w), w).toBe(true);
  });

  it('costs are sane on every op of the examples: FLOPs and bytes are finite and non-negative, matmul is 2mnk', () => {
    for (const [f, p] of [
      ['examples/gpt.flex', 'tiny'],
      ['examples/gcn-cora.flex', 'train'],
      ['examples/mlp.flex', 'train'],
    ] as const) {
      const m = compile(f, p).module!;
      for (const v of m.values) {
        if (v.op === 'input' || v.op === 'param' || v.op === 'state') continue;
        const c = OPS.get(v.op)!.cost(v);
        expect(Number.isFinite(c.flops) && c.flops >= 0 && Number.isFinite(c.bytes) && c.bytes >= 0, `${v.op}`).toBe(
          true,
        );
      }
    }
    const b = new Builder();
    const a = b.leaf('input', 'a', { dtype: 'f32', shape: [2, 3, 4] });
    const w = b.leaf('input', 'w', { dtype: 'f32', shape: [4, 5] });
    const mm = b.op('matmul', [a, w]);
    expect(OPS.get('matmul')!.cost(mm)).toEqual({
      flops: 2 * 2 * 3 * 5 * 4,
      bytes: 4 * (2 * 3 * 5 + 2 * 3 * 4 + 4 * 5),
    });
  });
});
