import { describe, expect, it } from 'vitest';
import { compile } from '../../compiler/compile.ts';
import { parseModule } from '../../compiler/ir/parser.ts';
import { printModule } from '../../compiler/ir/printer.ts';
import { verify } from '../../compiler/ir/verifier.ts';
import { movableInputs, placeInputs } from '../../compiler/remat/place-inputs.ts';
import { planMemory } from '../../compiler/codegen/memory.ts';

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
