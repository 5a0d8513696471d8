import type { Code } from '../../grammar/codes.ts';
import { existsSync, lstatSync } from 'node:fs';
import { FileReadError, readRegularFile } from '../../runtime/read-file.ts';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { parse, type Decl, type Diagnostic, type FlexFile } from '../../grammar/index.ts';
import { addDiagnostics, diag, didYouMean } from '../../grammar/diagnostics.ts';
import { packageRoot } from '../paths.ts';

export const STDLIB_DIR = join(packageRoot(), 'stdlib') + sep;

export interface SourceFile {
  /** The path shown in diagnostics and IR locations. */
  path: string;
  abs: string;
  text: string;
  ast: FlexFile;
}

export interface DeclRef {
  decl: Decl;
  file: SourceFile;
}

export interface Program {
  root: string;
  entry: SourceFile;
  files: Map<string, SourceFile>;
  /** Per file: the names it can see (its own declarations and its imports). */
  scopes: Map<SourceFile, Map<string, DeclRef>>;
  diagnostics: Diagnostic[];
  /** True when some file failed to parse: later phases are skipped. */
  syntaxErrors: boolean;
}

export interface LoadOptions {
  /** Reads a file's text instead of the disk (tests give files that are not there). */
  read?: (abs: string) => string | undefined;
  /** Texts that win over the disk (an editor's unsaved buffers); other files are read from the disk. */
  overlay?: (abs: string) => string | undefined;
}

const MARKERS = ['package.json', 'flex.json', '.git'];

/** The project root: the nearest folder above the entry file that holds a package.json, flex.json or .git. */
export function projectRoot(entryAbs: string): string {
  let d = dirname(entryAbs);
  for (;;) {
    if (MARKERS.some((m) => existsSync(join(d, m)))) return d;
    const up = dirname(d);
    if (up === d) return dirname(entryAbs);
    d = up;
  }
}

export function displayPath(abs: string): string {
  if (abs.startsWith(STDLIB_DIR)) return `std/${abs.slice(STDLIB_DIR.length).split(sep).join('/')}`;
  const rel = relative(process.cwd(), abs);
  if (rel === '') return '.';
  return rel.startsWith('..') || isAbsolute(rel) ? abs : rel.split(sep).join('/');
}

const within = (dir: string, p: string) => p === dir || p.startsWith(dir.endsWith(sep) ? dir : dir + sep);

/**
 * Parses of recent texts, by path and text: a check (the editor's, on every keystroke) re-reads the files it did not
 * change — the standard library, the other imports — and their syntax trees are never changed after parsing.
 */
const PARSED = new Map<string, ReturnType<typeof parse>>();
const PARSED_MAX = 64;
function parsed(text: string, path: string): ReturnType<typeof parse> {
  const key = `${path}\0${text}`;
  const have = PARSED.get(key);
  if (have) return have;
  const r = parse(text, path);
  if (PARSED.size >= PARSED_MAX) PARSED.delete(PARSED.keys().next().value!);
  PARSED.set(key, r);
  return r;
}

