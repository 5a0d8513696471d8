import type * as A from '../../grammar/ast.ts';
import { BUILTINS, INITS } from './builtins.ts';
import type { DeclRef, Program, SourceFile } from './program.ts';

/**
 * The names of a body: a chain of scopes, innermost first (a `repeat` body inside a layer's). A
 * layer or model body starts a chain of its own: it sees no caller's names. The elaborator keeps
 * values in it, the language server definitions.
 */
export class Scope<T> {
  readonly vars = new Map<string, T>();
  constructor(readonly parent?: Scope<T>) {}

  lookup(name: string): T | undefined {
    return this.vars.get(name) ?? this.parent?.lookup(name);
  }

  /** The scope that defines a name (where `x = …` rebinds it). */
  owner(name: string): this | undefined {
    return this.vars.has(name) ? this : (this.parent?.owner(name) as this | undefined);
  }

  /** The names visible here, innermost first, produced as they are needed (did-you-mean stops early). */
  *names(): Generator<string> {
    for (let s: Scope<T> | undefined = this; s; s = s.parent) yield* s.vars.keys();
  }
}

export type Resolution<T> =
  | { kind: 'local'; value: T }
  | { kind: 'decl'; ref: DeclRef }
  | { kind: 'builtin'; name: string }
  | { kind: 'unknown' };

/**
 * What a name means in a body, for the elaborator and the language server alike: the body's names
 * innermost first, then the file's declarations and imports, then builtin functions and
 * initialisers (which are only called).
 */
export function resolveName<T>(
  name: string,
  scope: Scope<T> | undefined,
  file: SourceFile,
  program: Program,
): Resolution<T> {
  const local = scope?.lookup(name);
  if (local !== undefined) return { kind: 'local', value: local };
  const ref = program.scopes.get(file)?.get(name);
  if (ref) return { kind: 'decl', ref };
  if (Object.hasOwn(BUILTINS, name) || Object.hasOwn(INITS, name)) return { kind: 'builtin', name };
  return { kind: 'unknown' };
}

/**
 * A size name in a tensor type (`B` in `f32[B, T]`) names a value when one is in scope; otherwise it is a free,
 * symbolic size.
 */
export const isFreeSize = <T>(
  name: string,
  scope: Scope<T> | undefined,
  file: SourceFile,
  program: Program,
): boolean => {
  const r = resolveName(name, scope, file, program);
  return r.kind === 'unknown' || r.kind === 'builtin';
};

/**
 * The name a statement declares in its scope: `input`, `param` and `let` do; `repeat` declares its variable in the loop
 * body's scope.
 */
export const declaredName = (s: A.Stmt): A.Ident | undefined =>
  s.kind === 'input' || s.kind === 'param' || s.kind === 'let' ? s.name : undefined;
