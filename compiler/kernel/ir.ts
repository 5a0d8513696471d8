/**
 * The kernel IR: what one kernel does, below the graph IR and above every target. A kernel is a grid
 * of workgroups (`dispatch`) of invocations (`workgroup`) running `body`; the body reads and writes
 * the kernel's buffers with loads and stores, computes with typed scalar expressions, and may use
 * workgroup memory, barriers and workgroup reductions (what a `gpu`-class kernel does) or none of
 * them (a `cpu`-class kernel: every invocation independent, which a C loop nest can run).
 * Renderers (compiler/targets/) turn it into WGSL, C or CUDA; nothing here knows a target.
 */

export type Scalar = 'f32' | 'i32' | 'u32' | 'bool';

export type BinOp = '+' | '-' | '*' | '/' | '%' | '<' | '<=' | '>' | '>=' | '==' | '!=' | '&&' | '||' | '^' | '>>';

/** Math functions on f32 (max and min also on integers). */
export type Fn = 'exp' | 'log' | 'tanh' | 'sqrt' | 'sin' | 'cos' | 'pow' | 'max' | 'min';

/** The invocation's position: in the grid (gid), in its workgroup (lid, flattened), and its workgroup (wid). */
export type Builtin = 'gid.x' | 'gid.y' | 'gid.z' | 'lid' | 'wid.x' | 'wid.y' | 'wid.z';

export type Expr =
  | { k: 'lit'; t: Scalar; v: number }
  | { k: 'ref'; t: Scalar; name: string }
  | { k: 'builtin'; t: 'u32'; name: Builtin }
  /** An element of a kernel buffer, or of a local or workgroup array. */
  | { k: 'load'; t: Scalar; buf: string; index: Expr }
  | { k: 'bin'; t: Scalar; op: BinOp; a: Expr; b: Expr }
  | { k: 'neg'; t: Scalar; a: Expr }
  | { k: 'call'; t: Scalar; fn: Fn; args: Expr[] }
  | { k: 'select'; t: Scalar; cond: Expr; then: Expr; else: Expr }
  /** A numeric conversion (f32 → u32 truncates toward zero; the operands are in range). */
  | { k: 'cast'; t: Scalar; a: Expr };

export type Stmt =
  | { k: 'let'; name: string; value: Expr }
  | { k: 'var'; name: string; t: Scalar; init: Expr }
  /** A local array of `size` elements, zero-initialised. */
  | { k: 'array'; name: string; t: Scalar; size: number }
  | { k: 'set'; name: string; index?: Expr; value: Expr; op?: '+' }
  | { k: 'store'; buf: string; index: Expr; value: Expr; op?: '+' }
  /** `for (var v = from; v < to; v += step)`, over u32. */
  | { k: 'for'; v: string; from: Expr; to: Expr; step: Expr; body: Stmt[] }
  | { k: 'if'; cond: Expr; then: Stmt[]; else?: Stmt[] }
  | { k: 'break' }
  | { k: 'continue' }
  | { k: 'return' }
  /** Every invocation of the workgroup waits here; workgroup memory written before is visible after. */
  | { k: 'barrier' }
  /** `let into` = the sum or max of `value` over the workgroup's invocations; from uniform control flow only. */
  | { k: 'wreduce'; op: 'sum' | 'max'; value: Expr; into: string }
  /**
   * Synchronisation between workgroups of a persistent kernel, on the counters of an `atomic` buffer; each is made by
   * the whole workgroup, from uniform control flow. `claim`: one invocation adds 1 to `buf[index]` and every
   * invocation gets the count before (`let into`: the workgroup's next task). `wait`: until `buf[index]` ≥ `value`;
   * after it, the workgroup sees every write made before the signals that raised the count. `signal`: once every
   * invocation of the workgroup has made its writes, adds 1 to `buf[index]`.
   */
  | { k: 'claim'; buf: string; index: Expr; into: string }
  | { k: 'wait'; buf: string; index: Expr; value: Expr }
  | { k: 'signal'; buf: string; index: Expr };

export interface KernelBuffer {
  name: string;
  t: Exclude<Scalar, 'bool'>;
  /** Counters that `claim`, `wait` and `signal` use (u32), never loaded or stored otherwise. */
  atomic?: true;
  /** Written by one workgroup and read by others after a `wait`: read past any per-core cache (CUDA's L1). */
  coherent?: true;
}

/**
 * A library routine that computes what the kernel's body does, for targets that link one (a BLAS): the body stays
 * the fallback. `sgemm`: for each batch z, C[z] (m × n, row-major at z·m·n) = op(A at aOffsets[z]) · op(B at
 * bOffsets[z]), op transposing when `ta`/`tb` (A stored k × m, B stored n × k).
 */
export interface LibraryCall {
  routine: 'sgemm';
  /** The buffers holding A and B (one, when the product reads a value twice). */
  aBuf: string;
  bBuf: string;
  m: number;
  n: number;
  k: number;
  ta: boolean;
  tb: boolean;
  aOffsets: number[];
  bOffsets: number[];
}

export interface Kernel {
  /** A stable name: the op and a hash of the kernel (same kernel, same name). */
  name: string;
  /** What it implements, for a comment at the top of each rendering: `matmul(f32[2,3], f32[3,4]) -> f32[2,4]`. */
  doc: string;
  /** Binding order: the distinct operands, then the result. */
  buffers: KernelBuffer[];
  /** Arrays in workgroup memory. */
  shared: { name: string; t: Scalar; size: number }[];
  workgroup: [number, number, number];
  dispatch: [number, number, number];
  body: Stmt[];
  library?: LibraryCall;
  /**
   * Its loops vectorise without gathers although it keeps register blocks (C: gcc's loop vectoriser is left on; it
   * never reorders a float sum, so the numbers stay the same).
   */
  vectorLoops?: boolean;
}

/** What a kernel needs of its target: workgroup memory, barriers or workgroup reductions. */
export function needsWorkgroup(k: Kernel): boolean {
  if (k.shared.length) return true;
  let found = false;
  const exprUses = (e: Expr): boolean =>
    e.k === 'builtin' ? e.name === 'lid' || e.name.startsWith('wid') : children(e).some(exprUses);
  walk(k.body, (s) => {
    if (s.k === 'barrier' || s.k === 'wreduce') found = true;
    for (const e of stmtExprs(s)) if (exprUses(e)) found = true;
  });
  return found;
}

export function children(e: Expr): Expr[] {
  switch (e.k) {
    case 'load':
      return [e.index];
    case 'bin':
      return [e.a, e.b];
    case 'neg':
    case 'cast':
      return [e.a];
    case 'call':
      return e.args;
    case 'select':
      return [e.cond, e.then, e.else];
    default:
      return [];
  }
}

export function stmtExprs(s: Stmt): Expr[] {
  switch (s.k) {
    case 'let':
      return [s.value];
    case 'var':
      return [s.init];
    case 'set':
      return s.index ? [s.index, s.value] : [s.value];
    case 'store':
      return [s.index, s.value];
    case 'for':
      return [s.from, s.to, s.step];
    case 'if':
      return [s.cond];
    case 'wreduce':
      return [s.value];
    case 'claim':
    case 'signal':
      return [s.index];
    case 'wait':
      return [s.index, s.value];
    default:
      return [];
  }
}

/** Visits every statement, nested ones included. */
export function walk(body: Stmt[], f: (s: Stmt) => void): void {
  for (const s of body) {
    f(s);
    if (s.k === 'for') walk(s.body, f);
    if (s.k === 'if') {
      walk(s.then, f);
      if (s.else) walk(s.else, f);
    }
  }
}
