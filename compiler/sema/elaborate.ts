import { declaredName, isFreeSize, resolveName, Scope } from './scope.ts';
import type { Code } from '../../grammar/codes.ts';
import type { OpName } from '../ir/op-names.ts';
import type * as A from '../../grammar/ast.ts';
import {
  DiagnosticError,
  diag,
  didYouMean,
  type Diagnostic,
  type Span,
  type TraceFrame,
} from '../../grammar/diagnostics.ts';
import { Builder } from '../ir/builder.ts';
import { locOf, type Attrs, type Module, type Value } from '../ir/graph.ts';
import { dimAdd, dimDiv, dimMul, dimSub, fmtType, sameDim, ShapeError, type Dim, type DType } from '../ir/types.ts';
import { AUX_LOSS, BUILTINS, INITS, type ArgSpec, type Args, type BuiltinContext } from './builtins.ts';
import { graphSpecOf } from './graph-decl.ts';
import type { DeclRef, Program, SourceFile } from './program.ts';
import { asDim, describe, fromDim, POISON, type EVal } from './values.ts';
import { DataError } from '../../runtime/data/graph.ts';
import { graphShapes, type GraphShapes } from '../../runtime/data/graph-shapes.ts';

export interface ElabOptions {
  /** `check`: unbound sizes stay symbolic. `lower`: every size must be bound (static shapes). */
  mode: 'check' | 'lower';
  /** Dropout is active only while training. */
  training: boolean;
  /** Sizes bound by a plan. */
  binds: Map<string, number>;
  /** Serving with a KV cache: the prompt's pass writes the cache; a decode step (one token after `past`) reads it. */
  serve?: ServePhase;
  /** Told the value of each name where it is defined or read (the language server's hover). */
  record?: (span: Span, v: EVal) => void;
  /**
   * Unroll at most this many iterations of each `repeat` (the search over partitions costs a model from a few of its
   * layers); `repeats` records each loop's full count.
   */
  repeatLimit?: number;
}

export interface ServePhase {
  phase: 'prefill' | 'decode';
  /** Tokens already in the cache. */
  past: number;
  /** Positions the cache holds: prompt and generated tokens. */
  capacity: number;
}

/** A bound on unrolling (`repeat`), so that a typo such as `depth: 120000` fails fast instead of exhausting memory. */
const MAX_VALUES = 2_000_000;
/** The most elements one tensor may hold (2⁴⁸: 1 PiB of f32, beyond any machine; counts stay exact integers). */
const MAX_ELEMENTS = 2 ** 48;
/** A bound on the iterations of every `repeat` together (an empty body repeated 10¹² times adds no values). */
const MAX_ITERATIONS = 200_000;

const TYPE_NAMES = new Set(['int', 'float', 'bool', 'str', 'Graph']);

/** A body's scope of values (scope.ts), with where it is: its file, its name path, what kind of body. */
class Env extends Scope<EVal> {
  readonly counters = new Map<string, number>();
  constructor(
    readonly file: SourceFile,
    readonly path: string[],
    override readonly parent?: Env,
    readonly kind: 'model' | 'layer' | 'block' = 'block',
  ) {
    super(parent);
  }
  get fnKind(): 'model' | 'layer' {
    return this.kind === 'block' ? this.parent!.fnKind : this.kind;
  }
  /** A fresh child-scope segment for a call of `base` (`mlp`, then `mlp_1`, …). */
  segment(base: string): string {
    const n = this.counters.get(base) ?? 0;
    this.counters.set(base, n + 1);
    return n ? `${base}_${n}` : base;
  }
}

/** A layer's scope name: `LayerNorm` is `layer_norm`; a capital that ends the name joins its word (`MoE` is `moe`). */
const snake = (s: string) => s.replace(/([a-z0-9])([A-Z])(?!$)/g, '$1_$2').toLowerCase();

