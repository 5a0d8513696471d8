import { cCompiler, renderC, renderCHost } from './c.ts';
import { cudaCompiler, renderCuda, renderCudaHost } from './cuda.ts';
import type { Target } from './target.ts';
import { renderWgsl } from './wgsl.ts';

export type { DeviceLimits, Target } from './target.ts';

/** WebGPU's defaults, which every adapter supports. */
const WEBGPU_LIMITS = { maxBufferSize: 268_435_456, maxStorageBufferBindingSize: 134_217_728 };
/** Native memory: as much as 32-bit indices reach (kernels index tensors with u32). */
const NATIVE_LIMITS = { maxBufferSize: 2 ** 40, maxStorageBufferBindingSize: 2 ** 32 - 4 };

/** Every target, by name. Adding one: a renderer file, a session file (runtime/), and a line here. */
export const TARGETS: Readonly<Record<Target['name'], Target>> = {
  wgsl: {
    name: 'wgsl',
    description: 'WGSL compute shaders on WebGPU (Dawn; SwiftShader without a GPU)',
    deviceClasses: ['gpu', 'cpu'],
    cooperative: true,
    ext: 'wgsl',
    alignment: 256,
    limits: WEBGPU_LIMITS,
    dtypes: ['f32', 'i32'],
    render: renderWgsl,
  },
  c: {
    name: 'c',
    description: 'C with OpenMP, compiled by the system C compiler into a shared library',
    deviceClasses: ['cpu'],
    cooperative: false,
    ext: 'c',
    alignment: 256,
    limits: NATIVE_LIMITS,
    dtypes: ['f32', 'i32'],
    render: renderC,
    host: { render: renderCHost },
    compiler: cCompiler,
  },
  cuda: {
    name: 'cuda',
    description: 'CUDA C++ compiled by nvcc into a shared library',
    deviceClasses: ['gpu'],
    cooperative: true,
    ext: 'cu',
    alignment: 256,
    limits: NATIVE_LIMITS,
    dtypes: ['f32', 'i32'],
    render: renderCuda,
    host: { render: renderCudaHost },
    compiler: cudaCompiler,
  },
};

export const TARGET_NAMES = Object.keys(TARGETS) as Target['name'][];

export function targetOf(name: string): Target | undefined {
  return Object.hasOwn(TARGETS, name) ? TARGETS[name as Target['name']] : undefined;
}
