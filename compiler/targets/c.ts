import type { Expr, Kernel, LibraryCall } from '../kernel/ir.ts';
import type { Command } from './target.ts';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needsWorkgroup, walk } from '../kernel/ir.ts';
import type { Plan } from '../../runtime/plan.ts';
import { LINKS, linksOf } from '../../runtime/tiers.ts';
import { POISON_BITS } from '../../runtime/poison.ts';
import { C_TYPES, type CLike, cCall, cLiteral, cStatements, freedRange, launchArgs, rankedSteps } from './c-like.ts';
import { type ExprSyntax, renderExpr } from './render-expr.ts';

const syntax: ExprSyntax = {
  lit: (e) => cLiteral(e, { inf: 'INFINITY', ninf: '(-INFINITY)', nan: 'NAN' }, '1', '0'),
  builtin: (name) => name.replace('.', '_'),
  call: (e, args) => cCall(e, args, (fn) => `FLEXC_${fn.toUpperCase()}`),
  select: (c, a, b) => `(${c} ? ${a} : ${b})`,
  cast: (t, a) => `(${C_TYPES[t]})(${a})`,
};

/**
 * A C invocation is a persistent kernel's worker on its own: a claim is an atomic add, a wait spins on an acquiring
 * load (yielding the core), a signal is a releasing add. Workers claim tasks in order and wait only on tasks claimed
 * before, each claimed by a worker that an OpenMP thread is running, so every wait ends.
 */
const lang: CLike = {
  types: C_TYPES,
  syntax,
  special: (s, ind) => {
    const at = (buf: string, index: Expr) => `&${buf}[${renderExpr(index, syntax)}]`;
    switch (s.k) {
      case 'claim':
        return [`${ind}const uint32_t ${s.into} = __atomic_fetch_add(${at(s.buf, s.index)}, 1u, __ATOMIC_ACQ_REL);`];
      case 'wait':
        return [
          `${ind}while (__atomic_load_n(${at(s.buf, s.index)}, __ATOMIC_ACQUIRE) < ${renderExpr(s.value, syntax)}) ` +
            'sched_yield();',
        ];
      case 'signal':
        return [`${ind}__atomic_fetch_add(${at(s.buf, s.index)}, 1u, __ATOMIC_RELEASE);`];
      default:
        throw new Error('internal: a C kernel cannot wait for other invocations (build cpu-class kernels for C)');
    }
  },
};

/**
 * A kernel as C: the invocation's body as a function of its grid position, and a function running every invocation
 * of the grid, shared among the threads of the step's OpenMP team (`omp for`: invocations of a cpu-class kernel
 * never wait for each other; the loop's closing barrier orders the launches). Called outside a team, it runs alone.
 */
export function renderC(k: Kernel): string {
  if (needsWorkgroup(k)) lang.special({ k: 'barrier' }, '');
  const params = k.buffers.map((b) => `${C_TYPES[b.t]}* restrict ${b.name}`).join(', ');
  const args = k.buffers.map((b) => b.name).join(', ');
  // A kernel that keeps a register block (a local array) is vectorised across the block (gcc's SLP), not across the
  // loop that fills it: gcc 12 otherwise vectorises an spmm's loop over a row's entries with gathers, 15x slower
  // (unless the kernel says its loops vectorise well: the attention kernels', 1.65x to 3.4x faster with them).
  let blocked = false;
  walk(k.body, (s) => {
    if (s.k === 'array') blocked = true;
  });
  const attr = blocked && !k.vectorLoops ? '__attribute__((optimize("no-tree-loop-vectorize"))) ' : '';
  const [nx, ny, nz] = k.dispatch.map((d, a) => d * k.workgroup[a]!);
  const generated = `${attr}static inline void ${k.name}_at(uint32_t gid_x, uint32_t gid_y, uint32_t gid_z, ${params}) {
  (void)gid_x; (void)gid_y; (void)gid_z;
${cStatements(k.body, lang).join('\n')}
}

${attr}static void ${k.name}(${params}) {
#pragma omp for collapse(3) schedule(static)
  for (uint32_t gid_z = 0; gid_z < ${nz}u; gid_z++)
    for (uint32_t gid_y = 0; gid_y < ${ny}u; gid_y++)
      for (uint32_t gid_x = 0; gid_x < ${nx}u; gid_x++) ${k.name}_at(gid_x, gid_y, gid_z, ${args});
}`;
  if (!k.library) return `// ${k.name}: ${k.doc}\n${generated}\n`;
  return `// ${k.name}: ${k.doc}
#ifdef FLEXC_BLAS
${blasCall(k, k.library, params)}
#else
${generated}
#endif
`;
}