function hashString(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** How deep layer calls may nest (each level is a few frames of the elaborator's recursion). */
export const MAX_LAYER_NESTING = 64;

/**
 * Evaluates model and layer bodies into IR. The same code checks an unbound model (sizes stay
 * symbolic) and lowers a plan (every size bound, static shapes).
 */
export class Elaborator {
  readonly b = new Builder();
  readonly diagnostics: Diagnostic[] = [];
  readonly outputs: { name: string; value: Value }[] = [];
  /**
   * The `aux_loss` output so far (`aux_loss(x)` in layers: MoE balance losses), summed as the layers go, so that no
   * layer's term waits for the end of the forward pass.
   */
  private auxTotal: Value | undefined;
  /** End-of-step writes (KV caches). */
  readonly updates: { target: string; value: Value }[] = [];
  readonly usedSymbols = new Set<string>();
  private readonly leaves = new Map<string, Value>();
  private readonly seeds = new Map<string, number>();
  /** The name path of the statement being elaborated; unnamed ops are stamped with it. */
  private scopeName: string | undefined;

  constructor(
    readonly program: Program,
    readonly opts: ElabOptions,
  ) {}

  private scope(file: SourceFile) {
    return this.program.scopes.get(file) ?? new Map<string, DeclRef>();
  }

  /** The layer calls being elaborated, outermost first: diagnostics inside them carry the chain. */
  private readonly calls: TraceFrame[] = [];
  /** Iterations of `repeat` unrolled so far. */
  private iterations = 0;
  /** Each `repeat`'s full count, in the order elaborated (its loop unrolled at most `repeatLimit` times). */
  readonly repeats: number[] = [];
  /** The layers those calls expand, outermost first (a layer calling one of them would never end). */
  private readonly expanding: A.LayerDecl[] = [];

  private traced(d: Diagnostic): Diagnostic {
    return d.trace || !this.calls.length ? d : { ...d, trace: [...this.calls].reverse() };
  }

  /** Where diagnostics were reported (one per code and place). */
  private readonly reported = new Set<string>();

  private report(d0: Diagnostic) {
    const d = this.traced(d0);
    const key = `${d.code}|${d.span.file}|${d.span.line}|${d.span.column}`;
    if (this.reported.has(key)) return;
    this.reported.add(key);
    this.diagnostics.push(d);
  }

  private fail(code: Code, span: Span, message: string, hint?: string): never {
    throw new DiagnosticError(this.traced(diag(code, span, message, hint)));
  }

  // ── models ────────────────────────────────────────────────────────────

  /** Elaborates a model with the given parameter values; returns the forward module. */
  model(ref: DeclRef, args: Map<string, EVal>, moduleName: string): Module {
    const m = ref.decl as A.ModelDecl;
    const env = new Env(ref.file, [], undefined, 'model');
    for (const p of m.params) {
      const given = args.get(p.name.name);
      const v = given ?? this.paramDefault(p, env);
      if (v) env.vars.set(p.name.name, v), this.opts.record?.(p.name.span, v);
    }
    if (m.on) {
      const g = this.scope(ref.file).get(m.on.graph.name);
      // a graph that fails still declares its name, so its uses raise nothing more
      env.vars.set(m.on.name.name, POISON);
      if (g?.decl.kind !== 'graph')
        this.report(
          diag(
            'FLX2010',
            m.on.graph.span,
            `unknown graph \`${m.on.graph.name}\``,
            didYouMean(
              m.on.graph.name,
              [...this.scope(ref.file).values()].filter((d) => d.decl.kind === 'graph').map((d) => d.decl.name.name),
            ),
          ),
        );
      else {
        try {
          const spec = graphSpecOf(g.decl as A.GraphDecl, g.file);
          env.vars.set(m.on.name.name, { kind: 'graph', name: m.on.name.name, spec });
        } catch (e) {
          if (!(e instanceof DiagnosticError)) throw e;
          this.report(e.diagnostic);
        }
      }
    }
    this.block(m.body, env);
    if (this.auxTotal) this.auxOutput(m, this.auxTotal);
    if (!this.outputs.length && !this.diagnostics.length)
      this.report(
        diag(
          'FLX3060',
          m.name.span,
          `model \`${m.name.name}\` has no \`output\``,
          'declare one, e.g. `output loss = cross_entropy(logits, targets)`',
        ),
      );
    return { name: moduleName, values: this.b.values, outputs: this.outputs, updates: this.updates };
  }

  /** The `aux_loss` output: the sum of the model's auxiliary loss terms. */
  private auxOutput(m: A.ModelDecl, total: Value): void {
    if (this.outputs.some((o) => o.name === AUX_LOSS))
      return this.report(
        diag(
          'FLX2011',
          m.name.span,
          `model \`${m.name.name}\` declares an output \`${AUX_LOSS}\`, ` +
            `the name of the sum of its layers' \`aux_loss\` terms`,
          'rename the output',
        ),
      );
    this.outputs.push({ name: AUX_LOSS, value: total });
  }

  private paramDefault(p: A.ParamDecl, env: Env): EVal | undefined {
    const isType = p.type.kind === 'tensorType' || (p.type.kind === 'name' && TYPE_NAMES.has(p.type.name));
    const dflt = p.default ?? (isType ? undefined : (p.type as A.Expr));
    if (!dflt) return undefined;
    return this.guard(() => this.expr(dflt, env));
  }

  /** Checks a layer on its own, with symbolic sizes for its tensor arguments. */
  layerAlone(ref: DeclRef): void {
    const l = ref.decl as A.LayerDecl;
    const env = new Env(ref.file, [snake(l.name.name)], undefined, 'layer');
    for (const p of l.params) {
      const v = this.guard(() => {
        if (p.type.kind === 'tensorType') {
          const shape: Dim[] = [];
          for (const d of p.type.dims) {
            if (d.kind === 'ellipsis') shape.push('...');
            else if (d.kind === 'name' && !env.lookup(d.name)) {
              env.vars.set(d.name, { kind: 'sym', dim: d.name });
              shape.push(d.name);
            } else shape.push(this.dim(d, env));
          }
          return {
            kind: 'tensor',
            v: this.b.leaf(
              'input',
              `${l.name.name}.${p.name.name}`,
              { dtype: p.type.dtype as DType, shape },
              {},
              { loc: locOf(p.span) },
            ),
          } as EVal;
        }
        if (p.default) return this.expr(p.default, env);
        if (p.type.kind === 'name' && p.type.name === 'int') return { kind: 'sym', dim: p.name.name } as EVal;
        if (p.type.kind === 'name' && p.type.name === 'float') return { kind: 'num', n: 1 } as EVal;
        if (p.type.kind === 'name' && p.type.name === 'bool') return { kind: 'bool', b: true } as EVal;
        if (p.type.kind === 'name' && TYPE_NAMES.has(p.type.name)) return POISON;
        return this.expr(p.type, env);
      });
      env.vars.set(p.name.name, v);
      this.opts.record?.(p.name.span, v);
    }
    this.expanding.push(l);
    try {
      this.guard(() => this.layerBody(l, env, l.span));
    } finally {
      this.expanding.pop();
    }
  }

  // ── statements ────────────────────────────────────────────────────────

  private guard(f: () => EVal): EVal {
    try {
      return f();
    } catch (e) {
      if (!(e instanceof DiagnosticError)) throw e;
      this.report(e.diagnostic);
      return POISON;
    }
  }

  private block(stmts: A.Stmt[], env: Env): EVal | undefined {
    let ret: EVal | undefined;
    for (const s of stmts) {
      this.scopeName = env.path.length ? env.path.join('.') : undefined;
      const r = this.guard(() => this.stmt(s, env) ?? POISON);
      // a declaration that failed still declares its name, so later uses do not pile up errors
      const declared = declaredName(s);
      if (declared && !env.vars.has(declared.name)) env.vars.set(declared.name, POISON);
      if (s.kind === 'return') ret = r;
    }
    return ret;
  }

  private stmt(s: A.Stmt, env: Env): EVal | undefined {
    const path = (n: string) => [...env.path, n].join('.');
    switch (s.kind) {
      case 'input': {
        if (env.fnKind !== 'model')
          this.fail('FLX3020', s.span, '`input` belongs in a model; a layer takes its inputs as arguments');
        const type = this.tensorType(s.type, env, s.name.name);
        const v = this.b.leaf('input', path(s.name.name), type, {}, { loc: locOf(s.name.span) });
        this.define(env, s.name, { kind: 'tensor', v });
        return undefined;
      }
      case 'param': {
        const type = this.tensorType(s.type, env, s.name.name);
        const init = s.init ? this.initializer(s.init, env) : { init: 'normal', std: 0.02, mean: 0 };
        const v = this.b.leaf('param', path(s.name.name), type, init, { loc: locOf(s.name.span) });
        this.define(env, s.name, { kind: 'tensor', v });
        return undefined;
      }
      case 'let': {
        const v = this.guard(() => this.named(this.expr(s.value, env), path(s.name.name)));
        this.define(env, s.name, v);
        return undefined;
      }
      case 'assign': {
        const owner = env.owner(s.name.name);
        if (!owner)
          this.fail(
            'FLX2012',
            s.name.span,
            `\`${s.name.name}\` is not defined`,
            `declare it first: \`let ${s.name.name} = …\``,
          );
        const v = this.guard(() => this.named(this.expr(s.value, env), path(s.name.name)));
        owner.vars.set(s.name.name, v);
        this.opts.record?.(s.name.span, v);
        return undefined;
      }
      case 'repeat': {
        const n = this.expr(s.count, env);
        if (n.kind === 'poison') return undefined;
        const count =
          n.kind === 'num' && Number.isInteger(n.n) && n.n >= 0
            ? n.n
            : n.kind === 'sym'
              ? 1
              : this.fail('FLX3004', s.count.span, `repeat needs a whole number of times, got ${describe(n)}`);
        const base = env.segment('layer');
        this.repeats.push(count);
        const unrolled = Math.min(count, this.opts.repeatLimit ?? count);
        // iterations are bounded like operations: an empty body repeated 10¹² times must not hang
        for (let i = 0; i < unrolled; i++) {
          if (this.iterations + count - i > MAX_ITERATIONS)
            this.fail(
              'FLX5009',
              s.count.span,
              `\`repeat\` unrolls more than ${MAX_ITERATIONS.toLocaleString('en-US')} times in all`,
              'check `repeat` counts and model sizes',
            );
          this.iterations++;
          const inner = new Env(env.file, [...env.path, base, String(i)], env, 'block');
          inner.vars.set(s.var.name, n.kind === 'sym' ? { kind: 'sym', dim: s.var.name } : { kind: 'num', n: i });
          this.opts.record?.(s.var.span, inner.vars.get(s.var.name)!);
          this.block(s.body, inner);
        }
        return undefined;
      }
      case 'output': {
        if (env.fnKind !== 'model')
          this.fail('FLX3020', s.span, '`output` belongs in a model; a layer ends with `return`');
        const v = this.expr(s.value, env);
        if (v.kind === 'poison') return undefined;
        if (v.kind !== 'tensor') this.fail('FLX3004', s.value.span, `an output must be a tensor, got ${describe(v)}`);
        this.named(v, path(s.name.name));
        this.opts.record?.(s.name.span, v);
        if (this.outputs.some((o) => o.name === s.name.name))
          this.fail('FLX2011', s.name.span, `output \`${s.name.name}\` is declared twice`);
        this.outputs.push({ name: s.name.name, value: v.v });
        return undefined;
      }
      case 'return':
        if (env.fnKind !== 'layer')
          this.fail('FLX3020', s.span, '`return` belongs in a layer; a model declares `output`s');
        return this.expr(s.value, env);
    }
  }

  private named(v: EVal, name: string): EVal {
    if (
      v.kind === 'tensor' &&
      (v.v.name === undefined || v.v.name === this.scopeName) &&
      v.v.op !== 'input' &&
      v.v.op !== 'param'
    )
      v.v.name = name;
    return v;
  }

  private define(env: Env, id: A.Ident, v: EVal): void {
    this.opts.record?.(id.span, v);
    if (env.vars.has(id.name))
      this.fail(
        'FLX2011',
        id.span,
        `\`${id.name}\` is already defined in this scope`,
        `to rebind it, write \`${id.name} = …\` without \`let\``,
      );
    env.vars.set(id.name, v);
  }

  private initializer(e: A.Expr, env: Env): Attrs {
    if (e.kind !== 'call' || e.callee.kind !== 'name' || !INITS[e.callee.name]) {
      const name = e.kind === 'call' && e.callee.kind === 'name' ? e.callee.name : undefined;
      this.fail(
        'FLX3004',
        e.span,
        `a parameter initializer must be one of ${Object.keys(INITS)
          .map((k) => `${k}(…)`)
          .join(', ')}`,
        name ? didYouMean(name, Object.keys(INITS)) : undefined,
      );
    }
    const spec = INITS[e.callee.name]!;
    const args = this.bindArgs(e.callee.name, spec.params, e.args, env, e.span);
    const [low, high] = [args['low'], args['high']];
    if (low?.kind === 'num' && high?.kind === 'num' && !(low.n < high.n))
      this.fail('FLX3004', e.span, `\`uniform(low, high)\` needs low below high, got ${low.n} and ${high.n}`);
    const attrs: Attrs = { init: e.callee.name };
    for (const [k, v] of Object.entries(args)) if (v.kind === 'num') attrs[k] = v.n;
    return attrs;
  }

  private tensorType(t: A.TypeRef, env: Env, what: string): { dtype: DType; shape: Dim[] } {
    if (t.kind !== 'tensorType')
      this.fail('FLX3004', t.span, `\`${what}\` needs a tensor type such as f32[B, 784], got \`${t.name.name}\``);
    const shape = t.dims.map((d) =>
      d.kind === 'ellipsis'
        ? this.fail('FLX3002', d.span, '`...` may only appear in a layer argument type')
        : this.dim(d, env),
    );
    const elements = shape.reduce<number>((a, d) => (typeof d === 'number' ? a * d : a), 1);
    if (elements > MAX_ELEMENTS)
      this.fail(
        'FLX3015',
        t.span,
        `${t.dtype}[${shape.join(', ')}] holds ${elements.toExponential(2)} elements, more than any memory ` +
          `(flexc allows 2⁴⁸ = ${MAX_ELEMENTS.toExponential(2)} per tensor)`,
      );
    return { dtype: t.dtype as DType, shape };
  }

  /** Evaluates a size expression; an unknown name is a symbol the plan binds. */
  private dim(e: A.Expr, env: Env): Dim {
    if (e.kind === 'name' && isFreeSize(e.name, env, env.file, this.program)) {
      this.usedSymbols.add(e.name);
      const bound = this.opts.binds.get(e.name);
      if (bound === undefined && this.opts.mode === 'lower')
        this.fail(
          'FLX5003',
          e.span,
          `size \`${e.name}\` is not bound`,
          `bind it in the plan, e.g. \`bind: { ${e.name}: 8 }\``,
        );
      const d = bound ?? e.name;
      let root = env;
      while (root.parent) root = root.parent;
      root.vars.set(e.name, fromDim(d));
      return d;
    }
    const v = this.expr(e, env);
    const d = asDim(v);
    if (d === undefined || (typeof d === 'number' && d < 0))
      this.fail('FLX3004', e.span, `a size must be a whole number, got ${describe(v)}`);
    return d;
  }

  // ── expressions ───────────────────────────────────────────────────────

  expr(e: A.Expr, env: Env): EVal {
    switch (e.kind) {
      case 'number':
        if (e.unit)
          this.fail(
            'FLX4004',
            e.unit.span,
            `units such as \`${e.unit.name}\` belong in hardware and plan declarations`,
          );
        return { kind: 'num', n: e.value };
      case 'string':
        return { kind: 'str', s: e.value };
      case 'bool':
        return { kind: 'bool', b: e.value };
      case 'name': {
        const v = this.lookup(e.name, e.span, env);
        this.opts.record?.(e.span, v);
        return v;
      }
      case 'neg': {
        const v = this.expr(e.operand, env);
        if (v.kind === 'num') return { kind: 'num', n: -v.n };
        if (v.kind === 'sym') return { kind: 'sym', dim: `-${v.dim}` };
        if (v.kind === 'tensor') return this.op('neg', [v.v], {}, e.span);
        return v.kind === 'poison' ? v : this.fail('FLX3004', e.span, `cannot negate ${describe(v)}`);
      }
      case 'binary':
        return this.binary(e, env);
      case 'call':
        return this.call(e, env);
      case 'index':
        return this.index(e, env);
      case 'member':
        return this.member(e, env);
      case 'list':
        return { kind: 'list', items: e.items.map((i) => this.expr(i, env)) };
      case 'object':
        return this.fail('FLX3004', e.span, '`{ … }` blocks belong in plans and hardware declarations');
    }
  }

  private lookup(name: string, span: Span, env: Env): EVal {
    const r = resolveName(name, env, env.file, this.program);
    if (r.kind === 'local') return r.value;
    if (r.kind === 'decl') return { kind: 'decl', ref: r.ref };
    if (r.kind === 'builtin') this.fail('FLX3004', span, `\`${name}\` is a function; call it: \`${name}(…)\``);
    if (this.opts.binds.has(name)) {
      this.usedSymbols.add(name);
      return { kind: 'num', n: this.opts.binds.get(name)! };
    }
    const scope = this.scope(env.file);
    const candidates = (function* () {
      yield* env.names();
      yield* scope.keys();
    })();
    return this.fail('FLX2010', span, `unknown name \`${name}\``, didYouMean(name, candidates));
  }

  private binary(e: A.Expr & { kind: 'binary' }, env: Env): EVal {
    const l = this.expr(e.left, env);
    const r = this.expr(e.right, env);
    if (l.kind === 'poison' || r.kind === 'poison') return POISON;
    if (e.op === '@') {
      if (l.kind !== 'tensor' || r.kind !== 'tensor')
        this.fail('FLX3004', e.span, `\`@\` multiplies two tensors, got ${describe(l.kind === 'tensor' ? r : l)}`);
      return this.op('matmul', [l.v, r.v], {}, e.span);
    }
    if (e.op === '/' && r.kind === 'num' && r.n === 0)
      this.fail('FLX3004', e.right.span, 'division by zero', 'every element would be infinite or NaN');
    const ld = asDim(l);
    const rd = asDim(r);
    if (l.kind === 'num' && r.kind === 'num') {
      const f = {
        '+': (a: number, b: number) => a + b,
        '-': (a: number, b: number) => a - b,
        '*': (a: number, b: number) => a * b,
        '/': (a: number, b: number) => a / b,
      }[e.op];
      const n = f(l.n, r.n);
      if (e.op === '/' && Number.isInteger(l.n) && Number.isInteger(r.n) && !Number.isInteger(n)) {
        const operand = (x: A.Expr, v: number) => (x.kind === 'name' ? `${x.name} = ${v}` : `${v}`);
        return {
          kind: 'num',
          n,
          inexact: { span: e.span, message: `${operand(e.left, l.n)} is not divisible by ${operand(e.right, r.n)}` },
        };
      }
      return { kind: 'num', n };
    }
    if (ld !== undefined && rd !== undefined) {
      const f = { '+': dimAdd, '-': dimSub, '*': dimMul, '/': dimDiv }[e.op];
      return fromDim(f(ld, rd));
    }
    if (l.kind === 'tensor' || r.kind === 'tensor') {
      const dtype = (l.kind === 'tensor' ? l.v : (r as EVal & { kind: 'tensor' }).v).type.dtype;
      const toT = (v: EVal, side: A.Expr): Value => {
        if (v.kind === 'tensor') return v.v;
        if (v.kind === 'num') return this.b.op('const', [], { value: v.n, dtype });
        return this.fail('FLX3004', side.span, `cannot combine a tensor with ${describe(v)}`);
      };
      const op = ({ '+': 'add', '-': 'sub', '*': 'mul', '/': 'div' } as const)[e.op];
      return this.op(op, [toT(l, e.left), toT(r, e.right)], {}, e.span);
    }
    return this.fail('FLX3004', e.span, `cannot apply \`${e.op}\` to ${describe(l)} and ${describe(r)}`);
  }

  /** Builds an op; a shape rule's complaint becomes a diagnostic naming each operand's type and origin. */
  op(name: OpName, inputs: Value[], attrs: Attrs, span: Span): EVal {
    if (this.b.values.length >= MAX_VALUES)
      this.fail(
        'FLX5009',
        span,
        `the unrolled model has more than ${MAX_VALUES.toLocaleString('en-US')} operations`,
        'check `repeat` counts and model sizes',
      );
    if (name === 'gather') this.positionsFit(inputs[0]!, inputs[1]!, span);
    try {
      return { kind: 'tensor', v: this.b.op(name, inputs, attrs, { loc: locOf(span), name: this.scopeName }) };
    } catch (e) {
      if (!(e instanceof ShapeError)) throw e;
      const operands = inputs
        .filter((v) => v.op !== 'const')
        .map((v) => {
          const file = v.loc && v.loc.file !== span.file ? ` of ${v.loc.file}` : '';
          const where = v.loc && `line ${v.loc.line}:${v.loc.column}${file}`;
          return `${fmtType(v.type)}${v.name ? ` \`${v.name}\`` : ''}${where ? ` (from ${where})` : ''}`;
        })
        .join(' and ');
      return this.fail('FLX3001', span, `shape mismatch in ${name}: ${e.message}; operands are ${operands}`);
    }
  }

  /**
   * Indices known when the model is built (token positions) must fit the table they pick from: a
   * sequence longer than a position table (`T` past `ctx`, or a prompt and its decoded tokens) is an
   * error here, not an index out of range at run time or garbage on a device.
   */
  private positionsFit(table: Value, idx: Value, span: Span): void {
    const rows = table.type.shape[0];
    const len = idx.type.shape[0];
    if (idx.op !== 'positions' || typeof rows !== 'number' || typeof len !== 'number') return;
    const last = Number(idx.attrs['offset'] ?? 0) + len - 1;
    if (last < rows) return;
    const who = table.name ?? (table.op === 'param' ? String(table.attrs['name']) : 'the table');
    this.fail(
      'FLX3001',
      span,
      `positions run to ${last}, past the ${rows} rows of \`${who}\``,
      'the sequence (with any cached tokens) is longer than the table of positions: lengthen the table',
    );
  }

  private call(e: A.Expr & { kind: 'call' }, env: Env): EVal {
    if (e.callee.kind !== 'name')
      this.fail('FLX3030', e.callee.span, 'only layers and built-in functions can be called');
    const name = e.callee.name;
    const r = resolveName(name, env, env.file, this.program);
    if (r.kind === 'local' && r.value.kind === 'poison') return POISON;
    if (r.kind === 'local')
      this.fail(
        'FLX3030',
        e.callee.span,
        `\`${name}\` is ${describe(r.value)} defined in this body, not a layer or function`,
      );
    if (r.kind === 'decl' && r.ref.decl.kind === 'layer') return this.callLayer(r.ref, e, env);
    if (r.kind === 'decl')
      this.fail(
        'FLX3030',
        e.callee.span,
        `\`${name}\` is a ${r.ref.decl.kind}, not a layer; only layers can be called inside a model`,
      );
    const bi = r.kind === 'builtin' ? BUILTINS[name] : undefined;
    if (!bi) {
      if (r.kind === 'builtin')
        this.fail('FLX3004', e.span, `\`${name}(…)\` initialises a parameter: write \`param w: f32[…] = ${name}(…)\``);
      const candidates = [
        ...Object.keys(BUILTINS),
        ...[...this.scope(env.file).values()].filter((d) => d.decl.kind === 'layer').map((d) => d.decl.name.name),
      ];
      this.fail('FLX2010', e.callee.span, `unknown layer or function \`${name}\``, didYouMean(name, candidates));
    }
    const args = this.bindArgs(name, bi.params, e.args, env, e.span);
    if (Object.values(args).some((a) => a.kind === 'poison')) return POISON;
    const cx: BuiltinContext = {
      span: e.span,
      training: this.opts.training,
      op: (n, ins, at = {}) => this.op(n, ins, at, e.span),
      fail: (code, msg, hint) => this.fail(code, e.span, msg, hint),
      step: () => this.leaf('step', { dtype: 'i32', shape: [] }, { feed: 'step' }),
      seed: () => {
        const key = [...env.path, name].join('.');
        const n = this.seeds.get(key) ?? 0;
        this.seeds.set(key, n + 1);
        return hashString(`${key}#${n}`) & 0x7fffffff;
      },
      graphTensor: (g, feed) => this.graphTensor(g, feed, e.span),
      past: this.opts.serve?.phase === 'decode' ? this.opts.serve.past : 0,
      cache: (x, axis) => this.cache(x, axis, env, e.span),
      auxLoss: (x) => {
        const t = this.auxTotal;
        this.auxTotal = t ? this.b.op('add', [t, x], {}, { loc: locOf(e.span), name: AUX_LOSS }) : x;
      },
    };
    return bi.build(cx, args);
  }

  /**
   * Keys or values of attention: with a KV cache, written to a `state` leaf and, when decoding, read back with every
   * past token.
   */
  private cache(x: Value, axis: number, env: Env, span: Span): Value {
    const s = this.opts.serve;
    const rank = x.type.shape.length;
    if (axis < -rank || axis >= rank)
      this.fail('FLX3050', span, `cache axis ${axis} is out of range for a tensor of rank ${rank}`);
    if (!s) return x;
    const ax = (axis + rank) % rank;
    const base = [...env.path, 'kv_cache'].join('.');
    const n = this.seeds.get(base) ?? 0;
    this.seeds.set(base, n + 1);
    const name = n ? `${base}_${n}` : base;
    const loc = locOf(span);
    const type = { dtype: x.type.dtype, shape: x.type.shape.map((d, i) => (i === ax ? s.capacity : d)) };
    const c = this.b.leaf('state', name, type, { init: 'zeros', kv_cache: true }, { loc });
    const w = this.op('cache_write', [c, x], { axis: ax, at: s.past }, span);
    if (w.kind !== 'tensor') return x;
    this.updates.push({ target: name, value: w.v });
    if (s.phase === 'prefill') return x;
    const view = this.op('cache_view', [w.v], { axis: ax, length: s.past + (x.type.shape[ax] as number) }, span);
    return view.kind === 'tensor' ? view.v : x;
  }

  private leaf(name: string, type: { dtype: DType; shape: Dim[] }, attrs: Attrs): Value {
    const have = this.leaves.get(name);
    if (have) return have;
    const v = this.b.leaf('input', name, type, attrs);
    this.leaves.set(name, v);
    return v;
  }

  private graphTensor(g: EVal & { kind: 'graph' }, feed: string, span: Span): Value {
    let shapes: GraphShapes;
    try {
      shapes = graphShapes(g.spec);
    } catch (err) {
      if (err instanceof DataError) this.fail('FLX6002', span, `graph \`${g.spec.name}\`: ${err.message}`);
      throw err;
    }
    const { dtype, shape } = shapes.feed(feed);
    // features read from CSR files say how many nonzeros they hold: the sparse-features pass can keep them sparse
    const sparse = feed === 'features' && g.spec.features && 'indptr' in g.spec.features;
    return this.leaf(
      `${g.name}.${feed}`,
      { dtype, shape },
      { feed: `graph:${g.spec.name}/${feed}`, ...(sparse ? { nnz: shapes.before('feat', shapes.nodes) } : {}) },
    );
  }

  /** Matches call arguments to parameters: positional first, then by name. */
  private bindArgs(callee: string, params: ArgSpec[], args: A.Arg[], env: Env, span: Span): Args {
    const out: Args = {};
    let pos = 0;
    for (const a of args) {
      let spec: ArgSpec | undefined;
      if (a.name) {
        spec = params.find((p) => p.name === a.name!.name);
        if (!spec)
          this.fail(
            'FLX3010',
            a.name.span,
            `\`${callee}\` has no argument \`${a.name.name}\``,
            didYouMean(
              a.name.name,
              params.map((p) => p.name),
            ) ?? `it takes ${params.map((p) => `\`${p.name}\``).join(', ') || 'no arguments'}`,
          );
      } else {
        spec = params[pos++];
        if (!spec)
          this.fail(
            'FLX3012',
            a.span,
            `\`${callee}\` takes ${params.length} argument${params.length === 1 ? '' : 's'}, got more`,
          );
      }
      if (out[spec.name]) this.fail('FLX3013', a.span, `argument \`${spec.name}\` of \`${callee}\` is given twice`);
      out[spec.name] = this.checkKind(this.expr(a.value, env), spec, callee, a.value.span);
    }
    for (const p of params) {
      if (out[p.name]) continue;
      if (!p.default) this.fail('FLX3011', span, `\`${callee}\` needs argument \`${p.name}\``);
      out[p.name] = p.default;
    }
    return out;
  }

  /** A size that came out of a division with a remainder is a diagnostic of its own, at the division. */
  private wholeSizes(v: EVal): void {
    for (const i of v.kind === 'list' ? v.items : [v])
      if (i.kind === 'num' && i.inexact)
        this.fail(
          'FLX3014',
          i.inexact.span,
          `a size must be a whole number: ${i.inexact.message}`,
          'choose sizes that divide evenly',
        );
  }

  private checkKind(v: EVal, spec: ArgSpec, callee: string, span: Span): EVal {
    if (v.kind === 'poison' || spec.kind === 'any') return v;
    if (spec.kind === 'ints' || spec.kind === 'int') this.wholeSizes(v);
    const ok =
      spec.kind === 'tensor'
        ? v.kind === 'tensor'
        : spec.kind === 'int'
          ? (v.kind === 'num' && Number.isInteger(v.n)) || v.kind === 'sym'
          : spec.kind === 'float'
            ? v.kind === 'num'
            : spec.kind === 'bool'
              ? v.kind === 'bool'
              : spec.kind === 'graph'
                ? v.kind === 'graph'
                : spec.kind === 'ints'
                  ? v.kind === 'list' &&
                    v.items.every((i) => asDim(i) !== undefined || (i.kind === 'num' && i.n === -1))
                  : v.kind === 'list' && v.items.every((i) => i.kind === 'tensor');
    if (!ok) {
      const want = {
        tensor: 'a tensor',
        int: 'a whole number',
        float: 'a number',
        bool: '`true` or `false`',
        graph: 'a graph',
        ints: 'a list of sizes such as [B, T, 4]',
        tensors: 'a list of tensors',
        any: '',
      }[spec.kind];
      this.fail('FLX3004', span, `argument \`${spec.name}\` of \`${callee}\` must be ${want}, got ${describe(v)}`);
    }
    if (v.kind === 'num' && spec.valid && !spec.valid.test(v.n))
      this.fail('FLX3004', span, `argument \`${spec.name}\` of \`${callee}\` must be ${spec.valid.says}, got ${v.n}`);
    return v;
  }

  private callLayer(ref: DeclRef, e: A.Expr & { kind: 'call' }, env: Env): EVal {
    const l = ref.decl as A.LayerDecl;
    if (this.expanding.includes(l)) {
      const cycle = [...this.expanding.slice(this.expanding.indexOf(l)), l].map((x) => x.name.name).join(' → ');
      this.fail(
        'FLX3042',
        e.callee.span,
        `layer \`${l.name.name}\` calls itself (${cycle})`,
        'layers are expanded where they are called, so recursion never ends; repeat blocks with `repeat N as i { … }`',
      );
    }
    if (this.expanding.length >= MAX_LAYER_NESTING)
      this.fail('FLX3042', e.callee.span, `layer calls nest more than ${MAX_LAYER_NESTING} deep`);
    const inner = new Env(ref.file, [...env.path, env.segment(snake(l.name.name))], undefined, 'layer');
    const specs: ArgSpec[] = l.params.map((p) => ({ name: p.name.name, kind: 'any' }));
    const given = new Map<string, { v: EVal; span: Span }>();
    let pos = 0;
    for (const a of e.args) {
      const name = a.name?.name ?? specs[pos++]?.name;
      if (a.name && !specs.some((s) => s.name === a.name!.name))
        this.fail(
          'FLX3010',
          a.name.span,
          `layer \`${l.name.name}\` has no argument \`${a.name.name}\``,
          didYouMean(
            a.name.name,
            specs.map((s) => s.name),
          ) ?? `it takes ${specs.map((s) => `\`${s.name}\``).join(', ')}`,
        );
      if (!name)
        this.fail(
          'FLX3012',
          a.span,
          `layer \`${l.name.name}\` takes ${specs.length} argument${specs.length === 1 ? '' : 's'}, got more`,
        );
      if (given.has(name)) this.fail('FLX3013', a.span, `argument \`${name}\` of \`${l.name.name}\` is given twice`);
      given.set(name, { v: this.expr(a.value, env), span: a.value.span });
    }
    for (const p of l.params) {
      const g = given.get(p.name.name);
      let v: EVal;
      if (g) v = g.v;
      else {
        const d = this.paramDefault(p, inner);
        if (!d)
          this.fail(
            'FLX3011',
            e.span,
            `layer \`${l.name.name}\` needs argument \`${p.name.name}\``,
            `declared at ${ref.file.path}:${p.span.line}`,
          );
        v = d;
      }
      if (v.kind === 'poison') return POISON;
      this.checkParam(p, v, inner, l.name.name, g?.span ?? e.span);
      inner.vars.set(p.name.name, v);
    }
    const saved = this.scopeName;
    this.calls.push({ span: e.span, note: `in \`${l.name.name}\`, called from here` });
    this.expanding.push(l);
    try {
      return this.layerBody(l, inner, e.span);
    } finally {
      this.expanding.pop();
      this.calls.pop();
      this.scopeName = saved;
    }
  }

  private layerBody(l: A.LayerDecl, env: Env, callSpan: Span): EVal {
    const ret = this.block(l.body, env);
    if (!ret) this.fail('FLX3040', l.name.span, `layer \`${l.name.name}\` has no \`return\``);
    if (ret.kind === 'poison') return ret;
    if (l.returns && l.returns.kind === 'tensorType') {
      if (ret.kind !== 'tensor')
        this.fail(
          'FLX3041',
          l.returns.span,
          `layer \`${l.name.name}\` returns ${describe(ret)}, but declares ${l.returns.dtype}[…]`,
        );
      this.matchTensor(l.returns, ret.v, env, `the result of \`${l.name.name}\``, callSpan, 'FLX3041');
    }
    return ret;
  }

  private checkParam(p: A.ParamDecl, v: EVal, env: Env, layer: string, span: Span): void {
    const t = p.type;
    if (t.kind === 'tensorType') {
      if (v.kind !== 'tensor')
        this.fail('FLX3004', span, `argument \`${p.name.name}\` of \`${layer}\` must be a tensor, got ${describe(v)}`);
      this.matchTensor(t, v.v, env, `argument \`${p.name.name}\` of \`${layer}\``, span, 'FLX3002');
      return;
    }
    if (t.kind === 'name' && TYPE_NAMES.has(t.name)) {
      if (t.name === 'int') this.wholeSizes(v);
      const ok = {
        int: asDim(v) !== undefined,
        float: v.kind === 'num',
        bool: v.kind === 'bool',
        str: v.kind === 'str',
        Graph: v.kind === 'graph',
      }[t.name];
      if (!ok)
        this.fail(
          'FLX3004',
          span,
          `argument \`${p.name.name}\` of \`${layer}\` must be ` +
            `${t.name === 'int' ? 'a whole number' : `a ${t.name}`}, got ${describe(v)}`,
        );
    }
  }

  /** Matches a value's type against a declared tensor type, binding the declared type's free size names. */
  private matchTensor(t: A.TensorType, v: Value, env: Env, what: string, span: Span, code: Code): void {
    const shape = v.type.shape;
    const declared = `${t.dtype}[${t.dims.map((d) => (d.kind === 'ellipsis' ? '...' : exprText(d))).join(', ')}]`;
    const origin = v.loc
      ? ` (from line ${v.loc.line}:${v.loc.column}${v.loc.file !== span.file ? ` of ${v.loc.file}` : ''})`
      : '';
    const mismatch = (detail: string): never =>
      this.fail(code, span, `${what} must be ${declared} but is ${fmtType(v.type)}${origin}: ${detail}`);
    if (v.type.dtype !== t.dtype)
      this.fail(
        'FLX3003',
        span,
        `${what} must be ${declared} but is ${fmtType(v.type)}${origin}: dtype ${v.type.dtype} is not ${t.dtype}`,
      );
    const ell = t.dims.findIndex((d) => d.kind === 'ellipsis');
    const pre = ell < 0 ? t.dims : t.dims.slice(0, ell);
    const post = ell < 0 ? [] : t.dims.slice(ell + 1);
    if (ell < 0 ? shape.length !== t.dims.length : shape.length < pre.length + post.length)
      mismatch(`rank ${shape.length} is not ${ell < 0 ? t.dims.length : `at least ${pre.length + post.length}`}`);
    const pairs: [A.Expr, Dim][] = [
      ...pre.map((d, i) => [d as A.Expr, shape[i]!] as [A.Expr, Dim]),
      ...post.map((d, i) => [d as A.Expr, shape[shape.length - post.length + i]!] as [A.Expr, Dim]),
    ];
    for (const [d, actual] of pairs) {
      if (d.kind === 'name' && isFreeSize(d.name, env, env.file, this.program)) {
        env.vars.set(d.name, fromDim(actual));
        continue;
      }
      const want = this.dim(d, env);
      if (!sameDim(want, actual)) mismatch(`size \`${exprText(d)}\` is ${want} here but ${actual} in the value`);
    }
  }

  private index(e: A.Expr & { kind: 'index' }, env: Env): EVal {
    const t = this.expr(e.target, env);
    if (t.kind === 'poison') return t;
    if (t.kind !== 'tensor') this.fail('FLX3050', e.target.span, `only tensors can be indexed, not ${describe(t)}`);
    const x = t.v;
    if (e.items.length === 1 && e.items[0]!.kind !== 'slice') {
      const i = this.expr(e.items[0] as A.Expr, env);
      if (i.kind === 'tensor') return this.op('gather', [x, i.v], {}, e.span);
    }
    const shape = x.type.shape;
    if (e.items.length > shape.length)
      this.fail('FLX3050', e.span, `${e.items.length} indices for a tensor of rank ${shape.length}`);
    const starts: Dim[] = [];
    const ends: Dim[] = [];
    const drop: number[] = [];
    shape.forEach((d, k) => {
      const it = e.items[k];
      if (!it) {
        starts.push(0);
        ends.push(d);
        return;
      }
      const at = (ex: A.Expr | undefined, dflt: Dim): Dim => {
        if (!ex) return dflt;
        const v = this.expr(ex, env);
        const n = asDim(v) ?? (v.kind === 'num' && Number.isInteger(v.n) ? v.n : undefined);
        if (n === undefined) this.fail('FLX3050', ex.span, `an index must be a whole number, got ${describe(v)}`);
        return typeof n === 'number' && n < 0 && typeof d === 'number' ? d + n : n;
      };
      if (it.kind === 'slice') {
        starts.push(at(it.start, 0));
        ends.push(at(it.end, d));
      } else {
        const s = at(it, 0);
        if (typeof s === 'number' && typeof d === 'number' && (s < 0 || s >= d)) {
          // a negative index counts from the end: `at` has added the size to it
          this.fail(
            'FLX3050',
            it.span,
            `index ${s < 0 ? s - d : s} is out of range for dimension ${k} of size ${d}`,
            `an index runs from ${-d} to ${d - 1}`,
          );
        }
        starts.push(s);
        ends.push(dimAdd(s, 1));
        drop.push(k);
      }
    });
    const sl = this.op('slice', [x], { starts: starts as number[], ends: ends as number[] }, e.span);
    if (!drop.length || sl.kind !== 'tensor') return sl;
    const out = sl.v.type.shape.filter((_, k) => !drop.includes(k));
    return this.op('reshape', [sl.v], { shape: out as number[] }, e.span);
  }

  private member(e: A.Expr & { kind: 'member' }, env: Env): EVal {
    const t = this.expr(e.target, env);
    if (t.kind === 'poison') return t;
    const m = e.name.name;
    if (t.kind === 'graph') {
      if (m === 'features' || m === 'labels') return { kind: 'tensor', v: this.graphTensor(t, m, e.span) };
      if (m === 'nodes') return { kind: 'num', n: t.spec.nodes };
      if (m === 'split') return { kind: 'split', graph: t };
      this.fail(
        'FLX3051',
        e.name.span,
        `graph \`${t.name}\` has no member \`${m}\``,
        didYouMean(m, ['features', 'labels', 'nodes', 'split']) ?? 'it has `features`, `labels`, `nodes` and `split`',
      );
    }
    if (t.kind === 'split') {
      if (m === 'train' || m === 'val' || m === 'test')
        return { kind: 'tensor', v: this.graphTensor(t.graph, `split.${m}`, e.span) };
      this.fail(
        'FLX3051',
        e.name.span,
        `a split has no member \`${m}\``,
        didYouMean(m, ['train', 'val', 'test']) ?? 'it has `train`, `val` and `test`',
      );
    }
    if (t.kind === 'tensor' && (m === 'rank' || m === 'shape')) {
      return m === 'rank'
        ? { kind: 'num', n: t.v.type.shape.length }
        : { kind: 'list', items: t.v.type.shape.map(fromDim) };
    }
    return this.fail('FLX3051', e.name.span, `${describe(t)} has no member \`${m}\``);
  }
}

export function exprText(e: A.Expr): string {
  switch (e.kind) {
    case 'number':
      return e.text;
    case 'name':
      return e.name;
    case 'binary':
      return `${exprText(e.left)} ${e.op} ${exprText(e.right)}`;
    case 'neg':
      return `-${exprText(e.operand)}`;
    default:
      return '…';
  }
}
