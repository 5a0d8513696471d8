import type { Module, Rows, Value } from './graph.ts';
import { LEAF_OPS } from './graph.ts';
import { OPS } from './ops/registry.ts';
import { tierError } from './ops/tier.ts';
import { fmtType, sameType, ShapeError, type TensorType } from './types.ts';

/**
 * Values whose op, attributes and type have passed: values are never changed once built (passes make
 * new ones), so verifying after each pass checks only the values the pass made.
 */
const checked = new WeakSet<Value>();

/** Checks SSA order, ops, attributes, dtypes and shapes; returns the problems found (empty when valid). */
export function verify(m: Module): string[] {
  const errors: string[] = [];
  const seen = new Set<Value>();
  const ids = new Set<number>();
  // leaves by op, then name
  const leafNames = new Map<string, Map<string, Value>>();
  const where = (v: Value, k: number) => `%${k} (${v.op}${v.name ? ` "${v.name}"` : ''})`;
  m.values.forEach((v, k) => {
    if (ids.has(v.id)) errors.push(`${where(v, k)}: id ${v.id} is used twice`);
    ids.add(v.id);
    for (const x of v.inputs)
      if (!seen.has(x)) errors.push(`${where(v, k)}: operand ${x.op} is not defined before its use`);
    if (!checked.has(v) && !v.type.shape.every((d) => typeof d === 'number' && Number.isInteger(d) && d >= 0))
      errors.push(`${where(v, k)}: shape [${v.type.shape}] is not static`);
    const tiers = tierError(v);
    if (tiers) errors.push(`${where(v, k)}: ${tiers}`);
    if (LEAF_OPS.has(v.op)) {
      const name = v.attrs['name'];
      let named = leafNames.get(v.op);
      if (!named) leafNames.set(v.op, (named = new Map()));
      if (typeof name !== 'string') errors.push(`${where(v, k)}: leaf without a name`);
      else if (named.has(name)) errors.push(`${where(v, k)}: ${v.op} "${name}" is declared twice`);
      else named.set(name, v);
      if (v.inputs.length) errors.push(`${where(v, k)}: a leaf has no operands`);
    } else if (!checked.has(v)) {
      const before = errors.length;
      const def = OPS.get(v.op);
      if (!def) errors.push(`${where(v, k)}: unknown op`);
      else {
        for (const a in def.attrs) {
          const spec = def.attrs[a]!;
          const val = v.attrs[a];
          if (val === undefined) {
            if (!spec.optional) errors.push(`${where(v, k)}: missing attribute ${a}`);
            continue;
          }
          const ok =
            spec.kind === 'ints'
              ? Array.isArray(val) && val.every(Number.isInteger)
              : spec.kind === 'int'
                ? Number.isInteger(val)
                : spec.kind === 'number'
                  ? typeof val === 'number'
                  : spec.kind === 'bool'
                    ? typeof val === 'boolean'
                    : typeof val === spec.kind;
          if (!ok) errors.push(`${where(v, k)}: attribute ${a} must be ${spec.kind}`);
        }
        for (const a in v.attrs) if (!(a in def.attrs)) errors.push(`${where(v, k)}: unknown attribute ${a}`);
        const arity = def.arity === 'variadic' || def.arity === v.inputs.length;
        if (!arity) errors.push(`${where(v, k)}: takes ${def.arity} operands, has ${v.inputs.length}`);
        // a shape rule assumes its operands are there
        if (arity)
          try {
            const t = def.infer(
              v.inputs.map((x) => x.type),
              v.attrs,
            );
            if (!sameType(t, v.type))
              errors.push(
                `${where(v, k)}: result type ${fmtType(v.type)} disagrees with the shape rule's ${fmtType(t)}`,
              );
          } catch (e) {
            if (!(e instanceof ShapeError)) throw e;
            errors.push(`${where(v, k)}: ${e.message}`);
          }
      }
      if (errors.length === before) checked.add(v);
    }
    seen.add(v);
  });
  for (const o of m.outputs)
    if (!seen.has(o.value)) errors.push(`output "${o.name}" refers to a value outside the module`);
  for (const [name, parts] of byName(m.outputs, (o) => o.name)) {
    if (parts.length > 1 && parts.some((o) => !o.rows)) errors.push(`output "${name}" is declared twice`);
    else if (parts[0]!.rows) errors.push(...partErrors(`output "${name}"`, parts));
  }
  for (const u of m.updates)
    if (!seen.has(u.value)) errors.push(`update "${u.target}" refers to a value outside the module`);
  for (const [target, parts] of byName(m.updates, (u) => u.target)) {
    const leaf = leafNames.get('param')?.get(target) ?? leafNames.get('state')?.get(target);
    if (!leaf) errors.push(`update "${target}" names no param or state`);
    if (parts.length > 1 && parts.some((u) => !u.rows)) errors.push(`"${target}" is updated twice`);
    else if (parts[0]!.rows) errors.push(...partErrors(`update "${target}"`, parts, leaf?.type));
    else if (leaf && !sameType(leaf.type, parts[0]!.value.type))
      errors.push(`update "${target}" writes ${fmtType(parts[0]!.value.type)} into ${fmtType(leaf.type)}`);
  }
  return errors;
}

function byName<T>(xs: readonly T[], key: (x: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const x of xs) out.get(key(x))?.push(x) ?? out.set(key(x), [x]);
  return out;
}

/**
 * What is wrong with the parts of one output or update: each `rows` a range of the whole's first axis, its value that
 * many rows of the whole's other axes and dtype, in order, together covering the whole (`whole`: a leaf's type; an
 * output's is what its parts add up to).
 */
function partErrors(what: string, parts: readonly { value: Value; rows?: Rows }[], whole?: TensorType): string[] {
  const first = parts[0]!.value.type;
  const rest = (t: TensorType) => fmtType({ dtype: t.dtype, shape: t.shape.slice(1) });
  const errors: string[] = [];
  let at = 0;
  for (const { value, rows } of parts) {
    if (!rows) return [`${what} mixes a whole value with parts`];
    const [lo, hi] = rows;
    if (lo !== at) errors.push(`${what}: part [${lo}:${hi}] does not start where the one before ends (${at})`);
    if (value.type.shape[0] !== hi - lo || rest(value.type) !== rest(whole ?? first))
      errors.push(
        `${what}: part [${lo}:${hi}] is ${fmtType(value.type)}, not ${hi - lo} rows of ${rest(whole ?? first)}`,
      );
    at = hi;
  }
  if (whole && at !== whole.shape[0]) errors.push(`${what}: its parts cover ${at} of ${whole.shape[0]} rows`);
  return errors;
}

export class VerifyError extends Error {}

export function assertValid(m: Module, after: string): void {
  const errors = verify(m);
  if (errors.length)
    throw new VerifyError(`internal: IR is invalid after ${after}:\n  ${errors.slice(0, 10).join('\n  ')}`);
}
