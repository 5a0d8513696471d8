import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import koffi, { type LibraryHandle } from 'koffi';
import { PlanError } from '../plan.ts';

/**
 * NCCL (NVIDIA's collective communication library), loaded when a partitioned CUDA plan runs — never at build time, so
 * nothing here needs it to compile: `libnccl.so.2` from `FLEXC_NCCL` (a path), else the system's loader
 * (`LD_LIBRARY_PATH`), else the `nvidia-nccl-cu13` wheel's copy in Python's site-packages. Only the prototypes below
 * are declared (nccl.h, NCCL 2.19 and later).
 */
export interface Nccl {
  /** One communicator over every rank (rendezvous: `NCCL_COMM_ID`, else `MASTER_ADDR:MASTER_PORT`), then split. */
  init(world: number, rank: number): Comm;
  split(parent: Comm, color: number, key: number): Comm;
  allReduce(send: unknown, recv: unknown, count: number, type: DataType, op: RedOp, comm: Comm, stream: unknown): void;
  /** recv = every rank's `count` elements of send, in rank order. */
  allGather(send: unknown, recv: unknown, count: number, type: DataType, comm: Comm, stream: unknown): void;
  send(buf: unknown, count: number, type: DataType, peer: number, comm: Comm, stream: unknown): void;
  recv(buf: unknown, count: number, type: DataType, peer: number, comm: Comm, stream: unknown): void;
  groupStart(): void;
  groupEnd(): void;
  /** A sum with each rank's operand first multiplied by `scale` (a mean: 1/n), a host scalar. */
  preMulSum(scale: number, comm: Comm): RedOp;
  destroy(comm: Comm): void;
  /**
   * Waits until the calls made so far can have completed. NCCL's complete in stream order, so it is absent; a
   * stand-in that runs every rank in one process (the tests' loopback) completes a call when each rank has made it.
   */
  settle?(): Promise<void>;
}

export type Comm = { readonly comm: unknown };

/** A partitioned CUDA plan cannot meet its ranks: NCCL missing, no rendezvous, a world of the wrong size. */
export class RanksError extends PlanError {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}
/** ncclDataType_t: what a plan's buffers hold. */
export const DATA_TYPES = { i32: 2, f32: 7 } as const;
export type DataType = (typeof DATA_TYPES)[keyof typeof DATA_TYPES];
export type RedOp = number;
export const SUM: RedOp = 0;
export const MAX: RedOp = 2;

/** Where the loader may find libnccl.so.2: the variable, the loader's own search, the Python wheel. */
export function ncclCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  if (env['FLEXC_NCCL']) out.push(env['FLEXC_NCCL']);
  out.push('libnccl.so.2');
  const py = spawnSync('python3', ['-c', 'import nvidia.nccl as n; print(list(n.__path__)[0])'], { encoding: 'utf8' });
  const dir = py.status === 0 ? py.stdout.trim() : '';
  if (dir && existsSync(join(dir, 'lib', 'libnccl.so.2'))) out.push(join(dir, 'lib', 'libnccl.so.2'));
  return out;
}

let loaded: Nccl | undefined;

