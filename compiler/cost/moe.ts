import { LEAF_OPS, type Module, usersOf, type Value } from '../ir/graph.ts';
import { bytesOf, elems } from '../ir/op.ts';
import { NO_KERNEL_OPS, TRANSFER_OPS } from '../ir/ops/tier.ts';
import { layerOperands, moeSizes } from '../ir/ops/moe-layer.ts';
import { BYTES } from '../ir/types.ts';
import { OPS } from '../ir/ops/registry.ts';
import { shardOf } from '../passes/partition-tensor.ts';

const OPS_OF_CLASS = (cls: string) => [...OPS.values()].filter((d) => d.class === cls).map((d) => d.name);

/** One mixture-of-experts layer of a step, as its routing ops describe it. */
export interface MoeLayer {
  experts: number;
  /** Experts chosen per token. */
  k: number;
  tokens: number;
  /** Slots per expert. */
  capacity: number;
  /** The parameters only its experts read (they run on the rows dispatched to them), and their elements. */
  parameters: Value[];
  expertParameters: number;
  /** Bytes of the rows dispatched to the experts, [E·C, d]: what each all-to-all of expert parallelism moves. */
  rowBytes: number;
  /**
   * Kernels a step runs for the layer (the ops named in its scope), each one launch: its forward (recomputation
   * included) and its backward. `fuse: [moe]` is to make each direction one.
   */
  kernels: { forward: number; backward: number };
  /** The expert rows that carry no token even if routing is even (capacity padding): 1 − k·T / (E·C), or 0. */
  padding: number;
  /** The choices dropped even if routing is even (capacity below k·T): 1 − E·C / (k·T), or 0. */
  dropped: number;
  /** Run by the fused kernel (`fuse: [moe]`): one launch forward, and no work on empty slots. */
  fused: boolean;
}

/**
 * The MoE layers of a step: for each dispatch (`moe_tokens` and the gather that reads it) the values between it and
 * its combine (the gather over the same choices' `moe_slots`): the experts. Their parameters are what a token uses
 * k/E of, so the parameters active per token are all of them less (1 − k/E) of the experts'.
 */
export function moeLayers(m: Module): MoeLayer[] {
  const users = usersOf(m);
  const layers: MoeLayer[] = [];
  // a layer recomputed for the backward pass routes again over the same experts: counted once
  const seen = new Set<Value>();
  // a fused layer's backward recomputes its decomposition: the layer is the `moe` op's
  for (const v of m.values.filter((x) => x.op === 'moe')) {
    const params = layerOperands(v)
      .slice(2)
      .map(leafOf)
      .filter((x) => x.op === 'param');
    if (params.some((p) => seen.has(p))) continue;
    for (const p of params) seen.add(p);
    const { t, d, e, k, c } = moeSizes(v);
    const rowBytes = e * c * d * BYTES[v.type.dtype];
    layers.push(layerOf(m, { e, k, tokens: t, c, params, rowBytes, fused: true }));
  }
  for (const route of m.values.filter((v) => v.op === 'moe_tokens')) {
    const choices = route.inputs[0]!;
    const dispatch = users.get(route)?.find((v) => v.op === 'gather');
    const combine = m.values.find(
      (v) => v.op === 'gather' && v.inputs[1]!.op === 'moe_slots' && v.inputs[1]!.inputs[0] === choices,
    );
    if (!dispatch || !combine) continue;
    const below = new Set<Value>([dispatch]);
    for (const v of m.values.slice(m.values.indexOf(dispatch) + 1))
      if (v.inputs.some((x) => below.has(x))) below.add(v);
    const experts = new Set<Value>();
    const walk = [combine];
    while (walk.length) {
      const v = walk.pop()!;
      for (const x of v.inputs) if (below.has(x) && !experts.has(x)) experts.add(x), walk.push(x);
    }
    const params = new Set([...experts].flatMap((v) => v.inputs.map(leafOf).filter((x) => x.op === 'param')));
    if ([...params].some((p) => seen.has(p))) continue;
    for (const p of params) seen.add(p);
    const [tokens, k] = choices.type.shape as [number, number];
    const [e, c] = [Number(route.attrs['experts']), Number(route.attrs['capacity'])];
    layers.push(layerOf(m, { e, k, tokens, c, params: [...params], rowBytes: bytesOf(dispatch.type), fused: false }));
  }
  return layers;
}

