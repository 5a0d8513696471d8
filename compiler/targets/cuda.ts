import type { Expr, Kernel, Stmt } from '../kernel/ir.ts';
import type { Plan } from '../../runtime/plan.ts';
import type { Command, CompileOptions } from './target.ts';
import { POISON_BITS } from '../../runtime/poison.ts';
import { LINKS, plannedMoves } from '../../runtime/tiers.ts';
import {
  C_TYPES,
  type CLike,
  cCall,
  cLiteral,
  cStatements,
  freedRange,
  launchArgs,
  rankedSteps,
  syncs,
} from './c-like.ts';
import { type ExprSyntax, renderExpr } from './render-expr.ts';

const BUILTIN: Record<string, string> = {
  'gid.x': '(blockIdx.x * blockDim.x + threadIdx.x)',
  'gid.y': '(blockIdx.y * blockDim.y + threadIdx.y)',
  'gid.z': '(blockIdx.z * blockDim.z + threadIdx.z)',
  lid: '(threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z))',
  'wid.x': 'blockIdx.x',
  'wid.y': 'blockIdx.y',
  'wid.z': 'blockIdx.z',
};

const syntax: ExprSyntax = {
  lit: (e) =>
    cLiteral(
      e,
      {
        inf: '__int_as_float(0x7f800000)',
        ninf: '__int_as_float(0xff800000)',
        nan: '__int_as_float(0x7fc00000)',
      },
      'true',
      'false',
    ),
  builtin: (name) => BUILTIN[name]!,
  call: (e, args) => cCall(e, args, (fn) => fn),
  select: (c, a, b) => `(${c} ? ${a} : ${b})`,
  cast: (t, a) => `(${C_TYPES[t]})(${a})`,
};

/**
 * A workgroup reduction with warp shuffles: each warp reduces in registers, its first lane writes the warp's result to
 * shared memory, and the first warp reduces those. Every thread of the block gets the result.
 */
function warpReduce(s: Extract<Stmt, { k: 'wreduce' }>, ind: string, threads: number, id: number): string[] {
  const combine = (a: string, b: string) => (s.op === 'sum' ? `${a} + ${b}` : `fmaxf(${a}, ${b})`);
  const identity = s.op === 'sum' ? '0.0f' : '__int_as_float(0xff800000)';
  const warps = Math.ceil(threads / 32);
  const v = `wr${id}`;
  const lid = BUILTIN['lid'];
  const shuffle = `for (int o = 16; o > 0; o >>= 1) ${v} = ${combine(v, `__shfl_down_sync(0xffffffffu, ${v}, o)`)};`;
  return [
    `${ind}float ${s.into};`,
    `${ind}{`,
    `${ind}  __shared__ float ${v}_s[${warps}];`,
    `${ind}  float ${v} = ${renderExpr(s.value, syntax)};`,
    `${ind}  ${shuffle}`,
    `${ind}  if ((${lid} & 31u) == 0u) ${v}_s[${lid} >> 5] = ${v};`,
    `${ind}  __syncthreads();`,
    `${ind}  ${v} = ${lid} < ${warps}u ? ${v}_s[${lid}] : ${identity};`,
    `${ind}  ${shuffle}`,
    `${ind}  if (${lid} == 0u) ${v}_s[0] = ${v};`,
    `${ind}  __syncthreads();`,
    `${ind}  ${s.into} = ${v}_s[0];`,
    `${ind}  __syncthreads();`,
    `${ind}}`,
  ];
}

