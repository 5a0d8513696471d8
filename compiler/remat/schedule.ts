/**
 * A checkpointing schedule for a chain of stages 0…n-1, as a tree over half-open stage ranges
 * [a, b) whose input (the boundary before stage a) is available:
 * - `single`: reverse stage a alone (materialize its internals from its input, run its backward);
 * - `split`: advance through stages a…at-1 keeping only the boundary before stage `at`, reverse
 *   [at, b) (`right`), drop that boundary, then reverse [a, at) (`left`);
 * - `keep`: materialize stage a and keep its internals while reversing [a+1, b) (`rest`), then
 *   run stage a's backward.
 * On the first forward sweep (the original forward pass) the rightmost path is computed anyway.
 * A `split` with `drop` advances to stage `at`, keeps its internals and drops the boundary before
 * it at once (`right` is a `keep` or `single` of stage `at`; its backward does not read its input).
 */
export type Schedule =
  | { kind: 'single'; stage: number }
  | { kind: 'split'; at: number; right: Schedule; left: Schedule; drop?: boolean }
  | { kind: 'keep'; stage: number; rest: Schedule };

export type Action =
  | { op: 'advance'; from: number; to: number }
  | { op: 'store'; boundary: number }
  | { op: 'free'; boundary: number }
  | { op: 'forward'; stage: number; keep: boolean }
  | { op: 'backward'; stage: number };

/**
 * The schedule as actions in execution order: `advance` runs stages from…to-1 keeping only its
 * result, `store`/`free` a boundary (boundary k is the input of stage k), `forward` a stage with
 * its internals kept, `backward` a stage.
 */
export function actions(s: Schedule, a: number, b: number): Action[] {
  const out: Action[] = [];
  // a worklist, last first: ranges to walk and actions to emit after them (a schedule nests as deep as the chain)
  const todo: (Action | { walk: Schedule; a: number; b: number })[] = [{ walk: s, a, b }];
  while (todo.length) {
    const t = todo.pop()!;
    if (!('walk' in t)) {
      out.push(t);
      continue;
    }
    const { walk: s, a, b } = t;
    if (s.kind === 'single') {
      out.push({ op: 'forward', stage: a, keep: true }, { op: 'backward', stage: a });
    } else if (s.kind === 'keep') {
      out.push({ op: 'forward', stage: a, keep: true });
      todo.push({ op: 'backward', stage: a }, { walk: s.rest, a: a + 1, b });
    } else if (s.drop) {
      out.push(
        { op: 'advance', from: a, to: s.at },
        { op: 'store', boundary: s.at },
        { op: 'forward', stage: s.at, keep: true },
        { op: 'free', boundary: s.at },
      );
      todo.push({ walk: s.left, a, b: s.at }, { op: 'backward', stage: s.at });
      if (s.right.kind === 'keep') todo.push({ walk: s.right.rest, a: s.at + 1, b });
    } else {
      out.push({ op: 'advance', from: a, to: s.at }, { op: 'store', boundary: s.at });
      todo.push({ walk: s.left, a, b: s.at }, { op: 'free', boundary: s.at }, { walk: s.right, a: s.at, b });
    }
  }
  return out;
}

/**
 * Stages whose forward runs again after the original forward pass, counted with multiplicity (advances and
 * materializations off the first sweep).
 */
export function recomputedStages(s: Schedule, n: number): number[] {
  const counts = new Array<number>(n).fill(0);
  const todo: [Schedule, number, boolean][] = [[s, 0, true]];
  while (todo.length) {
    const [s, a, orig] = todo.pop()!;
    if (s.kind === 'single') {
      if (!orig) counts[a]!++;
    } else if (s.kind === 'keep') {
      if (!orig) counts[a]!++;
      todo.push([s.rest, a + 1, orig]);
    } else {
      if (!orig) for (let k = a; k < s.at; k++) counts[k]!++;
      todo.push([s.right, s.at, orig], [s.left, a, false]);
    }
  }
  return counts;
}

/**
 * Steps and slots of a schedule in Griewank's counting model: forward steps advanced, and the most
 * slots held at once (the input's included; a state reversed at once stays in the working register).
 */
export function griewankCount(s: Schedule, l: number): { steps: number; slots: number; reversed: number[] } {
  let steps = 0;
  let held = 1;
  let slots = 1;
  const reversed: number[] = [];
  const acts = actions(s, 0, l);
  const working = new Set<number>();
  acts.forEach((a, i) => {
    if (a.op === 'advance') steps += a.to - a.from;
    else if (a.op === 'store') {
      const next = acts[i + 2];
      if (next?.op === 'backward' && next.stage === a.boundary) working.add(a.boundary);
      else slots = Math.max(slots, ++held);
    } else if (a.op === 'free') {
      if (!working.delete(a.boundary)) held--;
    } else if (a.op === 'backward') reversed.push(a.stage);
  });
  return { steps, slots, reversed };
}