/** A value, or what a copy between memory tiers copies (a parameter kept in host memory is read through one). */
const leafOf = (v: Value): Value => (TRANSFER_OPS.has(v.op) ? leafOf(v.inputs[0]!) : v);

function layerOf(
  m: Module,
  l: { e: number; k: number; tokens: number; c: number; params: Value[]; rowBytes: number; fused: boolean },
): MoeLayer {
  const { e, k, tokens, c } = l;
  return {
    experts: e,
    k,
    tokens,
    capacity: c,
    parameters: l.params,
    kernels: kernelsIn(m, scopeOf(l.params)),
    rowBytes: l.rowBytes,
    expertParameters: l.params.reduce((a, p) => a + modelElems(p), 0),
    padding: Math.max(0, 1 - (k * tokens) / (e * c)),
    dropped: Math.max(0, 1 - (e * c) / (k * tokens)),
    fused: l.fused,
  };
}

/**
 * A parameter's elements in the model: a rank's share of the experts (expert parallelism) times the ranks sharing
 * them, as data parallelism and ZeRO leave the model's count alone.
 */
export const modelElems = (p: Value): number => {
  const s = shardOf(p);
  return elems(p.type) * (s?.group === 'expert' ? s.parts : 1);
};

/** Parameters a token uses: all of them but the experts it is not routed to. */
export function activeParameters(count: number, layers: readonly MoeLayer[]): number {
  return layers.reduce((a, l) => a - l.expertParameters * (1 - l.k / l.experts), count);
}

/**
 * The values that belong to the experts of MoE layers, which expert parallelism splits over its group: their
 * parameters, the optimizer state and the gradient and updates of each.
 */
export function expertValues(m: Module, layers: readonly MoeLayer[] = moeLayers(m)): Set<Value> {
  const params = new Set(layers.flatMap((l) => l.parameters));
  const names = new Set([...params].map((p) => String(p.attrs['name'])));
  const out = new Set<Value>(params);
  for (const v of m.values)
    if (v.op === 'state' && names.has(String(v.attrs['name']).replace(/\.[^.]*$/, ''))) out.add(v);
  for (const o of m.outputs) if (o.name.startsWith('grad:') && names.has(o.name.slice(5))) out.add(o.value);
  for (const u of m.updates) if (names.has(u.target) || names.has(u.target.replace(/\.[^.]*$/, ''))) out.add(u.value);
  return out;
}

/** The scope the parameters share: `layer.0.moe` for `layer.0.moe.w1` and `layer.0.moe.w2`. */
function scopeOf(params: readonly Value[]): string {
  const paths = params.map((p) => String(p.attrs['name']).split('.').slice(0, -1));
  const first = paths[0] ?? [];
  let n = first.length;
  for (const p of paths) while (n > 0 && p.slice(0, n).join('.') !== first.slice(0, n).join('.')) n--;
  return first.slice(0, n).join('.');
}

/** The optimizer's ops: the step's, whatever the layer. */
const OPTIMIZER = new Set<string>(OPS_OF_CLASS('optimizer'));

/**
 * The kernels of the values named in `scope` (every op a plan launches: all but leaves, copies, workspace and the
 * optimizer's updates), by direction.
 */
function kernelsIn(m: Module, scope: string): { forward: number; backward: number } {
  const out = { forward: 0, backward: 0 };
  for (const v of m.values) {
    const name = v.name ?? '';
    if (LEAF_OPS.has(v.op) || NO_KERNEL_OPS.has(v.op) || OPTIMIZER.has(v.op)) continue;
    if (!(name === scope || name.startsWith(`${scope}.`))) continue;
    out[name.includes('.grad') ? 'backward' : 'forward']++;
  }
  return out;
}
