import type * as A from '../../grammar/ast.ts';
import { diag, didYouMean, type Diagnostic, type Span } from '../../grammar/diagnostics.ts';
import type { DeclRef, Program, SourceFile } from './program.ts';
import { DIM_LABEL, quantity, UNITS, type Dimension } from './units.ts';

type FieldSpec = Dimension | { oneOf: string[] };

/** The fields each kind of hardware part takes, with the quantity each must be. */
export const PART_FIELDS: Record<string, Record<string, FieldSpec>> = {
  gpu: {
    memory: 'bytes',
    bandwidth: 'bandwidth',
    fp64: 'flops',
    fp32: 'flops',
    tf32: 'flops',
    fp16: 'flops',
    bf16: 'flops',
    fp8: 'flops',
    int8: 'flops',
    sms: 'count',
    efficiency: 'count',
    memory_efficiency: 'count',
    gather_efficiency: 'count',
    launch: 'time',
  },
  host: { memory: 'bytes', bandwidth: 'bandwidth', cores: 'count' },
  ssd: { capacity: 'bytes', read: 'bandwidth', write: 'bandwidth' },
  link: { bandwidth: 'bandwidth', latency: 'time' },
  /** The GPUs of one server and the fabric inside it (NVLink through NVSwitch): `network` is then between nodes. */
  node: {
    gpus: 'count',
    topology: { oneOf: ['nvswitch', 'nvlink', 'switched', 'optical'] },
    bandwidth: 'bandwidth',
    latency: 'time',
  },
  network: {
    topology: {
      oneOf: [
        'ring',
        'switched',
        'fat_tree',
        'circuit_switched',
        'nvlink',
        'torus',
        'infiniband',
        'ethernet',
        'optical',
      ],
    },
    bandwidth: 'bandwidth',
    latency: 'time',
  },
};

export type PartSpec = Record<string, number | string>;

export interface HardwareSpec {
  name: string;
  gpu?: { count: number; part: PartSpec };
  host?: PartSpec;
  ssd?: PartSpec;
  network?: PartSpec;
  node?: PartSpec;
  links: { a: string; b: string; part: PartSpec }[];
}

/** Checks the fields of one part against its kind; returns the values in base units. */
export function checkFields(kind: string, fields: A.Field[], out: Diagnostic[], at?: Span): PartSpec {
  const specs = PART_FIELDS[kind]!;
  const part: PartSpec = {};
  const before = out.length;
  for (const f of fields) {
    const spec = specs[f.key.name];
    if (!spec) {
      out.push(
        diag(
          'FLX4003',
          f.key.span,
          `a ${kind} has no field \`${f.key.name}\``,
          didYouMean(f.key.name, Object.keys(specs)) ??
            `its fields are ${Object.keys(specs)
              .map((k) => `\`${k}\``)
              .join(', ')}`,
        ),
      );
      continue;
    }
    if (f.key.name in part) {
      out.push(diag('FLX2011', f.key.span, `field \`${f.key.name}\` is given twice`));
      continue;
    }
    const v = f.value;
    if (typeof spec === 'object') {
      const name = v.kind === 'name' ? v.name : v.kind === 'string' ? v.value : undefined;
      if (!name || !spec.oneOf.includes(name))
        out.push(
          diag(
            'FLX4005',
            v.span,
            `\`${f.key.name}\` is one of ${spec.oneOf.map((o) => `\`${o}\``).join(', ')}`,
            name ? didYouMean(name, spec.oneOf) : undefined,
          ),
        );
      else part[f.key.name] = name;
      continue;
    }
    const q = quantityOf(v, spec, f.key.name, out);
    if (q === undefined) continue;
    const range = RANGES[f.key.name];
    if (q <= 0 && !ZERO_ALLOWED.has(f.key.name))
      out.push(diag('FLX4005', v.span, `\`${f.key.name}\` must be more than 0`));
    else if (range && q > range.max)
      out.push(diag('FLX4005', v.span, `\`${f.key.name}\` is ${range.what}, at most ${range.max}, got ${q}`));
    else part[f.key.name] = q;
  }
  const missing = (REQUIRED[kind] ?? []).filter((need) => !need.some((k) => k in part) && !seen(fields, need));
  // a misspelt or refused field is one mistake: the fields it leaves missing are not another
  if (missing.length && at && out.length === before)
    out.push(
      diag(
        'FLX4005',
        at,
        `a ${kind} needs ${andList(missing.map(oneOf))}`,
        kind === 'gpu'
          ? 'e.g. `gpu { memory: 80 GiB, bandwidth: 2039 GB/s, fp32: 19.5 TFLOPS }`, or a preset'
          : undefined,
      ),
    );
  return part;
}

