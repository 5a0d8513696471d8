import type { AttrValue, Module, Rows, Value } from './graph.ts';
import { LEAF_OPS } from './graph.ts';
import { fmtType } from './types.ts';

export function fmtNumber(n: number): string {
  if (n === Infinity) return 'inf';
  if (n === -Infinity) return '-inf';
  if (Number.isNaN(n)) return 'nan';
  return Object.is(n, -0) ? '-0' : String(n);
}

function fmtAttr(v: AttrValue): string {
  if (typeof v === 'number') return fmtNumber(v);
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  return `[${v.map((x) => (typeof x === 'number' ? fmtNumber(x) : JSON.stringify(x))).join(', ')}]`;
}

/** The textual IR: one line per value, outputs and updates last. `parseModule` reads it back exactly. */
export function printModule(m: Module): string {
  const id = new Map<Value, number>();
  m.values.forEach((v, i) => id.set(v, i));
  const ref = (v: Value) => {
    const i = id.get(v);
    if (i === undefined) throw new Error(`internal: value of op ${v.op} is used but not in the module`);
    return `%${i}`;
  };
  const lines = [`module @${m.name} {`];
  for (const v of m.values) {
    const leaf = LEAF_OPS.has(v.op);
    let s = `  %${id.get(v)} = ${v.op}`;
    if (leaf) s += ` ${JSON.stringify(v.attrs['name'])}`;
    if (v.inputs.length) s += ` ${v.inputs.map(ref).join(', ')}`;
    const keys = Object.keys(v.attrs)
      .filter((k) => !(leaf && k === 'name'))
      .sort();
    if (keys.length) s += ` {${keys.map((k) => `${k} = ${fmtAttr(v.attrs[k]!)}`).join(', ')}}`;
    s += ` : ${fmtType(v.type)}`;
    if (!leaf && v.name !== undefined) s += ` ${JSON.stringify(v.name)}`;
    if (v.loc)
      s += ` at ${JSON.stringify(v.loc.file)}:${v.loc.line}:${v.loc.column}:${v.loc.endLine}:${v.loc.endColumn}`;
    lines.push(s);
  }
  const part = (rows?: Rows) => (rows ? `[${rows[0]}:${rows[1]}]` : '');
  for (const o of m.outputs) lines.push(`  output ${JSON.stringify(o.name)}${part(o.rows)} = ${ref(o.value)}`);
  for (const u of m.updates) lines.push(`  update ${JSON.stringify(u.target)}${part(u.rows)} = ${ref(u.value)}`);
  lines.push('}');
  return `${lines.join('\n')}\n`;
}
