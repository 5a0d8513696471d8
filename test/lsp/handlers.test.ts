import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { CompletionItem, Hover, Position } from 'vscode-languageserver';
import { afterAll, describe, expect, it } from 'vitest';
import { completion } from '../../compiler/lsp/completion.ts';
import { diagnose } from '../../compiler/lsp/diagnostics.ts';
import { formatting } from '../../compiler/lsp/formatting.ts';
import { hover } from '../../compiler/lsp/hover.ts';
import { definition, references } from '../../compiler/lsp/navigation.ts';
import { documentSymbols, foldingRanges } from '../../compiler/lsp/outline.ts';
import { Workspace } from '../../compiler/lsp/workspace.ts';
import { STDLIB_DIR } from '../../compiler/sema/program.ts';
import { mutate } from '../fuzz/mutate.ts';

const MARK = '‸';
/**
 * A workspace with one file open whose text has a cursor marker; the file sits in examples/ so "std/…" imports resolve.
 */
function open(source: string, name = '_lsp_test.flex'): { ws: Workspace; path: string; pos: Position } {
  const i = source.indexOf(MARK);
  const text = source.replace(MARK, '');
  const before = text.slice(0, Math.max(0, i));
  const pos = { line: before.split('\n').length - 1, character: before.length - (before.lastIndexOf('\n') + 1) };
  const ws = new Workspace();
  const path = resolve('examples', name);
  ws.set(path, text);
  return { ws, path, pos };
}
const gpt = readFileSync('examples/gpt.flex', 'utf8');
/** gpt.flex with the marker put before the `nth` occurrence (0-based) of `needle`, plus `shift` characters. */
const inGpt = (needle: string, nth = 0, shift = 0) => {
  let i = -1;
  for (let k = 0; k <= nth; k++) i = gpt.indexOf(needle, i + 1);
  if (i < 0) throw new Error(`no ${needle}`);
  return open(gpt.slice(0, i + shift) + MARK + gpt.slice(i + shift));
};
const hoverText = (h: Hover | null) =>
  h && typeof h.contents === 'object' && 'value' in h.contents ? h.contents.value : '';
const labels = (items: CompletionItem[]) => items.map((c) => c.label);

