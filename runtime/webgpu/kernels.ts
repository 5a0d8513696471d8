/** A WGSL kernel as the runtime sees it: its code, and how many storage buffers it binds (operands + result). */
export interface KernelSource {
  name: string;
  code: string;
  bindings: number;
}

export class KernelCompileError extends Error {}

export interface CompiledKernel {
  name: string;
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}

/** Compiles kernels; a WGSL error becomes an internal error naming the kernel and the line. */
export async function compileKernels(device: GPUDevice, kernels: KernelSource[]): Promise<Map<string, CompiledKernel>> {
  const out = new Map<string, CompiledKernel>();
  for (const k of kernels) {
    device.pushErrorScope('validation');
    const module = device.createShaderModule({ code: k.code, label: k.name });
    const info = await module.getCompilationInfo();
    const errors = info.messages.filter((m) => m.type === 'error');
    if (errors.length) {
      await device.popErrorScope();
      throw new KernelCompileError(
        `internal: WGSL kernel ${k.name} does not compile: ` +
          `${errors.map((e) => `${e.lineNum}:${e.linePos} ${e.message}`).join('; ')}`,
      );
    }
    // Every binding is declared, whether or not the shader reads it, so one layout serves all launches.
    const layout = device.createBindGroupLayout({
      label: k.name,
      entries: Array.from({ length: k.bindings }, (_, i) => ({
        binding: i,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: 'storage' as const },
      })),
    });
    const pipeline = device.createComputePipeline({
      label: k.name,
      layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: 'main' },
    });
    const err = await device.popErrorScope();
    if (err) throw new KernelCompileError(`internal: WGSL kernel ${k.name} is rejected by the device: ${err.message}`);
    out.set(k.name, { name: k.name, pipeline, layout });
  }
  return out;
}
