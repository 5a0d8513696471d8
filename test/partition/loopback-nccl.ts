import koffi from 'koffi';
import { type Comm, DATA_TYPES, type DataType, type Nccl, type RedOp } from '../../runtime/native/nccl.ts';

interface Call {
  rank: number;
  send?: unknown;
  recv?: unknown;
  count: number;
  type: DataType;
  op?: RedOp;
}

interface Slot {
  calls: Map<number, Call>;
  need: number;
  run: (calls: Map<number, Call>) => void;
  done: () => void;
  finished: Promise<void>;
}

type Id = { id: string; rank: number };

/**
 * The tests' stand-in for NCCL: every rank of a job in this process, NCCL's semantics over the host memory a C plan's
 * library hands out where CUDA's hands out device memory. Communicators split as NCCL splits them (by colour, ranked
 * by key); a collective completes when every member has made it, a send when its receive is posted; `settle` waits
 * for the rank's calls. Not a transport: it lets compiler/interp/nccl-rank.ts run here, without GPUs.
 */
export class LoopbackWorld {
  private readonly members = new Map<string, Map<number, number>>(); // communicator → rank → key
  private readonly splits = new Map<string, number>(); // `${parent}@${rank}` → splits made
  private readonly seq = new Map<string, number>();
  private readonly slots = new Map<string, Slot>();
  private readonly pending = new Map<number, Promise<void>[]>();
  private readonly scales = new Map<RedOp, number>();

  constructor(readonly size: number) {}

  /** The NCCL of rank `rank`. */
  nccl(rank: number): Nccl {
    const comm = (c: Comm) => c.comm as Id;
    const join = (id: string, key: number): Comm => {
      if (!this.members.has(id)) this.members.set(id, new Map());
      this.members.get(id)!.set(rank, key);
      return { comm: { id, rank } satisfies Id };
    };
    return {
      init: (world, r) => {
        if (world !== this.size || r !== rank)
          throw new Error(`loopback: rank ${r} of ${world} in a world of ${this.size}`);
        return join('world', rank);
      },
      split: (parent, color, key) => {
        const at = `${comm(parent).id}@${rank}`;
        const k = this.splits.get(at) ?? 0;
        this.splits.set(at, k + 1);
        return join(`${comm(parent).id}/${k}:${color}`, key);
      },
      allReduce: (send, recv, count, type, op, c) =>
        this.collective(comm(c), 'all-reduce', { rank, send, recv, count, type, op }, (calls) => {
          const order = this.order(comm(c).id);
          const ins = order.map((r) => view(calls.get(r)!.send, count, type).slice());
          const out = ins[0]!.map((_, i) =>
            ins.reduce((a, x) => a + (this.scales.get(op) ?? (op === 0 ? 1 : Number.NaN)) * x[i]!, 0),
          );
          for (const r of order) view(calls.get(r)!.recv, count, type).set(out);
        }),
      allGather: (send, recv, count, type, c) =>
        this.collective(comm(c), 'all-gather', { rank, send, recv, count, type }, (calls) => {
          const order = this.order(comm(c).id);
          const ins = order.map((r) => view(calls.get(r)!.send, count, type).slice());
          for (const r of order)
            ins.forEach((x, k) => view(calls.get(r)!.recv, count * order.length, type).set(x, k * count));
        }),
      send: (buf, count, type, peer) => this.p2p(`${rank}->${peer}`, rank, { rank, send: buf, count, type }),
      recv: (buf, count, type, peer) => this.p2p(`${peer}->${rank}`, rank, { rank, recv: buf, count, type }),
      groupStart: () => {},
      groupEnd: () => {},
      preMulSum: (scale) => {
        const op = 100 + this.scales.size;
        this.scales.set(op, scale);
        return op;
      },
      destroy: () => {},
      settle: async () => {
        const mine = this.pending.get(rank) ?? [];
        this.pending.set(rank, []);
        await Promise.all(mine);
      },
    };
  }

  private order(id: string): number[] {
    return [...this.members.get(id)!].sort((a, b) => a[1] - b[1]).map(([r]) => r);
  }

  private next(key: string): number {
    const n = this.seq.get(key) ?? 0;
    this.seq.set(key, n + 1);
    return n;
  }

  private arrive(key: string, need: number, call: Call, run: Slot['run']): void {
    let slot = this.slots.get(key);
    if (!slot) {
      let done = () => {};
      const finished = new Promise<void>((resolve) => (done = resolve));
      slot = { calls: new Map(), need, run, done, finished };
      this.slots.set(key, slot);
    }
    slot.calls.set(call.rank, call);
    this.pending.set(call.rank, [...(this.pending.get(call.rank) ?? []), slot.finished]);
    if (slot.calls.size === slot.need) {
      slot.run(slot.calls);
      this.slots.delete(key);
      slot.done();
    }
  }

  private collective(c: Id, what: string, call: Call, run: Slot['run']): void {
    const n = this.next(`${c.id}@${call.rank}`);
    this.arrive(`${what} ${c.id}#${n}`, this.members.get(c.id)!.size, call, run);
  }

  private p2p(pair: string, rank: number, call: Call): void {
    const n = this.next(`${pair}@${rank}`);
    this.arrive(`p2p ${pair}#${n}`, 2, call, (calls) => {
      const [from] = pair.split('->').map(Number);
      const s = calls.get(from!)!;
      const r = [...calls.values()].find((x) => x.recv !== undefined)!;
      view(r.recv, r.count, r.type).set(view(s.send, s.count, s.type));
    });
  }
}

/** `count` elements at host address `ptr`, in place. */
function view(ptr: unknown, count: number, type: DataType): Float32Array | Int32Array {
  const buf = koffi.view(ptr, count * 4);
  return type === DATA_TYPES.i32 ? new Int32Array(buf) : new Float32Array(buf);
}
