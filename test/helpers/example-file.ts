import { rmSync, writeFileSync } from 'node:fs';
import { afterAll, expect } from 'vitest';
import { compile, type CompileResult } from '../../compiler/compile.ts';

/**
 * A .flex file written into examples/ for one test file (so that `./gpt` and `std/…` imports resolve), removed after
 * it; returns a compiler of its plans that fails the test on any error.
 */
export function exampleFile(name: string, text: string): (plan: string) => CompileResult {
  const file = `examples/${name}`;
  writeFileSync(file, text);
  afterAll(() => rmSync(file, { force: true }));
  return (plan) => {
    const r = compile(file, plan);
    expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    return r;
  };
}
