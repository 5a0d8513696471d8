import koffi from 'koffi';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kernel } from '../../compiler/kernel/ir.ts';
import { compileIn } from '../../compiler/targets/compile.ts';
import { TARGETS } from '../../compiler/targets/registry.ts';
import type { NDArray } from '../../compiler/ir/op.ts';

const ALIGN = 64;
const round = (n: number) => Math.ceil(Math.max(4, n) / ALIGN) * ALIGN;

type Runner = (arena: Uint8Array, offsets: BigUint64Array) => void;

/**
 * Kernels compiled by the C target into one library, each behind an exported wrapper that takes an arena and the
 * offsets of its buffers: `run(kernel, operands)` runs one kernel's whole grid and returns its result.
 */
export function nativeKernels(kernels: Kernel[]): {
  has(name: string): boolean;
  run(k: Kernel, inputs: NDArray[], n: number): Float32Array | Int32Array;
} {
  const unique = [...new Map(kernels.map((k) => [k.name, k])).values()];
  const source = [
    '#include <math.h>',
    '#include <sched.h>',
    '#include <stdint.h>',
    '#define FLEXC_MAX(a, b) ((a) > (b) ? (a) : (b))',
    '#define FLEXC_MIN(a, b) ((a) < (b) ? (a) : (b))',
    ...unique.map((k) => TARGETS.c.render(k)),
    ...unique.map((k) => {
      const args = k.buffers.map(
        (b, j) => `(${b.t === 'f32' ? 'float' : b.t === 'i32' ? 'int32_t' : 'uint32_t'}*)(A + o[${j}])`,
      );
      return `void run_${k.name}(uint8_t* A, const uint64_t* o) { ${k.name}(${args.join(', ')}); }`;
    }),
  ].join('\n');
  const command = JSON.stringify(TARGETS.c.compiler!('host.c', 'lib.so', {}));
  const hash = createHash('sha256').update(command).update(source).digest('hex').slice(0, 20);
  const dir = join(tmpdir(), `flexc-kernels-${hash}`);
  const lib = join(dir, 'lib.so');
  if (!existsSync(lib)) {
    // built aside and renamed into place: test files running in parallel never load a half-written library
    const work = mkdtempSync(join(tmpdir(), 'flexc-kernels-build-'));
    try {
      writeFileSync(join(work, 'host.c'), source);
      compileIn(TARGETS.c, work, 'host.c', 'lib.so');
      mkdirSync(dir, { recursive: true });
      renameSync(join(work, 'lib.so'), lib);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
  const so = koffi.load(lib);
  const fns = new Map<string, Runner>(
    unique.map((k) => [k.name, so.func(`void run_${k.name}(_Inout_ uint8_t* A, const uint64_t* o)`) as Runner]),
  );
  return {
    has: (name) => fns.has(name),
    run(k, inputs, n) {
      const sizes = [...inputs.map((x) => x.data.length * 4), n * 4];
      const offsets: number[] = [];
      let at = 0;
      for (const s of sizes) {
        offsets.push(at);
        at += round(s);
      }
      const arena = new Uint8Array(at);
      inputs.forEach((x, j) => {
        const data = x.data instanceof Int32Array ? x.data : Float32Array.from(x.data);
        arena.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), offsets[j]!);
      });
      fns.get(k.name)!(arena, BigUint64Array.from(offsets.map(BigInt)));
      const out = arena.buffer.slice(offsets.at(-1)!, offsets.at(-1)! + n * 4);
      return k.buffers.at(-1)!.t === 'i32' ? new Int32Array(out) : new Float32Array(out);
    },
  };
}