describe('language server handlers', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it(
    'diagnostics: the CLI codes and messages, as the editor ' + 'has the files, across imports; fixed ones are cleared',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'flexc-lsp-'));
      dirs.push(dir);
      writeFileSync(join(dir, 'package.json'), '{}');
      const a = join(dir, 'a.flex');
      const b = join(dir, 'b.flex');
      writeFileSync(a, 'import { Twice } from "./b"\n\nmodel M {\n  input x: f32[4]\n  output y = Twice(x)\n}\n');
      writeFileSync(b, 'layer Twice(x: f32[N]) -> f32[N] {\n  return x + x\n}\n');
      const ws = new Workspace();
      expect([...diagnose(ws, a).values()].flat()).toEqual([]);
      ws.set(b, 'layer Twice(x: f32[N]) -> f32[N] {\n  return x + y\n}\n');
      const broken = diagnose(ws, a);
      // the importer shows it at its call, with the place it was raised as related information
      expect(broken.get(a)).toEqual([
        expect.objectContaining({
          code: 'FLX2010',
          range: { start: { line: 4, character: 13 }, end: { line: 4, character: 21 } },
        }),
      ]);
      expect(broken.get(a)![0]!.relatedInformation![0]!).toMatchObject({
        message: 'raised here',
        location: { uri: pathToFileURL(b).href },
      });
      const [d] = broken.get(b)!;
      expect(d).toMatchObject({
        code: 'FLX2010',
        source: 'flexc',
        range: { start: { line: 1, character: 13 }, end: { line: 1, character: 14 } },
      });
      expect(d!.message).toContain('unknown name `y`');
      ws.set(a, 'import { Twice } from "./b"\n\nmodel M {\n  input x: f32[4]\n  output y = Twise(x)\n}\n');
      expect(diagnose(ws, a).get(a)![0]!.message).toMatch(/unknown .*Twise[\s\S]*did you mean `Twice`/);
    },
  );

  it(
    "hover: a value's tensor type where it is read, a layer's " +
      "signature, a hardware preset's figures, a builtin op",
    () => {
      const x = inGpt('let x = gather', 0, 4);
      expect(hoverText(hover(x.ws, x.path, x.pos))).toContain('let x: f32[B, T, 768]');
      const logits = inGpt('cross_entropy(logits', 0, 14);
      expect(hoverText(hover(logits.ws, logits.path, logits.pos))).toContain('f32[B, T, 50257]');
      const ln = inGpt('LayerNorm(x)');
      const lnText = hoverText(hover(ln.ws, ln.path, ln.pos));
      expect(lnText).toMatch(/layer LayerNorm\(x: f32\[\.\.\., d\], eps: float = 1e-5\) -> f32\[\.\.\., d\]/);
      expect(lnText).toContain('std/nn');
      const gpu = inGpt('gpu: rtx4090', 0, 6);
      const gpuText = hoverText(hover(gpu.ws, gpu.path, gpu.pos));
      expect(gpuText).toContain('gpu rtx4090');
      expect(gpuText).toContain('memory: 24 GiB');
      expect(gpuText).toContain('bandwidth: 1008 GB/s');
      const g = inGpt('gather(wte');
      expect(hoverText(hover(g.ws, g.path, g.pos))).toMatch(/gather\(.*\)[\s\S]*builtin op/);
      const depth = inGpt('repeat depth', 0, 8);
      expect(hoverText(hover(depth.ws, depth.path, depth.pos))).toContain('(parameter) depth: 12');
      const blank = inGpt('\n\nhardware', 0, 1);
      expect(hover(blank.ws, blank.path, blank.pos)).toBeNull();
    },
  );

  it(
    'go to definition: a local value, a stdlib layer, a named ' +
      "argument's parameter, an import's module; references of a weight",
    () => {
      const loc = (o: ReturnType<typeof open>) =>
        definition(o.ws, o.path, o.pos).map(
          (l) => `${fileURLToPath(l.uri)}:${l.range.start.line + 1}:${l.range.start.character + 1}`,
        );
      const x = inGpt('x + CausalSelfAttention', 0, 0);
      expect(loc(x)).toEqual([`${x.path}:11:7`]);
      const ln = inGpt('LayerNorm(x)');
      const nn = readFileSync(join(STDLIB_DIR, 'nn.flex'), 'utf8').split('\n');
      expect(loc(ln)).toEqual([
        `${join(STDLIB_DIR, 'nn.flex')}:${nn.findIndex((l) => l.startsWith('layer LayerNorm')) + 1}:7`,
      ]);
      const heads = inGpt('heads: heads)');
      const [h] = loc(heads);
      expect(h).toMatch(
        new RegExp(
          `^${join(STDLIB_DIR, 'nn.flex')}:${nn.findIndex((l) => l.startsWith('layer CausalSelfAttention')) + 1}:`,
        ),
      );
      const mod = inGpt('"std/nn"', 0, 2);
      expect(loc(mod)).toEqual([`${join(STDLIB_DIR, 'nn.flex')}:1:1`]);
      const wte = inGpt('param wte', 0, 6);
      const refs = references(wte.ws, wte.path, wte.pos).map(
        (l) => `${l.range.start.line + 1}:${l.range.start.character + 1}`,
      );
      expect(refs).toEqual(['9:9', '11:18', '16:41']);
      expect(references(wte.ws, wte.path, wte.pos, false)).toHaveLength(2);
    },
  );

  it(
    "completion: declaration keywords at the top, a body's names and ops, named " +
      'arguments, plan fields and values, hardware parts, initialisers, imports',
    () => {
      const c = (src: string) => labels(completion(open(src).ws, open(src).path, open(src).pos));
      expect(c(`${MARK}`)).toEqual(expect.arrayContaining(['layer', 'model', 'plan', 'hardware', 'import', 'gpu']));
      const body = c(
        `import { Mlp } from "std/nn"\nmodel M(d: 8) {\n  input x: f32[B, d]\n  let h = relu(x)\n  ${MARK}\n}\n`,
      );
      expect(body).toEqual(
        expect.arrayContaining(['let', 'output', 'repeat', 'x', 'h', 'd', 'Mlp', 'relu', 'softmax']),
      );
      const named = c(
        `import { Mlp } from "std/nn"\nmodel M {\n  input x: f32[B, 8]\n  output y = Mlp(x, ${MARK})\n}\n`,
      );
      expect(named).toContain('hidden:');
      expect(named).not.toContain('x:');
      expect(c(`plan p {\n  model: M\n  ${MARK}\n}\n`)).toEqual(
        expect.arrayContaining(['checkpoint', 'memory', 'task', 'bind']),
      );
      expect(c(`plan p {\n  checkpoint: ${MARK}\n}\n`)).toEqual(expect.arrayContaining(['auto', 'sqrt', 'none']));
      expect(c(`plan p {\n  fuse: [elementwise, ${MARK}\n}\n`)).toEqual(['elementwise', 'moe']);
      expect(c(`model M { input x: f32[2] output y = x }\nplan p {\n  model: ${MARK}\n}\n`)).toEqual(['M']);
      expect(c(`import { rtx4090, a100_80g, pcie4 } from "std/hardware"\nhardware H {\n  gpu: ${MARK}\n}\n`)).toEqual(
        expect.arrayContaining(['rtx4090', 'a100_80g']),
      );
      expect(c(`import { rtx4090, pcie4 } from "std/hardware"\nhardware H {\n  gpu: ${MARK}\n}\n`)).not.toContain(
        'pcie4',
      );
      expect(
        c(
          `import { rtx4090, pcie4 } from "std/hardware"\nhardware ` +
            `H {\n  gpu: rtx4090\n  link gpu <-> host: ${MARK}\n}\n`,
        ),
      ).toEqual(['pcie4']);
      expect(c(`gpu g {\n  ${MARK}\n}\n`)).toEqual(expect.arrayContaining(['memory', 'bandwidth', 'bf16']));
      expect(c(`model M {\n  param w: f32[2, 2] = ${MARK}\n}\n`)).toEqual(
        expect.arrayContaining(['normal', 'glorot', 'zeros']),
      );
      expect(c(`import { ${MARK} } from "std/nn"\n`)).toEqual(expect.arrayContaining(['Linear', 'LayerNorm', 'Mlp']));
      expect(c(`// a comment ${MARK}\n`)).toEqual([]);
    },
  );

  it('outline, folding and formatting', () => {
    const o = open(gpt);
    const symbols = documentSymbols(o.ws, o.path);
    expect(symbols.map((s) => s.name)).toEqual(expect.arrayContaining(['Gpt', 'Workstation', 'tiny', 'shakespeare']));
    const model = symbols.find((s) => s.name === 'Gpt')!;
    expect(model.detail).toMatch(/^model Gpt\(vocab: 50257/);
    expect(model.children!.map((s) => s.name)).toEqual(
      expect.arrayContaining(['vocab', 'tokens', 'wte', 'x', 'logits', 'loss']),
    );
    const folds = foldingRanges(o.ws, o.path);
    expect(folds).toContainEqual({ startLine: 5, endLine: 17 });
    expect(folds.some((f) => f.kind === 'comment' && f.startLine === 0 && f.endLine === 1)).toBe(true);
    expect(formatting(o.ws, o.path)).toEqual([]);
    const m = open(readFileSync('test/format/messy.flex', 'utf8'));
    const [edit] = formatting(m.ws, m.path);
    expect(edit!.newText).toBe(readFileSync('test/format/messy.formatted.flex', 'utf8'));
    expect(formatting(open('model {').ws, open('model {').path)).toEqual([]);
  });

  it('never throws on a half-typed file: the fuzz corpus through every handler at many positions', () => {
    const sources = [
      'examples/gpt.flex',
      'examples/mlp.flex',
      'examples/gcn-cora.flex',
      join(STDLIB_DIR, 'nn.flex'),
      join(STDLIB_DIR, 'hardware.flex'),
    ];
    const ws = new Workspace();
    for (let k = 0; k < 150; k++) {
      const src = sources[k % sources.length]!;
      const text = mutate(readFileSync(src, 'utf8'), 9000 + k);
      const path = resolve('examples', `_fuzz_${k % sources.length}.flex`);
      ws.set(path, text);
      const lines = text.split('\n');
      try {
        diagnose(ws, path);
        documentSymbols(ws, path);
        foldingRanges(ws, path);
        formatting(ws, path);
        for (let p = 0; p < 12; p++) {
          const line = (k * 7 + p * 13) % lines.length;
          const pos = { line, character: (k + p * 5) % ((lines[line]?.length ?? 0) + 1) };
          hover(ws, path, pos);
          definition(ws, path, pos);
          references(ws, path, pos);
          completion(ws, path, pos);
        }
      } catch (e) {
        throw new Error(`mutation ${9000 + k} of ${src}: ${(e as Error).stack}\n--- source ---\n${text}`);
      }
    }
  }, 300_000);
});
