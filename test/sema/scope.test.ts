import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { definition } from '../../compiler/lsp/navigation.ts';
import { Workspace } from '../../compiler/lsp/workspace.ts';
import { checkProgram } from '../../compiler/check-program.ts';

/** One resolver (sema/scope.ts) behind the elaborator and the language server: they agree on what a name means. */
describe('one name resolver', () => {
  const path = resolve('examples/_scope_test.flex');
  const check = (text: string) => {
    const ws = new Workspace();
    ws.set(path, text);
    return { ws, r: checkProgram(path, { read: ws.read }) };
  };

  it('a local that shadows a builtin is a value in both: calling it is FLX3030, and its definition is the let', () => {
    const text = 'model M {\n  input x: f32[4]\n  let relu = x\n  output y = relu(x)\n}\n';
    const { ws, r } = check(text);
    expect(r.diagnostics.map((d) => [d.code, d.span.line, d.message])).toEqual([
      ['FLX3030', 4, '`relu` is a tensor f32[4] defined in this body, not a layer or function'],
    ]);
    const def = definition(ws, path, { line: 3, character: 14 });
    expect(def).toMatchObject([{ range: { start: { line: 2, character: 6 } } }]);
  });

  it('names on Object.prototype are not builtins', () => {
    const { r } = check('model M {\n  input x: f32[4]\n  output y = toString(x)\n}\n');
    expect(r.diagnostics.map((d) => [d.code, d.message])).toEqual([
      ['FLX2010', 'unknown layer or function `toString`'],
    ]);
  });

  it('a size name in a type names a parameter declared before it, and is free otherwise, for both', () => {
    const first =
      'layer L(n: int, x: f32[n]) -> f32[n] {\n  return x\n}\nmodel M {\n  input x: f32[4]\n  output y = L(4, x)\n}\n';
    const a = check(first);
    expect(a.r.diagnostics).toEqual([]);
    expect(definition(a.ws, path, { line: 0, character: first.indexOf('f32[n]') + 4 })).toMatchObject([
      { range: { start: { line: 0, character: 8 } } },
    ]);
    const after =
      'layer L(x: f32[n], n: int) -> f32[n] {\n  return x\n}\nmodel ' +
      'M {\n  input x: f32[4]\n  output y = L(x, n: 4)\n}\n';
    const b = check(after);
    expect(b.r.diagnostics).toEqual([]);
    expect(definition(b.ws, path, { line: 0, character: after.indexOf('f32[n]') + 4 })).toEqual([]);
  });
});