/** A kernel as a CUDA `__global__` function: blocks are workgroups, shared memory is workgroup memory. */
export function renderCuda(k: Kernel): string {
  const threads = k.workgroup[0] * k.workgroup[1] * k.workgroup[2];
  let reductions = 0;
  const coherent = new Set(k.buffers.filter((b) => b.coherent).map((b) => b.name));
  const own: ExprSyntax = {
    ...syntax,
    load: (buf, index) => (coherent.has(buf) ? `__ldcg(&${buf}[${index}])` : `${buf}[${index}]`),
  };
  const lid = BUILTIN['lid'];
  const at = (buf: string, index: Expr) => `&${buf}[${renderExpr(index, own)}]`;
  const lang: CLike = {
    types: C_TYPES,
    syntax: own,
    special: (s, ind) => {
      switch (s.k) {
        case 'barrier':
          return [`${ind}__syncthreads();`];
        case 'wreduce':
          return warpReduce(s, ind, threads, reductions++);
        // a block is a persistent kernel's worker: its first thread touches the counter, the rest meet it at barriers
        case 'claim':
          return [
            `${ind}__syncthreads();`,
            `${ind}if (${lid} == 0u) flexc_sync = atomicAdd(${at(s.buf, s.index)}, 1u);`,
            `${ind}__syncthreads();`,
            `${ind}const uint32_t ${s.into} = flexc_sync;`,
          ];
        case 'wait':
          return [
            `${ind}if (${lid} == 0u) {`,
            `${ind}  while (*(volatile uint32_t*)${at(s.buf, s.index)} < ${renderExpr(s.value, own)}) __nanosleep(32);`,
            `${ind}  __threadfence();`,
            `${ind}}`,
            `${ind}__syncthreads();`,
          ];
        case 'signal':
          return [
            `${ind}__threadfence();`,
            `${ind}__syncthreads();`,
            `${ind}if (${lid} == 0u) atomicAdd(${at(s.buf, s.index)}, 1u);`,
          ];
      }
    },
  };
  const params = k.buffers.map((b) => `${C_TYPES[b.t]}* __restrict__ ${b.name}`).join(', ');
  const shared = [
    ...k.shared.map((a) => `  __shared__ ${C_TYPES[a.t]} ${a.name}[${a.size}];`),
    ...(syncs(k) ? ['  __shared__ uint32_t flexc_sync;'] : []),
  ];
  return `// ${k.name}: ${k.doc}
extern "C" __global__ void __launch_bounds__(${threads}) ${k.name}(${params}) {
${[...shared, ...cStatements(k.body, lang)].join('\n')}
}
`;
}

/**
 * The plan's host library in CUDA C++, with the C ABI every compiled target shares (runtime/native/session.ts): the
 * arena in device memory, uploads and downloads, and the step's launches in order on the session's stream, replayed
 * as a CUDA graph after the first (one launch per step instead of one per kernel; poisoned runs launch directly).
 */
export function renderCudaHost(plan: Plan, kernels: Map<string, Kernel>): string {
  let spills = 0;
  const moved = plannedMoves(plan);
  const ranked = rankedSteps(plan);
  const body = plan.steps.flatMap((st, k) => ranked.guard(k, st, stepLines(st)));
  function stepLines(st: Plan['steps'][number]): string[] {
    if (st.kind === 'launch') {
      const k = kernels.get(st.kernel)!;
      const grid = `dim3(${st.dispatch.join(', ')})`;
      const block = `dim3(${k.workgroup.join(', ')})`;
      return [`  ${st.kernel}<<<${grid}, ${block}, 0, s>>>(${launchArgs(plan, k, st.bindings)});`];
    }
    if (st.kind === 'copy') return copyStep(plan, st.from, st.to, () => spills++);
    if (st.kind === 'clear') {
      const b = plan.buffers[st.buffer]!;
      return [`  cudaMemsetAsync(A + ${b.offset}u, 0, ${b.bytes}u, s);`];
    }
    if (st.kind === 'free') {
      if (plan.buffers[st.buffer]!.tier !== 'gpu') return [];
      const [off, bytes] = freedRange(plan, st.buffer);
      return [`  if (poison) flexc_poison<<<${Math.ceil(bytes / 4 / 256)}, 256, 0, s>>>(A + ${off}u, ${bytes / 4}u);`];
    }
    return [];
  }
  const arena = Math.max(256, Math.ceil(plan.arenas.gpu / 256) * 256);
  const host = Math.max(256, (plan.arenas.host ?? 0) + (plan.arenas.ssd ?? 0));
  return `// The host library of plan \`${plan.name}\` (target cuda): generated by flexc; the C ABI of runtime/native.
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <cuda_runtime.h>
#include <unistd.h>

${[...new Set(plan.kernels.map((k) => k.file))].map((f) => `#include "${f}"`).join('\n')}

__global__ void flexc_poison(uint8_t* at, uint32_t words) {
  uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < words) ((uint32_t*)at)[i] = 0x${POISON_BITS.toString(16)}u;
}

// A session: its arena, its stream, and the step captured as a CUDA graph on its first unpoisoned run (the
// launches' pointers are this arena's, so each session has its own graph).
struct Session;

// A copy between the staging area and the spill file, run by the stream when it reaches it (a host node of the graph).
struct Spill {
  Session* h;
  int out;
  uint64_t at;
  uint64_t bytes;
};

