import type { Plan, PlanBuffer } from './plan.ts';
import { KERNEL_EXT } from './targets.ts';

/** A plan that cannot be run as written (tampered with, truncated or from another version), naming what is wrong. */
export class PlanError extends Error {}

const fail = (msg: string): never => {
  throw new PlanError(`invalid plan: ${msg}`);
};

/** The most workgroups a dispatch may ask for in one dimension on every WebGPU device. */
export const MAX_WORKGROUPS = 65_535;

const end = (b: PlanBuffer) => b.offset + b.bytes;
const overlap = (a: PlanBuffer, b: PlanBuffer) =>
  a.tier === b.tier && a.bytes > 0 && b.bytes > 0 && a.offset < end(b) && b.offset < end(a);
const name = (b: PlanBuffer) => `buffer ${b.id} (${b.name})`;

/**
 * Everything about a plan that its schema cannot say, checked before anything runs: buffers are
 * referenced by id and each lies in the arena, aligned, with as many bytes as its shape; inputs,
 * parameters and outputs name buffers of their role; steps allocate each temporary once before it
 * is used and free it once after; no two live buffers share a byte (a range of rows of a buffer, `parent`, lies
 * within it and lives while it does); a launch binds as many buffers as
 * its kernel declares, all live, its result overlapping none of its operands, and dispatches at most
 * 65,535 workgroups per dimension; only GPU buffers are bound, and a copy joins live buffers of one size, one on the
 * GPU and one off it (host and SSD buffers are temporaries); outputs are still allocated at the end of the step.
 */