/** Fields a part cannot do without (one of each list): a GPU with no memory or speed makes every figure meaningless. */
const REQUIRED: Record<string, string[][]> = {
  gpu: [['memory'], ['bandwidth'], ['fp64', 'fp32', 'tf32', 'fp16', 'bf16', 'fp8', 'int8']],
  host: [['memory']],
  ssd: [['capacity']],
  link: [['bandwidth']],
  node: [['gpus'], ['bandwidth']],
  network: [['bandwidth']],
};

/** Fields that may be 0 (a latency); every other quantity must be positive. */
const ZERO_ALLOWED = new Set(['latency', 'launch']);

/** Fractions and counts with an upper bound. */
const RANGES: Record<string, { max: number; what: string }> = {
  efficiency: { max: 1, what: 'the fraction of peak FLOP/s a kernel reaches' },
  memory_efficiency: { max: 1, what: 'the fraction of bandwidth a kernel reaches' },
  gather_efficiency: { max: 1, what: 'the fraction of bandwidth a kernel reading rows by index reaches' },
};

/** Whether a field of the list was given, even with a value that was refused (one diagnostic is enough). */
const seen = (fields: A.Field[], need: string[]) => fields.some((f) => need.includes(f.key.name));

/** A number with a unit of the expected dimension, in base units. */
export function quantityOf(v: A.Expr, want: Dimension, what: string, out: Diagnostic[]): number | undefined {
  if (v.kind === 'neg' && v.operand.kind === 'number') {
    out.push(diag('FLX4005', v.span, `\`${what}\` cannot be negative`));
    return undefined;
  }
  if (v.kind !== 'number') {
    out.push(diag('FLX4001', v.span, `\`${what}\` must be ${DIM_LABEL[want]}`));
    return undefined;
  }
  const q = quantity(v.value, v.unit?.name);
  if (!q) {
    out.push(
      diag(
        'FLX4002',
        v.unit!.span,
        `unknown unit \`${v.unit!.name}\``,
        didYouMean(v.unit!.name, Object.keys(UNITS)) ??
          'units: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB, GB/s, GiB/s, TFLOPS, TFLOP/s, s, ms, us, ns',
      ),
    );
    return undefined;
  }
  if (!Number.isFinite(q.value)) {
    out.push(
      diag('FLX4005', v.span, `\`${what}\` is too large to be a number (${v.text}${v.unit ? ` ${v.unit.name}` : ''})`),
    );
    return undefined;
  }
  if (q.value < 0) {
    out.push(diag('FLX4005', v.span, `\`${what}\` cannot be negative`));
    return undefined;
  }
  if (q.dim !== want) {
    const got = q.dim === 'count' ? 'a plain number' : DIM_LABEL[q.dim].replace(/ \(e\.g\..*\)/, '');
    out.push(
      diag(
        'FLX4001',
        v.span,
        `\`${what}\` must be ${DIM_LABEL[want]}, got ${got} \`${v.text}${v.unit ? ` ${v.unit.name}` : ''}\``,
        want === 'bandwidth' && q.dim === 'bytes'
          ? `a bandwidth is a size per second: \`${v.text} ${v.unit!.name}/s\``
          : undefined,
      ),
    );
    return undefined;
  }
  return q.value;
}

const KINDS = Object.keys(PART_FIELDS);