// Host memory's tier and the SSD tier's staging area are pinned host memory (H: the host tier, then the SSD's
// buffers at their offsets); the SSD tier is a temporary file the system removes when it is closed or the process ends.
struct Session {
  uint8_t* arena;
  cudaStream_t stream;
  cudaGraphExec_t step;
  uint8_t* host;
  FILE* spill;
  int failed;
  Spill spills[${Math.max(1, spills)}];
  uint64_t moved[4];
  // device memory an exchange between ranks stages its operands in (flexc_scratch)
  uint8_t* scratch = nullptr;
  uint64_t scratchBytes = 0;
};

// bytes per link the copies of one step's graph carry (gpu→host, host→gpu, host→ssd, ssd→host), added per run
static const uint64_t flexc_step_moved[4] = {${LINKS.map((l) => `${moved[l]}u`).join(', ')}};

static void CUDART_CB flexc_spill(void* p) {
  Spill* c = (Spill*)p;
  int fd = fileno(c->h->spill);
  uint8_t* at = c->h->host + ${plan.arenas.host ?? 0}u + c->at;
  uint64_t left = c->bytes, off = c->at;
  while (left) {
    ssize_t n = c->out ? pwrite(fd, at, left, (off_t)off) : pread(fd, at, left, (off_t)off);
    if (n <= 0) {
      c->h->failed = 1;
      return;
    }
    at += n, off += (uint64_t)n, left -= (uint64_t)n;
  }
}

static void launches(Session* h, cudaStream_t s, int poison${ranked.params}) {
  uint8_t* A = h->arena;
  uint8_t* H = h->host;
  (void)poison, (void)H;
${body.join('\n')}
}

extern "C" {

uint64_t flexc_arena_bytes(void) { return ${arena}u; }

// flexc_write and flexc_read reach host memory's tier (pinned) at this offset and beyond
uint64_t flexc_host_base(void) { return ${arena}u; }

void* flexc_open(void) {
  // one process per GPU, as torchrun and mpirun launch them: the node-local rank picks the device
  const char* local = getenv("LOCAL_RANK");
  if (local && cudaSetDevice(atoi(local)) != cudaSuccess) return nullptr;
  Session* h = new Session{nullptr, nullptr, nullptr, nullptr, nullptr, 0, {}, {}};
  if (cudaMalloc(&h->arena, ${arena}u) != cudaSuccess || cudaStreamCreate(&h->stream) != cudaSuccess ||
      cudaMallocHost(&h->host, ${host}u) != cudaSuccess || (${plan.arenas.ssd ? 1 : 0} && !(h->spill = tmpfile()))) {
    if (h->arena) cudaFree(h->arena);
    if (h->host) cudaFreeHost(h->host);
    delete h;
    return nullptr;
  }
  cudaMemset(h->arena, 0, ${arena}u);
  return h;
}

void flexc_close(void* p) {
  Session* h = (Session*)p;
  if (h->step) cudaGraphExecDestroy(h->step);
  if (h->scratch) cudaFree(h->scratch);
  cudaStreamDestroy(h->stream);
  cudaFree(h->arena);
  cudaFreeHost(h->host);
  if (h->spill) fclose(h->spill);
  delete h;
}

void flexc_moved(void* p, uint64_t* out) { memcpy(out, ((Session*)p)->moved, 4 * sizeof(uint64_t)); }

void flexc_write(void* p, uint64_t offset, const void* src, uint64_t bytes) {
  Session* h = (Session*)p;
  if (offset >= ${arena}u) memcpy(h->host + (offset - ${arena}u), src, bytes);
  else cudaMemcpy(h->arena + offset, src, bytes, cudaMemcpyHostToDevice);
}

void flexc_read(void* p, uint64_t offset, void* dst, uint64_t bytes) {
  Session* h = (Session*)p;
  if (offset >= ${arena}u) memcpy(dst, h->host + (offset - ${arena}u), bytes);
  else cudaMemcpy(dst, h->arena + offset, bytes, cudaMemcpyDeviceToHost);
}

int flexc_run(void* p, int poison) {
  Session* h = (Session*)p;
  if (poison) {
    launches(h, h->stream, 1${ranked.all});
  } else {
    if (!h->step) {
      cudaGraph_t g;
      cudaStreamBeginCapture(h->stream, cudaStreamCaptureModeThreadLocal);
      launches(h, h->stream, 0${ranked.all});
      cudaError_t e = cudaStreamEndCapture(h->stream, &g);
      if (e != cudaSuccess) return (int)e;
      e = cudaGraphInstantiate(&h->step, g, 0);
      cudaGraphDestroy(g);
      if (e != cudaSuccess) return (int)e;
    }
    cudaGraphLaunch(h->step, h->stream);
  }
  cudaError_t e = cudaStreamSynchronize(h->stream);
  cudaError_t launched = cudaGetLastError();
  if (h->failed) return -1;
  if (e == cudaSuccess && launched == cudaSuccess)
    for (int k = 0; k < 4; k++) h->moved[k] += flexc_step_moved[k];
  return (int)(e != cudaSuccess ? e : launched);
}
${ranked.params ? RANK_ABI : ''}
}
`;
}

/**
 * A partitioned plan's rank runs its steps in runs between the exchanges its driver makes (compiler/interp/nccl-rank.ts
 * over NCCL, compiler/interp/simulated-ranks.ts in one process): `flexc_run_steps` enqueues steps [from, to) of its
 * pipeline position's stages on the session's stream (no graph); the driver hands NCCL the arena's device pointers
 * (`flexc_at`) and the stream, stages a gathered operand in `flexc_scratch` and copies between device and host with
 * `flexc_copy` (any direction: unified addressing).
 */
const RANK_ABI = `
int flexc_run_steps(void* p, int from, int to, int pipe, int poison) {
  Session* h = (Session*)p;
  launches(h, h->stream, poison, from, to, pipe);
  return (int)cudaGetLastError();
}