export function checkPlan(plan: Plan): void {
  const { alignment } = plan;
  if (!(alignment >= 4 && (alignment & (alignment - 1)) === 0))
    fail(`alignment is ${alignment}, not a power of two of at least 4`);
  plan.buffers.forEach((b, i) => {
    if (b.id !== i) fail(`buffers[${i}] has id ${b.id}; buffer ids are their positions`);
    // a range of rows in host memory or on the SSD is never bound
    if (b.offset % (b.parent === undefined || b.tier === 'gpu' ? alignment : 4))
      fail(`${name(b)} is at offset ${b.offset}, not a multiple of ${alignment}`);
    if (b.parent !== undefined) {
      const p = plan.buffers[b.parent];
      if (!(b.parent < i) || !p || p.parent !== undefined)
        fail(`${name(b)} is a range of buffer ${b.parent}, which is not a whole buffer declared before it`);
      if (p.tier !== b.tier || p.dtype !== b.dtype || p.role !== b.role || b.offset < p.offset || end(b) > end(p))
        fail(`${name(b)} (${b.bytes} bytes at ${b.offset}) does not lie within ${name(p)}`);
    }
    const arena = plan.arenas[b.tier] ?? 0;
    if (end(b) > arena)
      fail(`${name(b)} (${b.bytes} bytes at ${b.offset}) ends past the ${arena}-byte ${b.tier} arena`);
    if (b.tier === 'ssd' && b.role !== 'temp') fail(`${name(b)} is a ${b.role} buffer in the ${b.tier} tier`);
    if (b.bytes !== b.shape.reduce((a, d) => a * d, 1) * 4)
      fail(`${name(b)} has ${b.bytes} bytes but shape [${b.shape}]`);
  });
  const buffer = (id: number, what: string): PlanBuffer =>
    plan.buffers[id] ?? fail(`${what} names buffer ${id}, which the plan does not declare`);
  const roles = (id: number, what: string, want: PlanBuffer['role'][]) => {
    const b = buffer(id, what);
    if (!want.includes(b.role)) fail(`${what} names ${name(b)}, a ${b.role} buffer`);
  };
  const unique = (names: string[], what: string) => {
    const seen = new Set<string>();
    for (const n of names) if (seen.has(n) || !seen.add(n)) fail(`${what} \`${n}\` is declared twice`);
  };
  unique(
    plan.inputs.map((i) => i.name),
    'input',
  );
  unique(
    plan.params.map((p) => p.name),
    'parameter',
  );
  unique(
    plan.outputs.map((o) => o.name),
    'output',
  );
  for (const i of plan.inputs) roles(i.buffer, `input ${i.name}`, ['input']);
  for (const p of plan.params) roles(p.buffer, `parameter ${p.name}`, ['param', 'state']);
  for (const o of plan.outputs) buffer(o.buffer, `output ${o.name}`);
  const inputs = new Set(plan.inputs.map((i) => i.name));
  for (const o of plan.outputs)
    for (const n of o.inputs)
      if (!inputs.has(n)) fail(`output ${o.name} needs input ${n}, which the plan does not declare`);
  if (plan.target === 'wgsl' && plan.library !== undefined)
    fail('a wgsl plan names a library; WebGPU compiles kernels');
  if (plan.target !== 'wgsl' && (plan.library === undefined || !/^lib[A-Za-z0-9_-]+\.so$/.test(plan.library)))
    fail(`a ${plan.target} plan must name its library, a libNAME.so beside it, not ${JSON.stringify(plan.library)}`);
  if (plan.target === 'c' && plan.deviceClass !== 'cpu') fail('a c plan carries cpu-class kernels only');
  if (plan.target === 'cuda' && plan.deviceClass !== 'gpu') fail('a cuda plan carries gpu-class kernels only');
  const kernels = new Map(plan.kernels.map((k) => [k.name, k]));
  if (kernels.size < plan.kernels.length) fail('a kernel is declared twice');
  for (const k of plan.kernels)
    if (!new RegExp(`^kernels/[A-Za-z0-9_]+\\.${KERNEL_EXT[plan.target]}$`).test(k.file))
      fail(`kernel ${k.name} names the file ${JSON.stringify(k.file)}, not one in kernels/`);

  // the step, replayed: persistent buffers live throughout, temporaries from their alloc to their free
  const persistent = plan.buffers.filter((b) => b.role !== 'temp' && b.parent === undefined);
  const sorted = [...persistent].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++)
    if (overlap(sorted[i - 1]!, sorted[i]!)) fail(`${name(sorted[i - 1]!)} and ${name(sorted[i]!)} overlap`);
  const live = new Map<number, PlanBuffer>(persistent.map((b) => [b.id, b]));
  const state = new Map<number, 'allocated' | 'freed'>();
  plan.steps.forEach((st, i) => {
    const at = `step ${i}`;
    if ((st.kind === 'alloc' || st.kind === 'free') && buffer(st.buffer, at).parent !== undefined)
      fail(`${at} ${st.kind === 'alloc' ? 'allocates' : 'frees'} ${name(buffer(st.buffer, at))}, a range of another`);
    if (st.kind === 'alloc') {
      const b = buffer(st.buffer, at);
      if (b.role !== 'temp') return;
      if (state.has(b.id)) fail(`${at} allocates ${name(b)} again`);
      const clash = [...live.values()].find((o) => overlap(o, b));
      if (clash) fail(`${at} allocates ${name(b)} over live ${name(clash)}`);
      state.set(b.id, 'allocated');
      live.set(b.id, b);
    } else if (st.kind === 'free') {
      const b = buffer(st.buffer, at);
      if (b.role !== 'temp') fail(`${at} frees ${name(b)}, a ${b.role} buffer`);
      if (state.get(b.id) !== 'allocated')
        fail(`${at} frees ${name(b)}, which is ${state.get(b.id) ?? 'not allocated'}`);
      state.set(b.id, 'freed');
      live.delete(b.id);
    } else if (st.kind === 'clear') {
      const b = buffer(st.buffer, at);
      if (!live.has(b.parent ?? b.id)) fail(`${at} clears ${name(b)}, which is not allocated`);
      if (b.tier !== 'gpu') fail(`${at} clears ${name(b)}, in the ${b.tier} tier`);
    } else if (st.kind === 'collective') {
      const ends = [st.from, ...(st.operands ?? []), st.to].map((id) => buffer(id, at));
      for (const b of ends)
        if (!live.has(b.parent ?? b.id)) fail(`${at} (${st.value}) exchanges ${name(b)}, which is not allocated`);
    } else if (st.kind === 'copy') {
      const [from, to] = [buffer(st.from, at), buffer(st.to, at)];
      for (const b of [from, to])
        if (!live.has(b.parent ?? b.id)) fail(`${at} (${st.value}) copies ${name(b)}, which is not allocated`);
      if (from.bytes !== to.bytes || from.dtype !== to.dtype)
        fail(`${at} (${st.value}) copies ${name(from)} of ${typeOf(from)} into ${name(to)} of ${typeOf(to)}`);
      if ((from.tier === 'gpu') === (to.tier === 'gpu'))
        fail(`${at} (${st.value}) copies from the ${from.tier} tier to the ${to.tier} tier; one end must be the GPU`);
    } else {
      const k = kernels.get(st.kernel) ?? fail(`${at} launches kernel ${st.kernel}, which the plan does not declare`);
      if (st.bindings.length !== k.bindings)
        fail(`${at} binds ${st.bindings.length} buffers to kernel ${k.name}, which declares ${k.bindings}`);
      const bound = st.bindings.map((id) => buffer(id, at));
      for (const b of bound)
        if (!live.has(b.parent ?? b.id)) fail(`${at} (${st.value}) binds ${name(b)}, which is not allocated`);
      for (const b of bound) if (b.tier !== 'gpu') fail(`${at} (${st.value}) binds ${name(b)}, in the ${b.tier} tier`);
      const result = bound.at(-1)!;
      for (const b of bound.slice(0, -1))
        if (overlap(b, result)) fail(`${at} (${st.value}) writes ${name(result)} over its operand ${name(b)}`);
      for (const d of st.dispatch)
        if (d < 1 || d > MAX_WORKGROUPS)
          fail(`${at} dispatches ${st.dispatch.join(' × ')} workgroups; each is 1 to ${MAX_WORKGROUPS}`);
    }
  });
  for (const o of plan.outputs)
    if (!live.has(plan.buffers[o.buffer]!.parent ?? o.buffer))
      fail(`output ${o.name} is in ${name(plan.buffers[o.buffer]!)}, which is freed before the step ends`);
}

