import { Worker, type WorkerOptions } from 'node:worker_threads';
import type { FromAnalyzer, Method, Params, Result, ToAnalyzer } from './analyzer.ts';

/** How long the analyser may take, in milliseconds. */
export interface AnalyzerLimits {
  /** A request not answered by then is answered with its fallback (the analysis goes on). */
  answerWithin: number;
  /** An analysis running this long when a document changes is stopped: its answer would be stale. */
  cancelAfter: number;
  /** An analysis running this long is stopped, whatever it is. */
  giveUpAfter: number;
}

export const DEFAULT_LIMITS: AnalyzerLimits = { answerWithin: 1000, cancelAfter: 300, giveUpAfter: 60_000 };

/** How a question ended: its answer, or why there is none. */
export type Outcome<T> =
  | { ok: true; value: T }
  | { ok: false; why: 'late' | 'cancelled' | 'gave-up' | 'failed'; detail?: string };

interface Job {
  id: number;
  method: Method;
  settle: (o: Outcome<unknown>) => void;
  settled: boolean;
}

/** A worker's heap: a document that makes the analysis grow past it ends that worker, not the server. */
const WORKER_HEAP_MB = 4096;

function spawnAnalyzer(): Worker {
  const opts: WorkerOptions = { resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB } };
  const here = import.meta.url;
  // from the bundle, the worker is its own entry beside this chunk; from source, it is compiled by tsx
  if (!here.endsWith('.ts')) return new Worker(new URL('./lsp-analyzer.mjs', here), opts);
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const entry = JSON.stringify(new URL('./analyzer.ts', here).href);
  return new Worker(`import(${tsx}).then((m) => (m.register(), import(${entry})))`, { ...opts, eval: true });
}

/**
 * The server's side of the analyser (analyzer.ts): it keeps the open documents' text, sends questions to the worker
 * and settles each one by its answer or by a limit, so that no question waits on an analysis without end. Stopping
 * the worker is how an analysis is cancelled (analysis is synchronous compiler code); the next question starts a
 * fresh worker with the documents' current text.
 */
export class AnalyzerClient {
  private worker: Worker | undefined;
  private readonly texts = new Map<string, string>();
  /** The questions sent and not yet answered by the worker, in the order it takes them. */
  private readonly jobs: Job[] = [];
  /** When the worker started on the first of `jobs`. */
  private headSince = 0;
  private watchdog: NodeJS.Timeout | undefined;
  private nextId = 0;

  constructor(
    private readonly limits: AnalyzerLimits = DEFAULT_LIMITS,
    private readonly log: (message: string) => void = () => {},
    private readonly spawn: () => Worker = spawnAnalyzer,
  ) {}

  set(path: string, text: string): void {
    this.texts.set(path, text);
    this.changed({ kind: 'set', path, text });
  }

  close(path: string): void {
    this.texts.delete(path);
    this.changed({ kind: 'close', path });
  }

  /** Sends a question; `within` (ms) settles it as 'late' if the worker has not answered by then. */
  ask<M extends Method>(method: M, params: Params<M>, within?: number): Promise<Outcome<Result<M>>> {
    const worker = this.ensure();
    return new Promise((resolve) => {
      const job: Job = {
        id: ++this.nextId,
        method,
        settled: false,
        settle: (o) => {
          if (job.settled) return;
          job.settled = true;
          clearTimeout(late);
          resolve(o as Outcome<Result<M>>);
        },
      };
      const late = within === undefined ? undefined : setTimeout(() => job.settle({ ok: false, why: 'late' }), within);
      if (!this.jobs.length) this.headSince = Date.now();
      this.jobs.push(job);
      this.post(worker, { kind: 'ask', id: job.id, method, params });
      this.arm();
    });
  }

  /** Stops the worker; questions still open are settled as cancelled. */
  dispose(): void {
    this.stop('cancelled');
  }

  private changed(m: ToAnalyzer): void {
    if (!this.worker) return;
    // an analysis that has run a while is of the old text: stop it rather than wait for a stale answer
    if (this.jobs.length && Date.now() - this.headSince >= this.limits.cancelAfter) this.stop('cancelled');
    else this.post(this.worker, m);
  }

  private ensure(): Worker {
    if (this.worker) return this.worker;
    const w = this.spawn();
    this.worker = w;
    w.on('message', (m: FromAnalyzer) => this.answered(w, m));
    w.on('error', (e) => {
      if (this.worker !== w) return;
      this.log(`flexc lsp: the analyser failed: ${e.stack ?? e}`);
      this.stop('failed', String(e.message ?? e));
    });
    w.on('exit', () => {
      if (this.worker === w) this.stop('failed', 'the analyser exited');
    });
    w.unref();
    for (const [path, text] of this.texts) this.post(w, { kind: 'set', path, text });
    return w;
  }

  private post(w: Worker, m: ToAnalyzer): void {
    w.postMessage(m);
  }

  private answered(w: Worker, m: FromAnalyzer): void {
    if (this.worker !== w) return;
    const job = this.jobs.shift();
    if (!job || job.id !== m.id) throw new Error(`flexc lsp: analyser answered ${m.id} out of order`);
    this.headSince = Date.now();
    if ('error' in m) {
      this.log(`flexc lsp: ${job.method} failed: ${m.error}`);
      job.settle({ ok: false, why: 'failed', detail: m.error });
    } else job.settle({ ok: true, value: m.result });
    this.arm();
  }

  /** Gives up on the question at the head once it has run `giveUpAfter`. */
  private arm(): void {
    clearTimeout(this.watchdog);
    this.watchdog = undefined;
    if (!this.jobs.length) return;
    const left = this.headSince + this.limits.giveUpAfter - Date.now();
    this.watchdog = setTimeout(
      () => {
        this.log(`flexc lsp: an analysis ran past ${this.limits.giveUpAfter} ms and was stopped`);
        const head = this.jobs.shift();
        this.stop('cancelled');
        head?.settle({ ok: false, why: 'gave-up' });
      },
      Math.max(0, left),
    );
    this.watchdog.unref();
  }

  private stop(why: 'cancelled' | 'failed', detail?: string): void {
    clearTimeout(this.watchdog);
    this.watchdog = undefined;
    const w = this.worker;
    this.worker = undefined;
    if (w) void w.terminate();
    for (const job of this.jobs.splice(0)) job.settle({ ok: false, why, ...(detail ? { detail } : {}) });
  }
}