export function checkComponent(c: A.ComponentDecl, out: Diagnostic[]): PartSpec | undefined {
  if (!PART_FIELDS[c.what.name]) {
    const tops = ['layer', 'model', 'graph', 'hardware', 'plan', 'import', ...KINDS];
    out.push(
      diag(
        'FLX1006',
        c.what.span,
        `\`${c.what.name}\` does not start a declaration`,
        didYouMean(c.what.name, tops) ?? `declarations start with ${tops.map((t) => `\`${t}\``).join(', ')}`,
      ),
    );
    return undefined;
  }
  return checkFields(c.what.name, c.fields, out, c.name.span);
}

/** Checks a `hardware` block and resolves presets to their figures. */
export function checkHardware(h: A.HardwareDecl, file: SourceFile, program: Program, out: Diagnostic[]): HardwareSpec {
  const spec: HardwareSpec = { name: h.name.name, links: [] };
  const scope = program.scopes.get(file) ?? new Map<string, DeclRef>();
  const seen = new Set<string>();
  for (const it of h.items) {
    const kind = it.what.name;
    if (!PART_FIELDS[kind]) {
      out.push(
        diag(
          'FLX4003',
          it.what.span,
          `hardware has no part \`${kind}\``,
          didYouMean(kind, KINDS) ?? `parts are ${KINDS.map((k) => `\`${k}\``).join(', ')}`,
        ),
      );
      continue;
    }
    if (kind !== 'link' && seen.has(kind)) {
      out.push(
        diag(
          'FLX2011',
          it.what.span,
          `\`${kind}\` is given twice`,
          kind === 'gpu' ? 'for several GPUs write `gpu x N: preset`' : undefined,
        ),
      );
      continue;
    }
    seen.add(kind);
    if (it.count && kind !== 'gpu')
      out.push(diag('FLX4005', it.count.span, `only \`gpu\` takes a count (\`gpu x N\`)`));
    let part: PartSpec | undefined;
    if (it.fields) part = checkFields(kind, it.fields, out, it.what.span);
    else if (it.value) {
      const v = it.value;
      if (v.kind !== 'name') {
        out.push(diag('FLX4005', v.span, `\`${kind}:\` takes a preset name, or write \`${kind} { … }\``));
        continue;
      }
      const ref = scope.get(v.name);
      const presets = [...scope.values()]
        .filter((d) => d.decl.kind === 'component' && d.decl.what.name === kind)
        .map((d) => d.decl.name.name);
      if (!ref) {
        out.push(
          diag(
            'FLX2010',
            v.span,
            `unknown ${kind} preset \`${v.name}\``,
            didYouMean(v.name, presets) ??
              (presets.length ? undefined : `import presets with \`import { … } from "std/hardware"\``),
          ),
        );
        continue;
      }
      if (ref.decl.kind !== 'component' || ref.decl.what.name !== kind) {
        out.push(
          diag(
            'FLX3004',
            v.span,
            `\`${v.name}\` is ` +
              `${ref.decl.kind === 'component' ? `a ${ref.decl.what.name}` : `a ${ref.decl.kind}`}, not a ${kind}`,
          ),
        );
        continue;
      }
      part = checkFields(kind, ref.decl.fields, []);
    }
    if (!part) continue;
    if (kind === 'link') {
      const [a, b] = it.ends!;
      for (const end of [a, b])
        if (!['gpu', 'host', 'ssd'].includes(end.name))
          out.push(diag('FLX4003', end.span, `a link joins \`gpu\`, \`host\` or \`ssd\`, not \`${end.name}\``));
      spec.links.push({ a: a.name, b: b.name, part });
    } else if (kind === 'gpu') {
      let count = 1;
      if (it.count) {
        if (it.count.kind !== 'number' || !Number.isInteger(it.count.value) || it.count.value < 1)
          out.push(diag('FLX4005', it.count.span, 'a GPU count is a positive whole number'));
        else if (it.count.value > MAX_GPUS)
          out.push(diag('FLX4005', it.count.span, `a GPU count is at most ${MAX_GPUS.toLocaleString('en-US')}`));
        else count = it.count.value;
      }
      spec.gpu = { count, part };
    } else spec[kind as 'host' | 'ssd' | 'network' | 'node'] = part;
  }
  // a link joins parts this hardware has
  for (const it of h.items)
    if (it.what.name === 'link' && it.ends)
      for (const end of it.ends)
        if (['host', 'ssd'].includes(end.name) && !h.items.some((x) => x.what.name === end.name))
          out.push(diag('FLX4003', end.span, `this hardware has no \`${end.name}\` for the link to join`));
  return spec;
}

/** The most GPUs a machine may have (the largest clusters trained on have about 10⁵). */
export const MAX_GPUS = 1_048_576;

const andList = (xs: string[]) => (xs.length < 2 ? (xs[0] ?? '') : `${xs.slice(0, -1).join(', ')} and ${xs.at(-1)}`);

const oneOf = (need: string[]) =>
  need.length === 1 ? `\`${need[0]}\`` : `one of ${need.map((k) => `\`${k}\``).join(', ')}`;
