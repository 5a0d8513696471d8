import type { Expr, Kernel, Scalar, Stmt } from '../kernel/ir.ts';
import { walk } from '../kernel/ir.ts';
import { syncs } from './c-like.ts';
import { type ExprSyntax, floatLiteral, renderExpr } from './render-expr.ts';

const TYPE: Record<Scalar, string> = { f32: 'f32', i32: 'i32', u32: 'u32', bool: 'bool' };

/** Infinities and NaN cannot be WGSL constants; they are read from private variables instead. */
const SPECIALS = `var<private> POS_INF_BITS: u32 = 0x7f800000u;
var<private> NEG_INF_BITS: u32 = 0xff800000u;
var<private> NAN_BITS: u32 = 0x7fc00000u;`;

const syntax: ExprSyntax = {
  lit: (e) => {
    if (e.t === 'u32') return `${e.v}u`;
    if (e.t === 'i32') return `${e.v}i`;
    if (e.t === 'bool') return e.v ? 'true' : 'false';
    if (e.v === Infinity) return 'bitcast<f32>(POS_INF_BITS)';
    if (e.v === -Infinity) return 'bitcast<f32>(NEG_INF_BITS)';
    if (Number.isNaN(e.v)) return 'bitcast<f32>(NAN_BITS)';
    return floatLiteral(e.v);
  },
  builtin: (name) => name,
  // tanh's argument is clamped: the result is ±1 to f32 precision there, and some drivers return NaN beyond
  call: (e, args) => (e.fn === 'tanh' ? `tanh(clamp(${args[0]}, -15.0f, 15.0f))` : `${e.fn}(${args.join(', ')})`),
  select: (c, a, b) => `select(${b}, ${a}, ${c})`,
  cast: (t, a) => `${TYPE[t]}(${a})`,
};

const expr = (e: Expr) => renderExpr(e, syntax);

const WRED = (wg: number) => `var<workgroup> wred: array<f32, ${wg}>;

fn wsum(x: f32, lid: u32) -> f32 {
  wred[lid] = x;
  workgroupBarrier();
  for (var s = ${wg / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { wred[lid] += wred[lid + s]; }
    workgroupBarrier();
  }
  let r = wred[0];
  workgroupBarrier();
  return r;
}

fn wmax(x: f32, lid: u32) -> f32 {
  wred[lid] = x;
  workgroupBarrier();
  for (var s = ${wg / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { wred[lid] = max(wred[lid], wred[lid + s]); }
    workgroupBarrier();
  }
  let r = wred[0];
  workgroupBarrier();
  return r;
}`;

function stmts(body: Stmt[], indent: string): string[] {
  return body.flatMap((s) => stmt(s, indent));
}

function block(body: Stmt[], indent: string): string {
  const inner = stmts(body, `${indent}  `);
  if (inner.length === 1 && inner[0]!.length < 90 && !inner[0]!.includes('\n')) return `{ ${inner[0]!.trim()} }`;
  return `{\n${inner.join('\n')}\n${indent}}`;
}

function stmt(s: Stmt, ind: string): string[] {
  switch (s.k) {
    case 'let':
      return [`${ind}let ${s.name} = ${expr(s.value)};`];
    case 'var':
      return [`${ind}var ${s.name} = ${expr(s.init)};`];
    case 'array':
      // zeroed by its constructor each time it is declared: left implicit, a declaration in a loop keeps the last
      // iteration's values on SwiftShader
      return [`${ind}var ${s.name} = array<${TYPE[s.t]}, ${s.size}>();`];
    case 'set':
    case 'store': {
      const target = s.k === 'set' ? (s.index ? `${s.name}[${expr(s.index)}]` : s.name) : `${s.buf}[${expr(s.index)}]`;
      return [`${ind}${target} ${s.op ? `${s.op}=` : '='} ${expr(s.value)};`];
    }
    case 'for': {
      const step = s.step.k === 'lit' && s.step.v === 1 ? `${s.v}++` : `${s.v} += ${expr(s.step)}`;
      return [`${ind}for (var ${s.v} = ${expr(s.from)}; ${s.v} < ${expr(s.to)}; ${step}) ${block(s.body, ind)}`];
    }
    case 'if':
      return [`${ind}if (${expr(s.cond)}) ${block(s.then, ind)}${s.else ? ` else ${block(s.else, ind)}` : ''}`];
    case 'break':
    case 'continue':
    case 'return':
      return [`${ind}${s.k};`];
    case 'barrier':
      return [`${ind}workgroupBarrier();`];
    case 'wreduce':
      return [`${ind}let ${s.into} = ${s.op === 'sum' ? 'wsum' : 'wmax'}(${expr(s.value)}, lid);`];
    // the workgroup's first invocation touches the counter; workgroupUniformLoad hands its value to every invocation
    // (and keeps the control flow uniform, as the barriers need)
    case 'claim':
      return [
        `${ind}workgroupBarrier();`,
        `${ind}if (lid == 0u) { flexc_sync = atomicAdd(&${s.buf}[${expr(s.index)}], 1u); }`,
        `${ind}let ${s.into} = workgroupUniformLoad(&flexc_sync);`,
      ];
    case 'wait':
      return [
        `${ind}loop {`,
        `${ind}  workgroupBarrier();`,
        `${ind}  if (lid == 0u) { flexc_sync = atomicLoad(&${s.buf}[${expr(s.index)}]); }`,
        `${ind}  if (workgroupUniformLoad(&flexc_sync) >= ${expr(s.value)}) { break; }`,
        `${ind}}`,
        `${ind}storageBarrier();`,
      ];
    case 'signal':
      return [`${ind}storageBarrier();`, `${ind}if (lid == 0u) { atomicAdd(&${s.buf}[${expr(s.index)}], 1u); }`];
  }
}

/** A kernel as a WGSL compute shader: bindings 0…n in the kernel's buffer order, entry point `main`. */
export function renderWgsl(k: Kernel): string {
  const main = stmts(k.body, '  ').join('\n');
  let reduces = false;
  walk(k.body, (s) => {
    if (s.k === 'wreduce') reduces = true;
  });
  const wgSize = k.workgroup[0] * k.workgroup[1] * k.workgroup[2];
  const decls = k.buffers.map((b, i) => {
    const t = b.atomic ? `atomic<${TYPE[b.t]}>` : TYPE[b.t];
    return `@group(0) @binding(${i}) var<storage, read_write> ${b.name}: array<${t}>;`;
  });
  const shared = k.shared.map((a) => `var<workgroup> ${a.name}: array<${TYPE[a.t]}, ${a.size}>;`);
  const lines = [
    `// ${k.name}: ${k.doc}`,
    ...decls,
    '',
    ...(/_BITS\b/.test(main) ? [SPECIALS, ''] : []),
    ...(shared.length ? [...shared, ''] : []),
    ...(reduces ? [WRED(wgSize), ''] : []),
    ...(syncs(k) ? ['var<workgroup> flexc_sync: u32;', ''] : []),
    `@compute @workgroup_size(${k.workgroup.join(', ')})`,
    `fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_index) lid: u32` +
      `${/\bwid\b/.test(main) ? ', @builtin(workgroup_id) wid: vec3u' : ''}) {`,
    main,
    '}',
    '',
  ];
  return lines.join('\n');
}