/** NCCL, loaded once; a PlanError saying where it looked when it is not there. */
export function loadNccl(env: NodeJS.ProcessEnv = process.env): Nccl {
  if (loaded) return loaded;
  const tried: string[] = [];
  let so: LibraryHandle | undefined;
  for (const path of ncclCandidates(env)) {
    try {
      so = koffi.load(path);
      break;
    } catch (e) {
      tried.push(`${path}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  if (!so)
    throw new RanksError(
      `a partitioned plan on CUDA needs NCCL (libnccl.so.2), which was not found (${tried.join('; ')})`,
      'install it (`pip install nvidia-nccl-cu13`), or set FLEXC_NCCL to its path',
    );
  loaded = bind(so);
  return loaded;
}

function bind(so: LibraryHandle): Nccl {
  // the id's type, by name in the prototypes below (passed by value to ncclCommInitRank)
  koffi.struct('ncclUniqueId', { internal: koffi.array('uint8_t', 128, 'Array') });
  const f = (proto: string) => so.func(proto) as (...args: unknown[]) => number;
  const errorString = so.func('const char* ncclGetErrorString(int result)') as (r: number) => string;
  const check = (what: string, r: number) => {
    if (r !== 0) throw new PlanError(`NCCL ${what} failed: ${errorString(r)} (${r})`);
  };
  const getUniqueId = f('int ncclGetUniqueId(_Out_ ncclUniqueId* id)');
  const initRank = f('int ncclCommInitRank(_Out_ void** comm, int nranks, ncclUniqueId id, int rank)');
  const split = f('int ncclCommSplit(void* comm, int color, int key, _Out_ void** newcomm, void* config)');
  const destroy = f('int ncclCommDestroy(void* comm)');
  const allReduce = f('int ncclAllReduce(void* s, void* r, size_t n, int type, int op, void* comm, void* stream)');
  const allGather = f('int ncclAllGather(void* s, void* r, size_t n, int type, void* comm, void* stream)');
  const send = f('int ncclSend(void* s, size_t n, int type, int peer, void* comm, void* stream)');
  const recv = f('int ncclRecv(void* r, size_t n, int type, int peer, void* comm, void* stream)');
  const groupStart = f('int ncclGroupStart(void)');
  const groupEnd = f('int ncclGroupEnd(void)');
  const preMul = f('int ncclRedOpCreatePreMulSum(_Out_ int* op, float* scalar, int type, int residence, void* comm)');
  const out = <T>(): [T] => [undefined as T];
  return {
    init: (world, rank) => {
      const id = {};
      check('ncclGetUniqueId', getUniqueId(id));
      const c = out<unknown>();
      check('ncclCommInitRank', initRank(c, world, id, rank));
      return { comm: c[0] };
    },
    split: (parent, color, key) => {
      const c = out<unknown>();
      check('ncclCommSplit', split(parent.comm, color, key, c, null));
      return { comm: c[0] };
    },
    allReduce: (s, r, n, type, op, comm, stream) =>
      check('ncclAllReduce', allReduce(s, r, n, type, op, comm.comm, stream)),
    allGather: (s, r, n, type, comm, stream) => check('ncclAllGather', allGather(s, r, n, type, comm.comm, stream)),
    send: (s, n, type, peer, comm, stream) => check('ncclSend', send(s, n, type, peer, comm.comm, stream)),
    recv: (r, n, type, peer, comm, stream) => check('ncclRecv', recv(r, n, type, peer, comm.comm, stream)),
    groupStart: () => check('ncclGroupStart', groupStart()),
    groupEnd: () => check('ncclGroupEnd', groupEnd()),
    preMulSum: (scale, comm) => {
      const op = [0];
      check('ncclRedOpCreatePreMulSum', preMul(op, Float32Array.of(scale), DATA_TYPES.f32, 1, comm.comm));
      return op[0]!;
    },
    destroy: (comm) => check('ncclCommDestroy', destroy(comm.comm)),
  };
}

/** The rank of this process and the world's size, as torchrun and mpirun give them (RANK, WORLD_SIZE), or undefined. */
export function launchedRank(env: NodeJS.ProcessEnv = process.env): { rank: number; world: number } | undefined {
  const world = env['WORLD_SIZE'] || env['OMPI_COMM_WORLD_SIZE'];
  const rank = env['RANK'] || env['OMPI_COMM_WORLD_RANK'];
  if (!world || !rank) return undefined;
  return { rank: Number(rank), world: Number(world) };
}

/**
 * NCCL's rendezvous from the launcher's variables: its bootstrap root at `MASTER_ADDR:MASTER_PORT` (rank 0 opens
 * it), unless `NCCL_COMM_ID` names one already.
 */
export function rendezvous(env: NodeJS.ProcessEnv = process.env): string {
  if (env['NCCL_COMM_ID']) return env['NCCL_COMM_ID'];
  const addr = env['MASTER_ADDR'];
  const port = env['MASTER_PORT'];
  if (!addr || !port)
    throw new RanksError(
      'a partitioned plan on CUDA ranks meets at MASTER_ADDR:MASTER_PORT (or NCCL_COMM_ID), which are not set',
      'launch with torchrun (`torchrun --nproc-per-node N --no-python npx flexc run …`), which sets them',
    );
  env['NCCL_COMM_ID'] = `${addr}:${port}`;
  return env['NCCL_COMM_ID'];
}
