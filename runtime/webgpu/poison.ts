import { POISON_BITS } from '../poison.ts';
import type { Gpu } from './device.ts';
const WG = 64;
const MAX_GROUPS = 65535;

const FILL = `@group(0) @binding(0) var<storage, read_write> res: array<u32>;

@compute @workgroup_size(${WG}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = gid.x + gid.y * groups.x * ${WG}u;
  if (i >= arrayLength(&res)) { return; }
  res[i] = ${POISON_BITS}u;
}
`;

/** Fills arena ranges with POISON_BITS (the debug mode that checks a plan's liveness on the device). */
export class Poisoner {
  private constructor(
    private readonly gpu: Gpu,
    private readonly pipeline: GPUComputePipeline,
  ) {}

  static create(gpu: Gpu): Poisoner {
    const { device } = gpu;
    const module = device.createShaderModule({ code: FILL, label: 'poison' });
    const pipeline = device.createComputePipeline({
      label: 'poison',
      layout: 'auto',
      compute: { module, entryPoint: 'main' },
    });
    return new Poisoner(gpu, pipeline);
  }

  /** A fill of bytes [offset, offset + bytes) of `arena`, to record in a compute pass. */
  fill(arena: GPUBuffer, offset: number, bytes: number): (pass: GPUComputePassEncoder) => void {
    const group = this.gpu.device.createBindGroup({
      layout: this.pipeline.getBindGroupLayout(0),
      entries: [{ binding: 0, resource: { buffer: arena, offset, size: bytes } }],
    });
    const groups = Math.max(1, Math.ceil(bytes / 4 / WG));
    const x = Math.min(groups, MAX_GROUPS);
    return (pass) => {
      pass.setPipeline(this.pipeline);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(x, Math.ceil(groups / x), 1);
    };
  }
}
