import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where Debian's chromium ships SwiftShader, a CPU Vulkan driver that Dawn runs on. */
const SWIFTSHADER_ICDS = [
  '/usr/lib/chromium/vk_swiftshader_icd.json',
  '/usr/lib/chromium-browser/vk_swiftshader_icd.json',
  '/opt/google/chrome/vk_swiftshader_icd.json',
];
const ICD_DIRS = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d'];

export function findSwiftShader(): string | undefined {
  return SWIFTSHADER_ICDS.find((p) => existsSync(p));
}

/** True when a Vulkan driver other than a CPU one is installed (a real GPU). */
function hasHardwareIcd(): boolean {
  for (const d of ICD_DIRS) {
    if (!existsSync(d)) continue;
    if (readdirSync(d).some((f) => f.endsWith('.json') && !/swiftshader|lvp|lavapipe/i.test(f))) return true;
  }
  return false;
}

/** Points Vulkan at SwiftShader when no GPU driver is installed and the user chose none. */
export function configureVulkanEnvironment(): { icd?: string } {
  if (!process.env['XDG_RUNTIME_DIR']) {
    const dir = join(tmpdir(), `flexc-xdg-${process.getuid?.() ?? 0}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    process.env['XDG_RUNTIME_DIR'] = dir;
  }
  if (process.env['VK_ICD_FILENAMES'] || process.env['VK_DRIVER_FILES'] || hasHardwareIcd()) return {};
  const icd = findSwiftShader();
  if (icd) process.env['VK_ICD_FILENAMES'] = icd;
  return icd ? { icd } : {};
}

export interface Gpu {
  device: GPUDevice;
  adapter: string;
  /** `cpu` for CPU Vulkan drivers (SwiftShader, llvmpipe) and fallback adapters, else `gpu`. */
  deviceClass: 'cpu' | 'gpu';
}

const CPU_DRIVERS = /swiftshader|llvmpipe|lavapipe|software|cpu/i;

/** dawn.node frees its instance when the JS object is collected, taking live devices with it: keep them reachable. */
const keepAlive: unknown[] = [];

export class NoGpuError extends Error {}

let globalsInstalled = false;

/** Opens a WebGPU device: `navigator.gpu` in a browser, Dawn (the `webgpu` package) in Node. */
export async function openGpu(): Promise<Gpu> {
  let gpu: GPU | undefined = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (!gpu) {
    configureVulkanEnvironment();
    const dawn = (await import('webgpu')) as unknown as {
      create(flags: string[]): GPU;
      globals: Record<string, unknown>;
    };
    if (!globalsInstalled) {
      Object.assign(globalThis, dawn.globals);
      globalsInstalled = true;
    }
    gpu = dawn.create(process.env['FLEXC_DAWN_FLAGS'] ? process.env['FLEXC_DAWN_FLAGS'].split(' ') : []);
    keepAlive.push(gpu);
  }
  const adapter = await gpu.requestAdapter();
  keepAlive.push(adapter);
  if (!adapter)
    throw new NoGpuError(
      'no WebGPU adapter: install a Vulkan driver, or SwiftShader (Debian: apt-get install chromium-common libvulkan1)',
    );
  const l = adapter.limits;
  const device = await adapter.requestDevice({
    requiredLimits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    },
  });
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const name = [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' ') || 'unknown adapter';
  const cpu = info?.isFallbackAdapter === true || CPU_DRIVERS.test(name);
  return { device, adapter: name, deviceClass: cpu ? 'cpu' : 'gpu' };
}
