import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { mutate } from '../fuzz/mutate.ts';

/** A JSON-RPC client over the server's stdio (Content-Length framing), as an editor speaks it. */
class Client {
  private buf = Buffer.alloc(0);
  private id = 0;
  private readonly pending = new Map<number, (r: { result?: unknown; error?: unknown }) => void>();
  readonly notifications: { method: string; params: any }[] = [];
  private readonly waiters: {
    test: (n: { method: string; params: any }) => boolean;
    done: (n: { method: string; params: any }) => void;
  }[] = [];

  constructor(readonly proc: ChildProcessWithoutNullStreams) {
    proc.stdout.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      for (;;) {
        const end = this.buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const len = Number(/Content-Length: (\d+)/i.exec(this.buf.subarray(0, end).toString())![1]);
        if (this.buf.length < end + 4 + len) return;
        const msg = JSON.parse(this.buf.subarray(end + 4, end + 4 + len).toString());
        this.buf = this.buf.subarray(end + 4 + len);
        if (msg.id !== undefined && (msg.result !== undefined || msg.error !== undefined))
          this.pending.get(msg.id)?.(msg);
        else if (msg.method) {
          if (msg.id !== undefined) this.send({ jsonrpc: '2.0', id: msg.id, result: null });
          this.notifications.push(msg);
          for (const w of [...this.waiters])
            if (w.test(msg)) this.waiters.splice(this.waiters.indexOf(w), 1), w.done(msg);
        }
      }
    });
  }
  private send(m: object) {
    const body = JSON.stringify(m);
    this.proc.stdin.write(`Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  }
  request(method: string, params: unknown): Promise<any> {
    const id = ++this.id;
    return new Promise((ok, fail) => {
      this.pending.set(id, (r) => (r.error ? fail(new Error(JSON.stringify(r.error))) : ok(r.result)));
      this.send({ jsonrpc: '2.0', id, method, params });
    });
  }
  notify(method: string, params: unknown) {
    this.send({ jsonrpc: '2.0', method, params });
  }
  next(test: (n: { method: string; params: any }) => boolean): Promise<{ method: string; params: any }> {
    return new Promise((done) => this.waiters.push({ test, done }));
  }
}

describe('flexc lsp --stdio', () => {
  it('answers initialize, didOpen, didChange, hover, definition, ' +
    'completion, formatting and shutdown over JSON-RPC', async () => {
    const proc = spawn(process.execPath, ['bin/flexc.mjs', 'lsp', '--stdio'], { stdio: 'pipe' });
    let stderr = '';
    proc.stderr.on('data', (d) => (stderr += d));
    const c = new Client(proc);
    try {
      const init = await c.request('initialize', {
        processId: process.pid,
        rootUri: pathToFileURL(resolve('.')).href,
        capabilities: {},
      });
      expect(init.capabilities).toMatchObject({
        hoverProvider: true,
        definitionProvider: true,
        referencesProvider: true,
        documentFormattingProvider: true,
        documentSymbolProvider: true,
        foldingRangeProvider: true,
      });
      expect(init.capabilities.completionProvider).toBeDefined();
      c.notify('initialized', {});

      const path = resolve('examples/_lsp_server_test.flex');
      const uri = pathToFileURL(path).href;
      const good = readFileSync('examples/gpt.flex', 'utf8');
      const bad = good.replace(
        'output loss = cross_entropy(logits, targets)',
        'output loss = cross_entropi(logits, targets)',
      );
      const diagnosed = (n: { method: string; params: any }) =>
        n.method === 'textDocument/publishDiagnostics' && n.params.uri === uri;
      let published = c.next(diagnosed);
      c.notify('textDocument/didOpen', { textDocument: { uri, languageId: 'flex', version: 1, text: bad } });
      const first = (await published).params.diagnostics;
      expect(first).toHaveLength(1);
      expect(first[0]).toMatchObject({ code: 'FLX2010', source: 'flexc' });
      expect(first[0].message).toContain('cross_entropy');

      published = c.next(diagnosed);
      const at = bad.split('\n').findIndex((l) => l.includes('cross_entropi'));
      const col = bad.split('\n')[at]!.indexOf('cross_entropi');
      c.notify('textDocument/didChange', {
        textDocument: { uri, version: 2 },
        contentChanges: [
          {
            range: { start: { line: at, character: col }, end: { line: at, character: col + 13 } },
            text: 'cross_entropy',
          },
        ],
      });
      expect((await published).params.diagnostics).toEqual([]);

      const line = good.split('\n').findIndex((l) => l.includes('let logits'));
      const h = await c.request('textDocument/hover', { textDocument: { uri }, position: { line, character: 7 } });
      expect(h.contents.value).toContain('let logits: f32[B, T, 50257]');
      const d = await c.request('textDocument/definition', {
        textDocument: { uri },
        position: { line, character: 16 },
      });
      expect(d[0].uri).toMatch(/stdlib\/nn\.flex$/);
      const items = await c.request('textDocument/completion', {
        textDocument: { uri },
        position: { line: line + 1, character: 2 },
      });
      const labels = (Array.isArray(items) ? items : items.items).map((i: { label: string }) => i.label);
      expect(labels).toEqual(expect.arrayContaining(['output', 'logits', 'LayerNorm', 'softmax']));
      const edits = await c.request('textDocument/formatting', {
        textDocument: { uri },
        options: { tabSize: 2, insertSpaces: true },
      });
      expect(edits).toEqual([]);
      const symbols = await c.request('textDocument/documentSymbol', { textDocument: { uri } });
      expect(symbols.map((s: { name: string }) => s.name)).toContain('Gpt');

      expect(await c.request('shutdown', null)).toBeNull();
      const exited = new Promise<number | null>((ok) => proc.on('exit', ok));
      c.notify('exit', null);
      expect(await exited).toBe(0);
      expect(stderr).toBe('');
    } finally {
      proc.kill();
    }
  }, 60_000);

  it('stays up and answers every request while the fuzz corpus is typed into it', async () => {
    const proc = spawn(process.execPath, ['bin/flexc.mjs', 'lsp', '--stdio'], { stdio: 'pipe' });
    const c = new Client(proc);
    try {
      await c.request('initialize', {
        processId: process.pid,
        rootUri: pathToFileURL(resolve('.')).href,
        capabilities: {},
      });
      c.notify('initialized', {});
      const uri = pathToFileURL(resolve('examples/_lsp_fuzz_test.flex')).href;
      const sources = [
        'examples/gpt.flex',
        'examples/mlp.flex',
        'examples/gcn-cora.flex',
        'stdlib/nn.flex',
        'stdlib/hardware.flex',
      ].map((f) => readFileSync(f, 'utf8'));
      c.notify('textDocument/didOpen', { textDocument: { uri, languageId: 'flex', version: 1, text: sources[0] } });
      let settled: Promise<unknown> | undefined;
      for (let k = 0; k < 40; k++) {
        const text = mutate(sources[k % sources.length]!, 11000 + k);
        // once typing pauses, the last text is checked
        if (k === 39) settled = c.next((n) => n.method === 'textDocument/publishDiagnostics' && n.params.uri === uri);
        c.notify('textDocument/didChange', { textDocument: { uri, version: k + 2 }, contentChanges: [{ text }] });
        const lines = text.split('\n');
        const line = (k * 11) % lines.length;
        const position = { line, character: (k * 3) % ((lines[line]?.length ?? 0) + 1) };
        const doc = { textDocument: { uri } };
        await Promise.all([
          c.request('textDocument/hover', { ...doc, position }),
          c.request('textDocument/definition', { ...doc, position }),
          c.request('textDocument/references', { ...doc, position, context: { includeDeclaration: true } }),
          c.request('textDocument/completion', { ...doc, position }),
          c.request('textDocument/documentSymbol', doc),
          c.request('textDocument/foldingRange', doc),
          c.request('textDocument/formatting', { ...doc, options: { tabSize: 2, insertSpaces: true } }),
        ]);
      }
      await settled;
      const failures = c.notifications.filter(
        (n) => n.method === 'window/logMessage' && /failed/.test(n.params.message),
      );
      expect(failures.map((n) => n.params.message)).toEqual([]);
      expect(await c.request('shutdown', null)).toBeNull();
      const exited = new Promise<number | null>((ok) => proc.on('exit', ok));
      c.notify('exit', null);
      expect(await exited).toBe(0);
    } finally {
      proc.kill();
    }
  }, 120_000);
});

/** A model of `n` repeated `let` lines: 2.2 MB at n = 140,000, whose analysis takes well over 10 s here. */
function hugeModel(n: number): string {
  const lines = ['model M() {', '  input x: f32[4]', '  let v = x'];
  for (let i = 0; i < n; i++) lines.push('  let v = x + x');
  lines.push('  output y = v', '}');
  return lines.join('\n');
}

async function startLsp(...args: string[]) {
  const proc = spawn(process.execPath, ['bin/flexc.mjs', 'lsp', '--stdio', ...args], { stdio: 'pipe' });
  const c = new Client(proc);
  await c.request('initialize', {
    processId: process.pid,
    rootUri: pathToFileURL(resolve('.')).href,
    capabilities: {},
  });
  c.notify('initialized', {});
  return c;
}

const timed = async <T>(p: Promise<T>): Promise<[T, number]> => {
  const t0 = performance.now();
  const v = await p;
  return [v, performance.now() - t0];
};

describe('flexc lsp --stdio on a document whose analysis takes long', () => {
  const uri = pathToFileURL(resolve('examples/_lsp_huge_test.flex')).href;
  const huge = hugeModel(140_000);
  const small = 'model M() {\n  input x: f32[4]\n  output y = x + z\n}\n';
  const diagnosticsOf = (c: Client) =>
    c.next((n) => n.method === 'textDocument/publishDiagnostics' && n.params.uri === uri);

  it('answers requests while it analyses, and cancels an analysis of text that has changed', async () => {
    const c = await startLsp();
    try {
      c.notify('textDocument/didOpen', { textDocument: { uri, languageId: 'flex', version: 1, text: huge } });
      await new Promise((ok) => setTimeout(ok, 1500));
      // the check of the huge text is running: a hover is answered (empty) within about a second
      const [h, hoverMs] = await timed(
        c.request('textDocument/hover', { textDocument: { uri }, position: { line: 2, character: 7 } }),
      );
      expect(h).toBeNull();
      expect(hoverMs).toBeLessThan(3000);
      // the user replaces the text: the stale analysis is stopped and the new text checked at once
      const next = diagnosticsOf(c);
      c.notify('textDocument/didChange', { textDocument: { uri, version: 2 }, contentChanges: [{ text: small }] });
      const [d, checkMs] = await timed(next);
      expect(d.params.diagnostics.map((x: { code: string }) => x.code)).toEqual(['FLX2010']);
      expect(checkMs).toBeLessThan(8000);
      const [, shutdownMs] = await timed(c.request('shutdown', null));
      expect(shutdownMs).toBeLessThan(2000);
    } finally {
      c.proc.kill();
    }
  }, 60_000);

  it('stops an analysis past --time-limit with FLX1010, and checks the next text', async () => {
    const c = await startLsp('--time-limit', '2');
    try {
      const gaveUp = diagnosticsOf(c);
      c.notify('textDocument/didOpen', { textDocument: { uri, languageId: 'flex', version: 1, text: huge } });
      const [d, ms] = await timed(gaveUp);
      expect(d.params.diagnostics).toMatchObject([{ code: 'FLX1010', message: expect.stringContaining('2 s') }]);
      expect(ms).toBeLessThan(8000);
      const next = diagnosticsOf(c);
      c.notify('textDocument/didChange', { textDocument: { uri, version: 2 }, contentChanges: [{ text: small }] });
      expect((await next).params.diagnostics.map((x: { code: string }) => x.code)).toEqual(['FLX2010']);
    } finally {
      c.proc.kill();
    }
  }, 60_000);
});
