import { describe, expect, it } from 'vitest';
import { compile } from '../../compiler/compile.ts';
import { parseModule } from '../../compiler/ir/parser.ts';
import { printModule } from '../../compiler/ir/printer.ts';
import { verify } from '../../compiler/ir/verifier.ts';
import { gpuFloor, movableInputs, placeInputs } from '../../compiler/remat/place-inputs.ts';
import { moveAll } from '../../compiler/remat/auto-stages.ts';
import { deadCodeEliminate } from '../../compiler/ir/graph.ts';
import { planMemory } from '../../compiler/codegen/memory.ts';
import { runModule } from '../../compiler/interp/interpret.ts';

const ir = (body: string) =>
  parseModule(`module @m {
  %0 = input "x" : f32[4,8]
${body}
  output "y" = %2
}`);

describe('copies between tiers in the IR', () => {
  it('the verifier lets only copies cross tiers', () => {
    expect(verify(ir('  %1 = offload %0 {tier = "host"} : f32[4,8]\n  %2 = reload %1 : f32[4,8]'))).toEqual([]);
    expect(verify(ir('  %1 = offload %0 {tier = "host"} : f32[4,8]\n  %2 = relu %1 : f32[4,8]')).join()).toMatch(
      /relu reads a value in host memory or on the SSD; only reload does/,
    );
    expect(verify(ir('  %1 = relu %0 : f32[4,8]\n  %2 = reload %1 : f32[4,8]')).join()).toMatch(
      /reload reads a value that is already on the GPU/,
    );
    expect(verify(ir('  %1 = offload %0 {tier = "disk"} : f32[4,8]\n  %2 = reload %1 : f32[4,8]')).join()).toMatch(
      /offload tier must be one of host, ssd/,
    );
  });

  it('inputs kept in host memory: every reader reads its own reload; the module verifies and prints back', () => {
    const m = compile('examples/gcn-cora.flex', 'train').module!;
    const movable = movableInputs(m);
    expect(movable.map((v) => v.attrs['name'])).toContain('g.feat.indices');
    const placed = placeInputs(m, new Set(movable));
    expect(verify(placed)).toEqual([]);
    for (const v of placed.values)
      for (const x of v.inputs) if (x.op === 'input' && x.attrs['tier'] === 'host') expect(v.op).toBe('reload');
    const readers = m.values.reduce((a, v) => a + new Set(v.inputs.filter((x) => movable.includes(x))).size, 0);
    expect(placed.values.filter((v) => v.op === 'reload')).toHaveLength(readers);
    expect(printModule(parseModule(printModule(placed)))).toBe(printModule(placed));
    const before = planMemory(m);
    const after = planMemory(placed);
    expect(after.tiers.host.arenaBytes).toBeGreaterThan(0);
    expect(after.arenaBytes).toBeLessThan(before.arenaBytes);
  });
});

describe('parts: a leaf read and written by rows, an output assembled from row blocks', () => {
  const step = (outputs: string, updates = '') =>
    parseModule(`module @m {
  %0 = param "w" {init = "zeros"} : f32[4,2]
  %1 = offload %0 {tier = "host"} : f32[4,2]
  %2 = reload %1 {rows = [0, 3]} : f32[3,2]
  %3 = reload %1 {rows = [3, 4]} : f32[1,2]
  %4 = relu %2 : f32[3,2]
  %5 = relu %3 : f32[1,2]
${outputs}
${updates}
}`);

  it('prints and parses back; parts that tile their whole verify', () => {
    const m = step('  output "y"[0:3] = %4\n  output "y"[3:4] = %5', '  update "w"[0:3] = %4\n  update "w"[3:4] = %5');
    expect(verify(m)).toEqual([]);
    expect(printModule(m)).toContain('output "y"[3:4] = %5');
    expect(printModule(parseModule(printModule(m)))).toBe(printModule(m));
  });

  it('the verifier names parts that leave a gap, overlap, do not cover their leaf, or mix with a whole value', () => {
    expect(verify(step('  output "y"[0:3] = %4\n  output "y"[4:5] = %5'))).toEqual([
      'output "y": part [4:5] does not start where the one before ends (3)',
    ]);
    expect(verify(step('  output "y"[0:3] = %4\n  output "y"[3:5] = %5'))).toEqual([
      'output "y": part [3:5] is f32[1,2], not 2 rows of f32[2]',
    ]);
    expect(verify(step('  output "y"[0:3] = %4\n  output "y" = %5'))).toEqual(['output "y" is declared twice']);
    expect(verify(step('  output "y" = %4', '  update "w"[0:3] = %4'))).toEqual([
      'update "w": its parts cover 3 of 4 rows',
    ]);
  });

  it('a reload of rows outside its value is a shape error', () => {
    expect(() =>
      parseModule(
        'module @m {\n  %0 = input "x" {tier = "host"} : f32[4,2]\n  %1 = reload %0 {rows = [2, 5]} : f32[3,2]\n}',
      ),
    ).not.toThrow();
    const m = parseModule(
      'module @m {\n  %0 = input "x" {tier = "host"} : f32[4,2]\n  %1 = reload %0 {rows = [2, 5]} : f32[3,2]\n' +
        '  output "y" = %1\n}',
    );
    expect(verify(m).join()).toMatch(/reload rows \[2,5\] are not a range of the 4 rows of its value/);
  });

  it('the interpreter reads the rows, assembles the output and writes each part into its rows of the leaf', () => {
    const m = step('  output "y"[0:3] = %4\n  output "y"[3:4] = %5', '  update "w"[0:3] = %4\n  update "w"[3:4] = %5');
    const w = { data: Float32Array.from([1, -2, 3, -4, 5, -6, 7, -8]), shape: [4, 2] };
    const params = new Map([['w', w]]);
    const r = runModule(m, new Map(), params);
    const relu = [1, 0, 3, 0, 5, 0, 7, 0];
    expect(Array.from(r.outputs.get('y')!.data)).toEqual(relu);
    expect(r.outputs.get('y')!.shape).toEqual([4, 2]);
    expect(Array.from(params.get('w')!.data)).toEqual(relu);
  });
});

describe('gpuFloor: a floor under any schedule of a step', () => {
  it('the GPU leaves and the op that needs most: at most what any placement of the step measures', () => {
    const m = compile('examples/gat-cora.flex', 'train').module!;
    const placed = placeInputs(m, new Set(movableInputs(m)));
    const floor = gpuFloor(placed);
    expect(floor).toBeGreaterThan(0);
    expect(floor).toBeLessThanOrEqual(planMemory(placed).arenaBytes);
    // every activation moved to host memory: the arena comes down towards the floor, never below it
    const loss = placed.outputs.find((o) => o.name === 'loss')!.value;
    const moved = moveAll(placed, loss, 'host', (r) => planMemory(deadCodeEliminate(r.module)).arenaBytes);
    expect(moved).toBeLessThan(planMemory(placed).arenaBytes);
    expect(moved).toBeGreaterThanOrEqual(floor);
  });
});
