import { Builder } from '../ir/builder.ts';
import { type Attrs, leafName, type Module, usersOf, type Value } from '../ir/graph.ts';
import { BINARY, UNARY } from '../ir/ops/elementwise.ts';
import { ints } from '../ir/ops/util.ts';
import type { Pass } from './pass.ts';

/** Why `sequence: true` splits nothing: the tokens between the tensor-parallel layers do not divide by the ranks. */
export class SequenceSplitError extends Error {
  constructor(
    readonly tensor: number,
    readonly tokens: number,
  ) {
    super(`${tokens} tokens do not split over ${tensor} ranks`);
  }
}

/** Ops that act on each token alone: pointwise, and normalisations and reductions over the features (last) axis. */
const perToken = (v: Value): boolean => {
  if (v.op in UNARY || v.op in BINARY) return true;
  if (v.op === 'layernorm' || v.op === 'layernorm_rstd') return true;
  if (v.op === 'mean' || v.op === 'sum' || v.op === 'max') {
    const axes = ints(v.attrs, 'axes');
    const rank = v.inputs[0]!.type.shape.length;
    return axes.length === 1 && (axes[0] === -1 || axes[0] === rank - 1) && v.attrs['keepdims'] === true;
  }
  return false;
};

/**
 * Sequence parallelism (`parallel: { tensor: t, sequence: true }`; Korthikanti et al. 2022, §4.2.2): between the
 * tensor-parallel layers each rank holds 1/t of the tokens. From every tensor-parallel layer's input and output, the
 * run of per-token ops around them (layer norms, residual adds, pointwise ops) is cut along the sequence axis: a
 * layer's input is all-gathered into it (`seq_gather_tp`, its gradient reduce-scattered) instead of `tp_copy`, its
 * product reduce-scattered out (`seq_reduce_scatter`) instead of `tp_reduce`; a value from outside the run is split
 * (`seq_split`: the embeddings), and an op outside that reads it (the output head) gets it joined (`seq_gather`). A
 * whole value applied to the rank's tokens (a norm's scale, a bias) enters through `tp_copy`: its gradient is summed.
 * Activations there take 1/t of the memory; the communication is the same volume as tensor parallelism's.
 */
export const partitionSequence: Pass = {
  name: 'partition-sequence',
  doc: 'sequence parallelism: the tokens between tensor-parallel layers split over the ranks (parallel: { sequence })',
  run(m, { config, note }) {
    const t = config.parallel.tensor ?? 1;
    if (!config.parallel.sequence || t <= 1) return m;
    const axis = sequenceAxis(m);
    if (axis === undefined) return m;
    const run = tokensRun(m, axis, t);
    if (!run.size)
      throw new SequenceSplitError(t, m.values.find((v) => v.op === 'tp_copy')!.type.shape[axis] as number);
    note?.(`${run.size} values split along the sequence (axis ${axis}) over ${t} ranks`);
    return split(m, run, axis, t);
  },
};

/** The tokens axis: the second-last of a tensor-parallel layer's input ([batch, tokens, features]). */
function sequenceAxis(m: Module): number | undefined {
  const c = m.values.find((v) => v.op === 'tp_copy' || v.op === 'tp_reduce');
  return c ? c.type.shape.length - 2 : undefined;
}

/** The values each rank holds 1/t of the tokens of: the per-token ops around every tensor-parallel layer. */
function tokensRun(m: Module, axis: number, t: number): Set<Value> {
  const users = usersOf(m);
  const run = new Set<Value>();
  const fits = (v: Value) => v.type.shape.length > axis && (v.type.shape[axis] as number) % t === 0;
  const queue: Value[] = [];
  const add = (v: Value) => {
    if (run.has(v) || !fits(v)) return;
    run.add(v);
    queue.push(v);
  };
  for (const v of m.values) {
    if (v.op === 'tp_copy') add(v.inputs[0]!);
    if (v.op === 'tp_reduce') add(v);
  }
  while (queue.length) {
    const v = queue.pop()!;
    if (perToken(v)) for (const x of v.inputs) if (sameTokens(x, v, axis)) add(x);
    for (const u of users.get(v) ?? []) if (perToken(u) && sameTokens(u, v, axis)) add(u);
  }
  return run;
}

/** Whether x has v's tokens axis at the same place (the same rank: not broadcast along it). */
const sameTokens = (x: Value, v: Value, axis: number) =>
  x.type.shape.length === v.type.shape.length && x.type.shape[axis] === v.type.shape[axis];

function split(m: Module, run: Set<Value>, axis: number, t: number): Module {
  const b = new Builder();
  const map = new Map<Value, Value>();
  const seq = (rank: number): Attrs => ({ group: 'tensor', ranks: t, axis: rank });
  const joined = new Map<Value, Value>();
  // a whole value every rank applies to its own tokens (a norm's scale, a bias): its gradient, partial on each rank,
  // summed over them (as Megatron all-reduces the layer norms' gradients under sequence parallelism)
  const shared = new Map<Value, Value>();
  const sharedOf = (x: Value): Value => {
    if (x.op === 'const') return map.get(x)!;
    if (!shared.has(x))
      shared.set(x, b.op('tp_copy', [map.get(x)!], { group: 'tensor', ranks: t }, { name: x.name, loc: x.loc }));
    return shared.get(x)!;
  };
  // a value of the run, whole again, for an op outside it
  const whole = (x: Value): Value => {
    const local = map.get(x)!;
    if (!run.has(x)) return local;
    if (!joined.has(x)) joined.set(x, b.op('seq_gather', [local], seq(axis), { name: x.name, loc: x.loc }));
    return joined.get(x)!;
  };
  for (const v of m.values) {
    const meta = { name: v.name, loc: v.loc };
    if (v.op === 'input' || v.op === 'param' || v.op === 'state') {
      map.set(v, b.leaf(v.op, leafName(v), v.type, v.attrs, meta));
      continue;
    }
    if (!run.has(v)) {
      if (v.op === 'tp_copy' && run.has(v.inputs[0]!))
        map.set(v, b.op('seq_gather_tp', [map.get(v.inputs[0]!)!], seq(axis), meta));
      else map.set(v, b.op(v.op as never, v.inputs.map(whole), v.attrs, meta));
      continue;
    }
    let y: Value;
    if (v.op === 'tp_reduce') y = b.op('seq_reduce_scatter', [map.get(v.inputs[0]!)!], seq(axis), meta);
    else if (perToken(v)) {
      // operands of the run are local; broadcast ones along the tokens axis are cut to the rank's tokens
      const inputs = v.inputs.map((x) => {
        if (run.has(x)) return map.get(x)!;
        const at = axis - (v.type.shape.length - x.type.shape.length);
        const along = at >= 0 && x.type.shape[at] === v.type.shape[axis] && (x.type.shape[at] as number) > 1;
        return along ? b.op('seq_split', [map.get(x)!], seq(at), { name: x.name, loc: x.loc }) : sharedOf(x);
      });
      y = b.op(v.op as never, inputs, v.attrs, meta);
    } else y = b.op('seq_split', [b.op(v.op as never, v.inputs.map(whole), v.attrs, meta)], seq(axis), meta);
    map.set(v, y);
  }
  return {
    ...m,
    values: b.values,
    outputs: m.outputs.map((o) => ({ ...o, value: whole(o.value) })),
    updates: m.updates.map((u) => ({ ...u, value: whole(u.value) })),
  };
}
