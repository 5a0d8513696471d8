import { resolve } from 'node:path';
import type * as A from '../../grammar/ast.ts';
import type { Span } from '../../grammar/diagnostics.ts';
import { Elaborator } from '../sema/elaborate.ts';
import { readRegularFile } from '../../runtime/read-file.ts';
import { loadProgram, MAX_SOURCE_BYTES, type Program, type SourceFile } from '../sema/program.ts';
import type { EVal } from '../sema/values.ts';
import { indexProgram, type SymbolIndex } from './symbols.ts';

/** One file seen with everything it imports. */
export interface Analysis {
  program: Program;
  file: SourceFile;
  index: SymbolIndex;
}

/**
 * The files the editor has open (their unsaved text wins over the disk) and what is known of them.
 * Every handler of the language server reads through one of these, so the handlers are functions
 * of the workspace's text.
 */
export class Workspace {
  private readonly open = new Map<string, string>();
  private stamp = 0;
  private readonly cache = new Map<string, { stamp: number; analysis: Analysis }>();
  /** Values elaborated per declaration, at one stamp (a file not edited keeps its syntax tree, not its meaning). */
  private types = { stamp: -1, of: new WeakMap<A.Decl, Map<string, EVal>>() };

  set(path: string, text: string): void {
    this.open.set(resolve(path), text);
    this.stamp++;
  }

  close(path: string): void {
    this.open.delete(resolve(path));
    this.stamp++;
  }

  /** An open document's text (the compiler reads other files itself, as the CLI does). */
  readonly overlay = (abs: string): string | undefined => this.open.get(abs);

  /** An open document's text, else the file's (read as the compiler reads it: a FIFO or a device is no text). */
  readonly read = (abs: string): string | undefined => {
    const open = this.open.get(abs);
    if (open !== undefined) return open;
    try {
      return readRegularFile(abs, MAX_SOURCE_BYTES).toString('utf8');
    } catch {
      return undefined;
    }
  };

  text(path: string): string | undefined {
    return this.read(resolve(path));
  }

  analyze(path: string): Analysis | undefined {
    const abs = resolve(path);
    const hit = this.cache.get(abs);
    if (hit?.stamp === this.stamp) return hit.analysis;
    const program = loadProgram(abs, { overlay: this.overlay });
    const file = program.files.get(abs);
    if (!file) return undefined;
    const analysis = { program, file, index: indexProgram(program) };
    this.cache.set(abs, { stamp: this.stamp, analysis });
    return analysis;
  }

  /**
   * The value of each name in a layer or model where it is defined or read, by `line:column`, elaborated with symbolic
   * sizes.
   */
  valuesIn(a: Analysis, decl: A.Decl, file: SourceFile): Map<string, EVal> {
    if (this.types.stamp !== this.stamp) this.types = { stamp: this.stamp, of: new WeakMap() };
    const have = this.types.of.get(decl);
    if (have) return have;
    const out = new Map<string, EVal>();
    const record = (s: Span, v: EVal) => {
      const k = `${s.line}:${s.column}`;
      if (s.file === file.path && !out.has(k)) out.set(k, v);
    };
    const el = new Elaborator(a.program, { mode: 'check', training: true, binds: new Map(), record });
    try {
      if (decl.kind === 'layer') el.layerAlone({ decl, file });
      else if (decl.kind === 'model') el.model({ decl, file }, new Map(), decl.name.name);
    } catch {
      // a half-written body: whatever was recorded before the failure is still right
    }
    this.types.of.set(decl, out);
    return out;
  }
}
