import type { DeviceClass } from '../kernel/lower/common.ts';
import type { Kernel } from '../kernel/ir.ts';
import type { Plan } from '../../runtime/plan.ts';

/** The device limits a plan must respect. */
export interface DeviceLimits {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
}

/** What a target renders and how a plan for it is compiled: each target is a renderer, a session and this record. */
export interface Target {
  name: Plan['target'];
  /** What runs the kernels, for help text and errors. */
  description: string;
  /** The kernel variants it runs, its default first (a C kernel's invocations cannot wait for each other). */
  deviceClasses: readonly DeviceClass[];
  /** Whether a workgroup's invocations run together (barriers between them), whatever the device class. */
  cooperative: boolean;
  /** Kernel files are kernels/<name>.<ext>. */
  ext: string;
  /** Byte alignment of every tensor in the arena. */
  alignment: number;
  /** The limits a plan is built for unless the device's own are given. */
  limits: DeviceLimits;
  /** Element types of tensors the kernels read and write. */
  dtypes: readonly ('f32' | 'i32')[];
  render(k: Kernel): string;
  /** The host library's source (targets compiled to a shared library): the step's launches, over the C ABI. */
  host?: { render(plan: Plan, kernels: Map<string, Kernel>): string };
  /** The command that compiles the host library `host` (in the build directory) into the shared library `out`. */
  compiler?: (host: string, out: string, opts: CompileOptions) => Command;
}

export interface CompileOptions {
  /** GPU architectures to compile CUDA for, e.g. ['sm_90']. */
  arch?: string[];
}

export interface Command {
  exe: string;
  args: string[];
  /** What to install when the program is missing. */
  hint: string;
}
