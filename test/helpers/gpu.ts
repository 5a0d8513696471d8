import { lowerValue } from '../../compiler/kernel/lower/index.ts';
import type { DeviceClass } from '../../compiler/kernel/lower/common.ts';
import { bindingsOf } from '../../compiler/codegen/bindings.ts';
import { renderWgsl } from '../../compiler/targets/wgsl.ts';
import type { Value } from '../../compiler/ir/graph.ts';
import type { NDArray } from '../../compiler/ir/op.ts';
import { openGpu, type Gpu } from '../../runtime/webgpu/device.ts';
import { compileKernels, type CompiledKernel } from '../../runtime/webgpu/kernels.ts';

let gpu: Promise<Gpu> | undefined;
export const sharedGpu = () => (gpu ??= openGpu());

const cache = new Map<string, CompiledKernel>();

const bytes = (n: number) => Math.max(4, Math.ceil((n * 4) / 4) * 4);

/**
 * Runs the WGSL kernel of one value (for a class of device) on its operands' arrays (one per operand, repeats
 * included) and reads its result back.
 */
export async function runOnGpu(
  v: Value,
  operandArrays: NDArray[],
  cls: DeviceClass,
): Promise<Float32Array | Int32Array> {
  const { device } = await sharedGpu();
  const k = lowerValue(v, cls);
  if (!cache.has(k.name))
    for (const [n, c] of await compileKernels(device, [
      { name: k.name, code: renderWgsl(k), bindings: k.buffers.length },
    ]))
      cache.set(n, c);
  const ck = cache.get(k.name)!;
  const inputs = bindingsOf(v).operands.map((x) => operandArrays[v.inputs.indexOf(x)]!);
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const bufs = inputs.map((x) => {
    const b = device.createBuffer({ size: bytes(x.data.length), usage });
    const data = x.data instanceof Int32Array ? new Int32Array(x.data) : Float32Array.from(x.data);
    if (data.length) device.queue.writeBuffer(b, 0, data);
    return b;
  });
  const n = (v.type.shape as number[]).reduce((a, d) => a * d, 1);
  const out = device.createBuffer({ size: bytes(n), usage });
  const read = device.createBuffer({ size: bytes(n), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(ck.pipeline);
  pass.setBindGroup(
    0,
    device.createBindGroup({
      layout: ck.layout,
      entries: [...bufs, out].map((buffer, binding) => ({ binding, resource: { buffer } })),
    }),
  );
  pass.dispatchWorkgroups(...k.dispatch);
  pass.end();
  enc.copyBufferToBuffer(out, 0, read, 0, bytes(n));
  device.queue.submit([enc.finish()]);
  await read.mapAsync(GPUMapMode.READ);
  const result =
    v.type.dtype === 'i32'
      ? new Int32Array(read.getMappedRange().slice(0, n * 4))
      : new Float32Array(read.getMappedRange().slice(0, n * 4));
  read.unmap();
  for (const b of [...bufs, out, read]) b.destroy();
  return result;
}
