import { leafName, type Module, usersOf, type Value } from '../ir/graph.ts';
import { layerOperands } from '../ir/ops/moe-layer.ts';
import { rewriteModule } from '../ir/rewrite.ts';
import { splitAttrs } from './partition-tensor.ts';
import type { Pass } from './pass.ts';

/** Why `expert` cannot split a model's MoE layers. */
export class ExpertSplitError extends Error {
  constructor(
    readonly expert: number,
    readonly why: string,
    readonly hint: string,
  ) {
    super(why);
  }
}

/**
 * Expert parallelism (`parallel: { data, expert: n }`; GShard, Lepikhin et al. 2021; DeepSpeed-MoE): each MoE layer's
 * experts split over groups of n data-parallel ranks. A rank holds E/n of every layer's experts (`shard_group:
 * expert`), routes its own tokens, sends each expert's rows to the rank holding it and gets the results back
 * (`ep_all_to_all`, which the layer's decomposition places around its experts: `expert_ranks` on the `moe` op), and
 * combines them. Runs before autodiff: an expert's gradient is summed over the tokens of every rank of its group.
 */
export const partitionExpert: Pass = {
  name: 'partition-expert',
  doc: "expert parallelism: each rank's share of every MoE layer's experts, tokens sent to them by all-to-all",
  run(m, { config, note }) {
    const n = config.parallel.expert ?? 1;
    if (n <= 1) return m;
    const local = localWeights(m, n);
    const layers = m.values.filter((v) => v.op === 'moe').length;
    note?.(`${layers} MoE layer${layers === 1 ? '' : 's'}: experts split over ${n} ranks`);
    return rewriteModule(m, (v, operands, b) => {
      const meta = { name: v.name, loc: v.loc };
      if (local.has(v)) {
        const shape = v.type.shape.map((d, i) => (i === 0 ? (d as number) / n : d));
        const attrs = { ...v.attrs, ...splitAttrs({ axis: 0, outer: 1 }, n, 'expert') };
        return b.leaf('param', leafName(v), { ...v.type, shape }, attrs, meta);
      }
      if (v.op === 'moe') return b.op('moe', operands, { ...v.attrs, expert_ranks: n }, meta);
      return undefined;
    });
  },
};

/** The experts' weights of every MoE layer, each a parameter only its layer reads and whose experts n divides. */
function localWeights(m: Module, n: number): Set<Value> {
  if (m.values.some((v) => v.op === 'moe_tokens'))
    throw new ExpertSplitError(
      n,
      'an MoE layer written with moe_dispatch and moe_combine does not split: its experts are whatever reads the rows',
      'write the layer with `MoE` or `SwiGluMoE` (std/nn), or leave `expert` out',
    );
  const users = usersOf(m);
  const weights = new Set<Value>();
  for (const v of m.values.filter((x) => x.op === 'moe')) {
    const experts = v.inputs[1]!.type.shape[1] as number;
    if (experts % n)
      throw new ExpertSplitError(
        n,
        `\`expert: ${n}\` cannot split an MoE layer's ${experts} experts evenly`,
        `use a divisor of ${experts}`,
      );
    for (const w of layerOperands(v).slice(2)) {
      if (w.op !== 'param' || (users.get(w) ?? []).length !== 1) {
        const what = w.op === 'param' ? `\`${leafName(w)}\`, which other ops read too` : 'a computed weight';
        throw new ExpertSplitError(
          n,
          `the experts of MoE layer \`${v.name ?? 'moe'}\` read ${what}: only a layer's own parameters split`,
          'give each MoE layer its own expert weights, or leave `expert` out',
        );
      }
      weights.add(w);
    }
  }
  return weights;
}