void* flexc_at(void* p, uint64_t offset) { return ((Session*)p)->arena + offset; }

void* flexc_stream(void* p) { return ((Session*)p)->stream; }

int flexc_sync(void* p) { return (int)cudaStreamSynchronize(((Session*)p)->stream); }

void* flexc_scratch(void* p, uint64_t bytes) {
  Session* h = (Session*)p;
  if (bytes > h->scratchBytes) {
    if (h->scratch) cudaFree(h->scratch);
    h->scratchBytes = 0;
    if (cudaMalloc(&h->scratch, bytes) != cudaSuccess) return nullptr;
    h->scratchBytes = bytes;
  }
  return h->scratch;
}

int flexc_copy(void* p, void* dst, const void* src, uint64_t bytes) {
  Session* h = (Session*)p;
  cudaError_t e = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, h->stream);
  return (int)(e != cudaSuccess ? e : cudaStreamSynchronize(h->stream));
}
`;

/**
 * A copy between tiers on the session's stream: host memory by an asynchronous copy into pinned memory; the SSD
 * through its staging area and a host function that writes (or first reads) the spill file, in stream order.
 */
function copyStep(plan: Plan, from: number, to: number, spill: () => number): string[] {
  const [f, t] = [plan.buffers[from]!, plan.buffers[to]!];
  const host = plan.arenas.host ?? 0;
  const at = (b: typeof f) =>
    b.tier === 'gpu' ? `A + ${b.offset}u` : `H + ${b.tier === 'ssd' ? host + b.offset : b.offset}u`;
  const kind = f.tier === 'gpu' ? 'cudaMemcpyDeviceToHost' : 'cudaMemcpyHostToDevice';
  const copy = `  cudaMemcpyAsync(${at(t)}, ${at(f)}, ${f.bytes}u, ${kind}, s);`;
  if (f.tier !== 'ssd' && t.tier !== 'ssd') return [copy];
  const ssd = f.tier === 'ssd' ? f : t;
  const k = spill();
  const file = [
    `  h->spills[${k}] = Spill{h, ${f.tier === 'gpu' ? 1 : 0}, ${ssd.offset}u, ${f.bytes}u};`,
    `  cudaLaunchHostFunc(s, flexc_spill, &h->spills[${k}]);`,
  ];
  return f.tier === 'gpu' ? [copy, ...file] : [...file, copy];
}

/** nvcc, for each architecture asked (sm_90, Hopper, by default). */
export const cudaCompiler = (host: string, out: string, opts: CompileOptions): Command => ({
  exe: 'nvcc',
  args: [
    '-O3',
    '-std=c++17',
    ...(opts.arch ?? ['sm_90']).flatMap((a) => ['-gencode', `arch=compute_${a.slice(3)},code=${a}`]),
    '-Xcompiler',
    '-fPIC',
    '-shared',
    '-o',
    out,
    host,
  ],
  hint: 'install the CUDA toolkit (nvcc on the PATH), or build with --no-compile and compile plan.cu where nvcc is',
});
