import { isOpOrLeaf, type LeafOp, type OpName } from './op-names.ts';
import type { AttrValue, Attrs, Module, Rows, Value } from './graph.ts';
import { LEAF_OPS } from './graph.ts';
import type { DType, TensorType } from './types.ts';

export class IrParseError extends Error {
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(`${line}:${column}: ${message}`);
  }
}

// one token: %id, a string, a number (inf and nan too), a word, @module, punctuation
const TOKEN_KINDS = [
  /(%\d+)/,
  /("(?:[^"\\]|\\.)*")/,
  /(-?inf|nan|-?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)/,
  /([A-Za-z_][A-Za-z0-9_.]*)/,
  /(@[A-Za-z0-9_.-]+)/,
  /([{}[\],:=])/,
];
const TOKEN = new RegExp(`\\s*(?:${TOKEN_KINDS.map((r) => r.source).join('|')})`, 'y');

interface Tok {
  kind: 'ref' | 'str' | 'num' | 'word' | 'sym' | 'punct';
  text: string;
  col: number;
}

function lex(line: string, ln: number): Tok[] {
  const out: Tok[] = [];
  TOKEN.lastIndex = 0;
  let pos = 0;
  while (pos < line.length) {
    if (/^\s*$/.test(line.slice(pos))) break;
    TOKEN.lastIndex = pos;
    const m = TOKEN.exec(line);
    if (!m) throw new IrParseError(`unexpected text \`${line.slice(pos).trim().slice(0, 20)}\``, ln, pos + 1);
    const kinds = ['ref', 'str', 'num', 'word', 'sym', 'punct'] as const;
    const k = kinds.findIndex((_, i) => m[i + 1] !== undefined);
    out.push({ kind: kinds[k]!, text: m[k + 1]!, col: m.index + m[0].length - m[k + 1]!.length + 1 });
    pos = TOKEN.lastIndex;
  }
  return out;
}

function number(t: string): number {
  return t === 'inf' ? Infinity : t === '-inf' ? -Infinity : t === 'nan' ? NaN : Number(t);
}

/** Parses the textual IR printed by `printModule`. */
export function parseModule(text: string): Module {
  const lines = text.split('\n');
  const byId = new Map<string, Value>();
  const m: Module = { name: '', values: [], outputs: [], updates: [] };
  let ln = 0;
  let toks: Tok[] = [];
  let i = 0;
  const err = (msg: string): never => {
    throw new IrParseError(msg, ln, toks[i]?.col ?? 1);
  };
  const next = (): Tok => toks[i++] ?? err('unexpected end of line');
  const expect = (text: string) => {
    const t = next();
    if (t.text !== text) err(`expected \`${text}\`, found \`${t.text}\``);
  };
  const peek = (text: string) => toks[i]?.text === text;
  const ref = (): Value => {
    const t = next();
    if (t.kind !== 'ref') err(`expected a value reference, found \`${t.text}\``);
    return byId.get(t.text) ?? err(`${t.text} is used before it is defined`);
  };
  const str = (): string => {
    const t = next();
    if (t.kind !== 'str') err(`expected a string, found \`${t.text}\``);
    return JSON.parse(t.text) as string;
  };
  const int = (): number => {
    const t = next();
    if (t.kind !== 'num') err(`expected a number, found \`${t.text}\``);
    return Number(t.text);
  };
  /** `[lo:hi]`, an output's or update's part. */
  const partRows = (): Rows => {
    expect('[');
    const lo = int();
    expect(':');
    const hi = int();
    expect(']');
    return [lo, hi];
  };
  const attrValue = (): AttrValue => {
    const t = next();
    if (t.kind === 'num') return number(t.text);
    if (t.kind === 'str') return JSON.parse(t.text) as string;
    if (t.text === 'true' || t.text === 'false') return t.text === 'true';
    if (t.text === '[') {
      const xs: number[] = [];
      while (!peek(']')) {
        xs.push(number(next().text));
        if (!peek(']')) expect(',');
      }
      expect(']');
      return xs;
    }
    return err(`bad attribute value \`${t.text}\``);
  };
  const type = (): TensorType => {
    const dt = next().text as DType;
    expect('[');
    const shape: number[] = [];
    while (!peek(']')) {
      shape.push(int());
      if (!peek(']')) expect(',');
    }
    expect(']');
    return { dtype: dt, shape };
  };

  let closed = false;
  for (ln = 1; ln <= lines.length; ln++) {
    const raw = lines[ln - 1]!;
    if (!raw.trim() || raw.trim().startsWith('//')) continue;
    toks = lex(raw, ln);
    i = 0;
    if (closed) err('text after the end of the module');
    if (!m.name) {
      expect('module');
      const t = next();
      if (t.kind !== 'sym') err('expected @name');
      m.name = t.text.slice(1);
      expect('{');
    } else if (peek('}')) {
      closed = true;
      i++;
    } else if (peek('output') || peek('update')) {
      const kw = next().text;
      const name = str();
      const rows = peek('[') ? partRows() : undefined;
      expect('=');
      const v = ref();
      if (kw === 'output') m.outputs.push({ name, value: v, ...(rows && { rows }) });
      else m.updates.push({ target: name, value: v, ...(rows && { rows }) });
    } else {
      const idTok = next();
      if (idTok.kind !== 'ref') err(`expected %id, found \`${idTok.text}\``);
      if (byId.has(idTok.text)) err(`${idTok.text} is defined twice`);
      expect('=');
      const opText = next().text;
      if (!isOpOrLeaf(opText)) err(`unknown op \`${opText}\``);
      const op = opText as OpName | LeafOp;
      const leaf = LEAF_OPS.has(op);
      const attrs: Attrs = {};
      const name0 = leaf ? str() : undefined;
      if (name0 !== undefined) attrs['name'] = name0;
      const inputs: Value[] = [];
      if (toks[i]?.kind === 'ref') {
        inputs.push(ref());
        while (peek(',')) {
          i++;
          inputs.push(ref());
        }
      }
      if (peek('{')) {
        i++;
        while (!peek('}')) {
          const k = next().text;
          expect('=');
          attrs[k] = attrValue();
          if (!peek('}')) expect(',');
        }
        expect('}');
      }
      expect(':');
      const v: Value = { id: m.values.length, op, inputs, attrs, type: type() };
      if (name0 !== undefined) v.name = name0;
      if (toks[i]?.kind === 'str') v.name = str();
      if (peek('at')) {
        i++;
        const file = str();
        expect(':');
        const line = int();
        expect(':');
        const column = int();
        expect(':');
        const endLine = int();
        expect(':');
        v.loc = { file, line, column, endLine, endColumn: int() };
      }
      if (i < toks.length) err(`unexpected \`${toks[i]!.text}\``);
      byId.set(idTok.text, v);
      m.values.push(v);
    }
    if (i < toks.length) err(`unexpected \`${toks[i]!.text}\``);
  }
  if (!closed) throw new IrParseError('missing `}` at the end of the module', ln - 1, 1);
  return m;
}