/** `f32[6,5]`-style types of a kernel's header: `// name: IR op op(T, …) -> T`, or a copy of n words. */
function kernelTypes(code: string): { operands: string[]; result: string } | { words: number } | undefined {
  const header = code.slice(0, code.indexOf('\n'));
  const copy = /^\/\/ copy_(\d+):/.exec(header);
  if (copy) return { words: Number(copy[1]) };
  const m = /: IR op [a-z_0-9]+\((.*)\) -> ([a-z0-9]+\[[0-9,]*\])/.exec(header);
  if (!m) return undefined;
  return { operands: m[1] ? m[1].split(/,\s(?=[a-z])/) : [], result: m[2]! };
}

const typeOf = (b: PlanBuffer) => `${b.dtype}[${b.shape.join(',')}]`;
/** A type as a kernel sees it: its dtype and element count (launches of one kernel may differ in shape, e.g. views). */
const flat = (t: string) => {
  const m = /^([a-z0-9]+)\[([0-9,]*)\]$/.exec(t);
  return m ? `${m[1]}×${(m[2] ? m[2].split(',') : []).reduce((a, d) => a * Number(d), 1)}` : t;
};

/**
 * Each launch against the kernel it runs: a kernel's header states the types it was generated for,
 * and the buffers bound must have their dtypes and element counts (a shrunk shape or a swapped dtype
 * would make it read past a binding or misread bits; shapes themselves may differ, as values whose
 * kernels are the same code share one). Operands that repeat share a binding, so the bound operands
 * are a subsequence of the header's.
 */
export function checkKernels(plan: Plan, source: (name: string) => string): void {
  const types = new Map(plan.kernels.map((k) => [k.name, kernelTypes(source(k.name))]));
  plan.steps.forEach((st, i) => {
    if (st.kind !== 'launch') return;
    const t = types.get(st.kernel);
    const bound = st.bindings.map((id) => plan.buffers[id]!);
    const at = `step ${i} (${st.value})`;
    if (!t) fail(`kernel ${st.kernel} does not say what it computes (its first line is not flexc's header)`);
    else if ('words' in t) {
      for (const b of bound)
        if (b.bytes !== t.words * 4) fail(`${at} copies ${t.words} words with ${name(b)} of ${b.bytes} bytes`);
    } else {
      if (flat(typeOf(bound.at(-1)!)) !== flat(t.result))
        fail(
          `${at}: kernel ${st.kernel} writes ${t.result}, bound to ${name(bound.at(-1)!)} of ${typeOf(bound.at(-1)!)}`,
        );
      let k = 0;
      for (const b of bound.slice(0, -1)) {
        while (k < t.operands.length && flat(t.operands[k]!) !== flat(typeOf(b))) k++;
        if (k++ >= t.operands.length)
          fail(`${at}: kernel ${st.kernel} reads ${t.operands.join(', ')}, bound to ${name(b)} of ${typeOf(b)}`);
      }
    }
  });
}
