import type { Kernel } from './kernel.ts';
import { linear, WG } from './kernel.ts';

/** Copies n 32-bit words between two tensors of the arena (end-of-step parameter and state updates). */
export function copyKernel(n: number): Kernel {
  const { dispatch, index } = linear(n);
  const name = `copy_${n}`;
  const code = `// ${name}: writes an updated parameter or optimizer state back over the old one
@group(0) @binding(0) var<storage, read_write> a0: array<u32>;
@group(0) @binding(1) var<storage, read_write> res: array<u32>;

@compute @workgroup_size(${WG}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${index}
  res[i] = a0[i];
}
`;
  return { name, code, dispatch };
}
