import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { planMemory } from '../../compiler/codegen/memory.ts';
import { compile } from '../../compiler/compile.ts';
import { summarize } from '../../compiler/cost/plan-summary.ts';
import { humanReport } from '../../compiler/cli/plan.ts';
import { printModule } from '../../compiler/ir/printer.ts';
import { graphResolver } from '../../compiler/sema/graph-decl.ts';
import { GRAPH_FEEDS } from '../../runtime/data/graph-spec.ts';
import { graphShapes } from '../../runtime/data/graph-shapes.ts';
import { loadGraph } from '../../runtime/data/graph.ts';

/**
 * A graph declared by its sizes alone (ogbn-papers100M's shape, which no test can ship): every tensor the compiler
 * makes of it has the size the same graph read from files has, so its plans are the plans of the real graph.
 */
const FIXTURE = 'test/tiers/fixtures/gcn-sbm-small.flex';
const dir = mkdtempSync(join(tmpdir(), 'flexc-sized-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The fixture's graph, read from its generated files, and the same graph declared by its sizes. */
function sizedTwin(): { sized: string; edges: number } {
  const r = compile(FIXTURE, 'train');
  const spec = graphResolver(r.program)('Small');
  const g = loadGraph(spec);
  const edges = g.mean.indices.length; // (src, dst) entries without self loops, each once
  const split = `{ train: ${g.split.train.length}, val: ${g.split.val.length}, test: ${g.split.test.length} }`;
  const text = readFileSync(FIXTURE, 'utf8').replace(
    /graph Small \{[^}]*\}/,
    `graph Small {\n  nodes: ${g.nodes}\n  features: f32[nodes, ${g.featureDim}]\n  edges: ${edges}\n` +
      `  labels: i32[nodes]\n  split: ${split}\n}`,
  );
  const sized = join(dir, 'gcn-sized.flex');
  writeFileSync(sized, text);
  return { sized, edges };
}

describe('graphs declared by their sizes', () => {
  it('give every feed the shape the same graph read from its files gives', () => {
    const real = graphResolver(compile(FIXTURE, 'train').program)('Small');
    const { sized } = sizedTwin();
    const spec = graphResolver(compile(sized, 'train').program)('Small');
    expect(spec.sizes).toBeDefined();
    const [a, b] = [graphShapes(real), graphShapes(spec)];
    // the feature CSR holds a real graph's nonzeros; declared by size, features are dense (every value)
    for (const key of GRAPH_FEEDS.filter((k) => !k.startsWith('feat'))) expect(b.feed(key), key).toEqual(a.feed(key));
  });

  it('compile to the same step and the same plan as the files, value for value', () => {
    const { sized } = sizedTwin();
    const [a, b] = [compile(FIXTURE, 'train'), compile(sized, 'train')];
    expect(b.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    // the text of the step names the graph's feeds, not its files: the two are the same program (source lines aside)
    const text = (m: Parameters<typeof printModule>[0]) => printModule(m).replace(/ at "[^"]*":[\d:]+/g, '');
    expect(text(b.module!)).toBe(text(a.module!));
    expect(planMemory(b.module!).arenaBytes).toBe(planMemory(a.module!).arenaBytes);
    const [sa, sb] = [summarize(a.module!, a.lowered!).summary, summarize(b.module!, b.lowered!).summary];
    expect(sb.time?.step_seconds).toBe(sa.time?.step_seconds);
  });

  it('spread edges and split nodes over blocks in proportion, every entry in exactly one block', () => {
    const n = 111_059_956;
    const sizes = { edges: 1_615_685_872, features: 128, split: { train: 1_207_179, val: 125_265, test: 214_338 } };
    const g = graphShapes({ name: 'P', nodes: n, sizes });
    for (const P of [1, 3, 32]) {
      let adj = 0;
      let mean = 0;
      let train = 0;
      for (let r = 0; r < P; r++) {
        // a row block of A (graph attention's per-edge values) holds its cells' entries
        const cells = Array.from({ length: P }, (_, c) => g.feed(`adj.cellpos@${P}:${r},${c}`).shape[0]!);
        expect(g.feed(`adj.cellinv@${P}:${r}`).shape[0]).toBe(cells.reduce((a, x) => a + x, 0));
        train += g.feed(`split.train@${P}:${r}`).shape[0]!;
        expect(g.feed(`split.train@${P}:${r}:pos`)).toEqual(g.feed(`split.train@${P}:${r}`));
        for (let c = 0; c < P; c++) {
          const cell = g.feed(`adj.indices@${P}:${r},${c}`).shape[0]!;
          expect(g.feed(`adj.values@${P}:${r},${c}`)).toEqual({ dtype: 'f32', shape: [cell] });
          // its share of the n² (row, column) pairs, to within one entry
          const rows = (k: number) => Math.floor(((k + 1) * n) / P) - Math.floor((k * n) / P);
          expect(Math.abs(cell - ((sizes.edges + n) * rows(r) * rows(c)) / n ** 2)).toBeLessThan(1);
          adj += cell;
          mean += g.feed(`mean.indices@${P}:${r},${c}`).shape[0]!;
        }
      }
      expect([adj, mean, train]).toEqual([sizes.edges + n, sizes.edges, sizes.split.train]);
    }
    expect(g.feed('features@32:31')).toEqual({ dtype: 'f32', shape: [111_059_956 - Math.floor((31 * n) / 32), 128] });
  });
});

describe('ogbn-papers100M by its sizes (examples/sage-papers100m.flex)', () => {
  it('plans three-layer GraphSAGE over GPU, host and SSD within every budget, in the blocks it chose', () => {
    const r = compile('examples/sage-papers100m.flex', 'streamed');
    expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const mem = planMemory(r.module!);
    const GiB = 2 ** 30;
    expect(mem.arenaBytes).toBeLessThanOrEqual(80 * GiB);
    expect(mem.tiers.host.arenaBytes).toBeGreaterThan(0);
    expect(mem.tiers.ssd.arenaBytes).toBeGreaterThan(0); // more than host memory holds: the SSD is used
    expect(mem.tiers.ssd.arenaBytes).toBeLessThanOrEqual(4e12);
    const { summary } = summarize(r.module!, r.lowered!);
    expect(summary.memory.host.peak_bytes).toBeLessThanOrEqual(1024 * GiB);
    // `blocks: auto` chose how many node blocks, and `flexc plan` says so
    expect(summary.blocks).toBe(r.lowered!.config.blocks);
    expect(summary.blocks).toBeGreaterThan(1);
    expect(humanReport(summary).split('\n')[0]).toContain(`, ${summary.blocks} node blocks)`);
    // the whole step is ten times the GPU: every [nodes, 256] activation alone is 114 GB
    expect(summary.memory.gpu.checkpointing?.bytes_without).toBeGreaterThan(10 * 80 * GiB);
  });

  it('`flexc run` and `flexc build` say the graph has no data (FLX6006), exit 1, no stack trace', () => {
    for (const args of [['run'], ['build', '-o', join(dir, 'out')]]) {
      const p = spawnSync(process.execPath, ['bin/flexc.mjs', ...args, 'examples/sage-papers100m.flex'], {
        encoding: 'utf8',
        env: { ...process.env, NO_COLOR: '1' },
      });
      expect(p.status, p.stderr).toBe(1);
      expect(p.stderr).toContain('error[FLX6006]: graph `Papers100M` is declared by its sizes alone');
      expect(p.stderr).toContain('--> examples/sage-papers100m.flex:10:7');
      expect(p.stderr).not.toMatch(/^\s+at /m);
    }
  });
});