/**
 * A copy between tiers on the calling thread: host memory is `H`, the SSD the spill file (a failed read or write
 * fails the step).
 */
function copyStep(plan: Plan, from: number, to: number): string {
  const [f, t] = [plan.buffers[from]!, plan.buffers[to]!];
  const at = (b: typeof f) => `${b.tier === 'gpu' ? 'A' : 'H'} + ${b.offset}u`;
  const down = f.tier === 'gpu';
  const [off, gpu] = down ? [t, f] : [f, t];
  // bytes per link (flexc_moved, in the order of LINKS)
  const count = linksOf(off.tier as 'host' | 'ssd', down)
    .map((l) => `FLEXC_MOVED(a)[${LINKS.indexOf(l)}] += ${f.bytes}u;`)
    .join(' ');
  if (off.tier === 'host') return `memcpy(${at(t)}, ${at(f)}, ${f.bytes}u); ${count}`;
  return `if (flexc_spill(a, ${down ? 1 : 0}, ${off.offset}u, A + ${gpu.offset}u, ${f.bytes}u)) return -1; ${count}`;
}

/** The kernel as a BLAS call per batch, made outside the step's teams of threads (the BLAS has threads of its own). */
function blasCall(k: Kernel, g: LibraryCall, params: string): string {
  const op = (t: boolean) => (t ? 'CblasTrans' : 'CblasNoTrans');
  const list = (xs: number[]) => xs.map((x) => `${x}u`).join(', ');
  return `static const uint32_t ${k.name}_ao[] = {${list(g.aOffsets)}};
static const uint32_t ${k.name}_bo[] = {${list(g.bOffsets)}};

static void ${k.name}(${params}) {
  for (uint32_t z = 0; z < ${g.aOffsets.length}u; z++)
    cblas_sgemm(CblasRowMajor, ${op(g.ta)}, ${op(g.tb)}, ${g.m}, ${g.n}, ${g.k}, 1.0f, ${g.aBuf} + ${k.name}_ao[z], \
${g.ta ? g.m : g.k}, ${g.bBuf} + ${k.name}_bo[z], ${g.tb ? g.k : g.n}, 0.0f, res + z * ${g.m * g.n}u, ${g.n});
}`;
}

/**
 * The plan's host library in C, with the C ABI every compiled target shares (runtime/native/session.ts): open and
 * close the arena, write and read bytes of it, run the step's launches in order (filling freed ranges with NaNs when
 * asked to poison).
 */