/** Loads the entry file and everything it imports, and builds each file's scope. */
export function loadProgram(entry: string, opts: LoadOptions = {}): Program {
  const entryAbs = resolve(entry);
  const root = projectRoot(entryAbs);
  // imports must really lie in the project or the standard library, links followed
  const read =
    opts.read ??
    ((abs: string) =>
      opts.overlay?.(abs) ?? readSource(abs, abs === entryAbs ? undefined : [root, STDLIB_DIR], displayPath(abs)));
  const files = new Map<string, SourceFile>();
  const diagnostics: Diagnostic[] = [];
  let syntaxErrors = false;
  /** Why the last file asked for could not be read (when it exists but is no file to read). */
  const last: { unreadable?: FileReadError | undefined } = {};

  const load = (abs: string): SourceFile | undefined => {
    const have = files.get(abs);
    if (have) return have;
    let text: string | undefined;
    try {
      text = read(abs);
    } catch (e) {
      if (!(e instanceof FileReadError)) throw e;
      last.unreadable = e;
      return undefined;
    }
    if (text === undefined) return undefined;
    if (text.length > MAX_SOURCE_BYTES) {
      last.unreadable = new FileReadError(`${displayPath(abs)} has ${text.length} characters, more than flexc reads`);
      return undefined;
    }
    const path = displayPath(abs);
    const r = parsed(text, path);
    const f: SourceFile = { path, abs, text, ast: r.ast };
    files.set(abs, f);
    if (r.diagnostics.length) syntaxErrors = true;
    addDiagnostics(diagnostics, r.diagnostics);
    for (const imp of r.ast.imports) {
      if (imp.from.value === '<missing>') continue;
      const target = resolveImport(imp.from.value, f, root);
      if ('error' in target) {
        diagnostics.push(diag(target.code, imp.from.span, target.error, target.hint));
        continue;
      }
      last.unreadable = undefined;
      const loaded = load(target.abs);
      const why = last.unreadable as FileReadError | undefined;
      if (!loaded)
        diagnostics.push(
          why
            ? diag('FLX2000', imp.from.span, `cannot read module "${imp.from.value}": ${why.message}`)
            : diag('FLX2001', imp.from.span, `cannot find module "${imp.from.value}"`, target.hint),
        );
    }
    return f;
  };

  const entryFile = load(entryAbs);
  if (!entryFile) {
    const f: SourceFile = {
      path: displayPath(entryAbs),
      abs: entryAbs,
      text: '',
      ast: { path: entry, imports: [], decls: [], span: { file: entry, line: 1, column: 1, endLine: 1, endColumn: 1 } },
    };
    return {
      root,
      entry: f,
      files,
      scopes: new Map(),
      diagnostics: [diag('FLX2000', f.ast.span, last.unreadable ? last.unreadable.message : `cannot read ${entry}`)],
      syntaxErrors: true,
    };
  }

  const scopes = new Map<SourceFile, Map<string, DeclRef>>();
  for (const f of files.values()) {
    const own = new Map<string, DeclRef>();
    for (const d of f.ast.decls) {
      if (d.name.name === '<missing>') continue;
      if (own.has(d.name.name)) {
        const prev = own.get(d.name.name)!.decl;
        diagnostics.push(
          diag(
            'FLX2005',
            d.name.span,
            `\`${d.name.name}\` is declared twice`,
            `the first declaration is at line ${prev.name.span.line}`,
          ),
        );
        continue;
      }
      own.set(d.name.name, { decl: d, file: f });
    }
    scopes.set(f, own);
  }
  for (const f of files.values()) {
    const scope = scopes.get(f)!;
    const own = new Map(scope);
    for (const imp of f.ast.imports) {
      const target = resolveImport(imp.from.value, f, root);
      if ('error' in target) continue;
      const tf = files.get(target.abs);
      if (!tf) continue;
      const exported = new Map(tf.ast.decls.map((d) => [d.name.name, { decl: d, file: tf }] as const));
      for (const n of imp.names) {
        const ref = exported.get(n.name);
        if (!ref) {
          diagnostics.push(
            diag(
              'FLX2004',
              n.span,
              `\`${n.name}\` is not declared in "${imp.from.value}"`,
              didYouMean(n.name, exported.keys()) ??
                `it declares ${[...exported.keys()].map((k) => `\`${k}\``).join(', ')}`,
            ),
          );
          continue;
        }
        if (own.has(n.name) && own.get(n.name)!.file === f) {
          diagnostics.push(diag('FLX2006', n.span, `imported \`${n.name}\` clashes with a declaration in this file`));
          continue;
        }
        scope.set(n.name, ref);
      }
    }
  }
  return { root, entry: entryFile, files, scopes, diagnostics, syntaxErrors };
}

type Resolved = { abs: string; hint?: string } | { error: string; code: Code; hint?: string };

export function resolveImport(spec: string, from: SourceFile, root: string): Resolved {
  const withExt = (p: string) => (p.endsWith('.flex') ? p : `${p}.flex`);
  if (spec.startsWith('std/')) {
    const abs = resolve(STDLIB_DIR, withExt(spec.slice(4)));
    if (!within(STDLIB_DIR, abs))
      return { error: `import "${spec}" resolves outside the standard library`, code: 'FLX2002' };
    return { abs, hint: 'the standard library has std/nn, std/gnn and std/hardware' };
  }
  if (!spec.startsWith('./') && !spec.startsWith('../'))
    return {
      error: `import "${spec}" is neither relative (./, ../) nor in the standard library (std/)`,
      code: 'FLX2003',
      hint: 'write "./file" for a file beside this one, or "std/nn" for the standard library',
    };
  const abs = resolve(dirname(from.abs), withExt(spec));
  const fromStd = within(STDLIB_DIR, from.abs);
  if (!within(root, abs) && !(fromStd && within(STDLIB_DIR, abs)))
    return {
      error: `import "${spec}" resolves outside the project root (${displayPath(root)})`,
      code: 'FLX2002',
    };
  return { abs };
}

/** The largest source file flexc reads (the language server gets whole documents, this is far beyond any model). */
export const MAX_SOURCE_BYTES = 4 * 2 ** 20;

/** A source file's text: undefined when there is none; a byte-order mark is dropped. */
function readSource(abs: string, within: string[] | undefined, shown: string): string | undefined {
  if (!lstatOrUndefined(abs)) return undefined;
  const text = readRegularFile(abs, MAX_SOURCE_BYTES, { shown, ...(within ? { within } : {}) }).toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function lstatOrUndefined(abs: string) {
  try {
    return lstatSync(abs);
  } catch {
    return undefined;
  }
}