export function renderCHost(plan: Plan, kernels: Map<string, Kernel>): string {
  const ranked = rankedSteps(plan);
  // the step's launches in teams: a library call (its own threads) runs between them, on the calling thread
  const steps = (blas: boolean) => {
    const lines: string[] = [];
    let open = false;
    const team = (want: boolean) => {
      if (want === open) return;
      lines.push(want ? '#pragma omp parallel\n  {' : '  }');
      open = want;
    };
    plan.steps.forEach((st, i) => {
      const push = (line: string) => lines.push(...ranked.guard(i, st, [line]));
      if (st.kind === 'launch') {
        const k = kernels.get(st.kernel)!;
        team(!(blas && k.library));
        push(`    ${st.kernel}(${launchArgs(plan, k, st.bindings)});`);
      } else if (st.kind === 'free') {
        if (plan.buffers[st.buffer]!.tier !== 'gpu') return;
        team(true);
        const [off, bytes] = freedRange(plan, st.buffer);
        push(`    if (poison) flexc_poison(A + ${off}u, ${bytes / 4}u);`);
      } else if (st.kind === 'clear') {
        team(false);
        push(`  memset(A + ${plan.buffers[st.buffer]!.offset}u, 0, ${plan.buffers[st.buffer]!.bytes}u);`);
      } else if (st.kind === 'copy') {
        team(false);
        push(`  ${copyStep(plan, st.from, st.to)}`);
      }
    });
    team(false);
    return lines.join('\n');
  };
  const arena = Math.max(64, Math.ceil(plan.arenas.gpu / 64) * 64);
  // host memory's tier follows the arena in the same allocation, then the session's spill file (the SSD's tier)
  const host = Math.ceil((plan.arenas.host ?? 0) / 64) * 64;
  const total = arena + host + 64;
  const run = ranked.params
    ? 'int flexc_run_steps(void* a, int from, int to, int pipe, int poison)'
    : 'int flexc_run(void* a, int poison)';
  return `// The host library of plan \`${plan.name}\` (target c): generated by flexc; the C ABI of runtime/native.
#include <math.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef FLEXC_BLAS
#include <cblas.h>
#endif

#define FLEXC_MAX(a, b) ((a) > (b) ? (a) : (b))
#define FLEXC_MIN(a, b) ((a) < (b) ? (a) : (b))

${[...new Set(plan.kernels.map((k) => k.file))].map((f) => `#include "${f}"`).join('\n')}

static void flexc_poison(uint8_t* at, uint32_t words) {
  uint32_t* w = (uint32_t*)at;
#pragma omp for schedule(static)
  for (uint32_t i = 0; i < words; i++) w[i] = 0x${POISON_BITS.toString(16)}u;
}

uint64_t flexc_arena_bytes(void) { return ${arena}u; }

// flexc_write and flexc_read reach host memory's tier at this offset and beyond
uint64_t flexc_host_base(void) { return ${arena}u; }

// the spill file: a temporary file the system removes when it is closed or the process ends
#define FLEXC_SPILL(a) (*(FILE**)((uint8_t*)(a) + ${arena + host}u))
// bytes each link carried (gpu→host, host→gpu, host→ssd, ssd→host), counted as the copies run
#define FLEXC_MOVED(a) ((uint64_t*)((uint8_t*)(a) + ${arena + host + 8}u))

void flexc_moved(void* a, uint64_t* out) { memcpy(out, FLEXC_MOVED(a), 4 * sizeof(uint64_t)); }

void* flexc_open(void) {
  void* a = aligned_alloc(64, ${total}u);
  if (!a) return a;
  memset(a, 0, ${total}u);
  if (${plan.arenas.ssd ? 1 : 0} && !(FLEXC_SPILL(a) = tmpfile())) {
    free(a);
    return NULL;
  }
  return a;
}

void flexc_close(void* a) {
  if (FLEXC_SPILL(a)) fclose(FLEXC_SPILL(a));${
    ranked.params
      ? `
  free(*(uint8_t**)((uint8_t*)a + ${arena + host + 40}u));`
      : ''
  }
  free(a);
}

/* Copies between the arena and the SSD tier: positional reads and writes of the spill file. */
static int flexc_spill(void* a, int out, uint64_t at, uint8_t* p, uint64_t bytes) {
  int fd = fileno(FLEXC_SPILL(a));
  while (bytes) {
    ssize_t n = out ? pwrite(fd, p, bytes, (off_t)at) : pread(fd, p, bytes, (off_t)at);
    if (n <= 0) return 1;
    p += n, at += (uint64_t)n, bytes -= (uint64_t)n;
  }
  return 0;
}

void flexc_write(void* a, uint64_t offset, const void* src, uint64_t bytes) {
  memcpy((uint8_t*)a + offset, src, bytes);
}

void flexc_read(void* a, uint64_t offset, void* dst, uint64_t bytes) { memcpy(dst, (uint8_t*)a + offset, bytes); }

${run} {
  uint8_t* A = (uint8_t*)a;
  uint8_t* H = A + ${arena}u;
  (void)poison, (void)H;
  // teams of threads across the step's kernels: each kernel's loop is shared among them (no fork per launch)
#ifdef FLEXC_BLAS
${steps(true)}
#else
${steps(false)}
#endif
  return 0;
}
${ranked.params ? rankAbi(ranked.all, arena + host) : ''}`;
}

/**
 * A partitioned plan's rank (compiler/interp/simulated-ranks.ts, nccl-rank.ts): the whole step, and the device side
 * CUDA's library has (compiler/targets/cuda.ts, RANK_ABI) with host memory for device memory: an exchange's operands
 * staged in a scratch allocation the session owns (its pointer and size after the spill file and the link counts).
 */
function rankAbi(all: string, tail: number): string {
  return `
// the whole step (a partitioned plan's rank runs its steps between exchanges: flexc_run_steps)
int flexc_run(void* a, int poison) { return flexc_run_steps(a${all}, poison); }

#define FLEXC_SCRATCH(a) (*(uint8_t**)((uint8_t*)(a) + ${tail + 40}u))
#define FLEXC_SCRATCH_BYTES(a) (*(uint64_t*)((uint8_t*)(a) + ${tail + 48}u))

void* flexc_at(void* a, uint64_t offset) { return (uint8_t*)a + offset; }

void* flexc_stream(void* a) { (void)a; return NULL; }

int flexc_sync(void* a) { (void)a; return 0; }

void* flexc_scratch(void* a, uint64_t bytes) {
  if (bytes > FLEXC_SCRATCH_BYTES(a)) {
    free(FLEXC_SCRATCH(a));
    FLEXC_SCRATCH(a) = malloc(bytes);
    FLEXC_SCRATCH_BYTES(a) = FLEXC_SCRATCH(a) ? bytes : 0;
  }
  return FLEXC_SCRATCH(a);
}

int flexc_copy(void* a, void* dst, const void* src, uint64_t bytes) {
  (void)a;
  memcpy(dst, src, bytes);
  return 0;
}
`;
}

/**
 * The system C compiler (`$CC`, else `cc`): optimised for this machine, OpenMP across its cores, and no reassociation
 * of floating-point arithmetic (sums keep the CPU reference's order; gcc may contract a*b+c into one FMA); no trap
 * handlers, so that a select of two computed values vectorises (dropout's `u < p ? 0 : x / (1 - p)`). Without
 * AVX-512: gcc 12's masked AVX-512 vectorisation of loops with a `continue` (if-conversion) computed a wrong
 * weight-gradient matmul (test/codegen/kernels.test.ts found it; -O2, generic -O3 and AVX2 were right).
 */
export const cCompiler = (host: string, out: string): Command => ({
  exe: cc(),
  args: [
    ...blasFlags().slice(0, 1),
    ...['-std=gnu11', '-O3', '-march=native', '-mno-avx512f', '-fno-trapping-math', '-fopenmp', '-fPIC', '-shared'],
    // never unloaded: OpenMP's worker threads outlive a dlclose (Node's exit crashed when the library went first)
    '-Wl,-z,nodelete',
    ...['-o', out, host, '-lm'],
    ...blasFlags().slice(1),
  ],
  hint: 'install a C compiler with OpenMP (Debian: `apt install gcc`), or set CC',
});

const cc = () => process.env['CC'] || 'cc';

let blas: string[] | undefined;
/**
 * Matmuls call a BLAS where one is installed (OpenBLAS, else the reference CBLAS; `FLEXC_BLAS=0` turns it off): the
 * define, then the libraries to link, found once per process by compiling and running a call to cblas_sgemm.
 */
export function blasFlags(): string[] {
  if (process.env['FLEXC_BLAS'] === '0') return [];
  if (blas) return blas;
  blas = [];
  const dir = mkdtempSync(join(tmpdir(), 'flexc-blas-'));
  try {
    writeFileSync(
      join(dir, 'probe.c'),
      '#include <cblas.h>\nint main(void) { float a = 1, b = 1, c = 0;\n' +
        '  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1, 1, 1, 1.0f, &a, 1, &b, 1, 0.0f, &c, 1);\n' +
        '  return c != 1.0f; }\n',
    );
    for (const libs of [['-lopenblas'], ['-lcblas', '-lblas']]) {
      const r = spawnSync(cc(), ['-o', 'probe', 'probe.c', ...libs], { cwd: dir });
      if (r.status === 0 && spawnSync(join(dir, 'probe')).status === 0) {
        blas = ['-DFLEXC_BLAS', ...libs];
        break;
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return blas;
}
