// Runs before `npm test`: installs what the tests need on a fresh machine.
// 1. the locked npm dependencies (npm ci) when node_modules is missing;
// 2. for the native target, a C compiler with OpenMP and a BLAS (gcc, libopenblas-dev; apt-get, as root);
// 3. a Vulkan driver for WebGPU: with no GPU driver installed, SwiftShader (a CPU Vulkan driver that
//    Debian ships in chromium-common) and the Vulkan loader, through apt-get when running as root.
import { execSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

if (!existsSync('node_modules/.package-lock.json') || !existsSync('node_modules/vitest')) {
  console.log('flexc: installing dependencies (npm ci)…');
  execSync('npm ci --no-audit --no-fund', { stdio: 'inherit' });
}

const onPath = (exe) => (process.env.PATH ?? '').split(':').some((d) => d && existsSync(`${d}/${exe}`));
const hasCblas = () =>
  ['/usr/include/cblas.h', '/usr/include/x86_64-linux-gnu/cblas.h', '/usr/include/aarch64-linux-gnu/cblas.h'].some(
    existsSync,
  );
const native = [
  ...(onPath(process.env.CC || 'cc') ? [] : ['gcc', 'libc6-dev']),
  ...(hasCblas() ? [] : ['libopenblas-dev']),
];
if (native.length) {
  if (process.getuid?.() === 0 && existsSync('/usr/bin/apt-get')) {
    console.log(`flexc: installing for the native target: apt-get install ${native.join(' ')}…`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execSync('apt-get update -qq', { stdio: 'inherit', env });
    execSync(`apt-get install -y -qq --no-install-recommends ${native.join(' ')}`, { stdio: 'inherit', env });
  } else
    console.warn(
      `flexc: missing for the native target: ${native.join(', ')}; its tests will fail or be skipped. ` +
        `On Debian: sudo apt-get install ${native.join(' ')}`,
    );
}

const SWIFTSHADER = ['/usr/lib/chromium/vk_swiftshader_icd.json', '/usr/lib/chromium-browser/vk_swiftshader_icd.json'];
const hasLoader = () =>
  [
    '/usr/lib/x86_64-linux-gnu/libvulkan.so.1',
    '/usr/lib/aarch64-linux-gnu/libvulkan.so.1',
    '/usr/lib/libvulkan.so.1',
  ].some(existsSync);
const hasGpuIcd = () =>
  ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d'].some(
    (d) => existsSync(d) && readdirSync(d).some((f) => f.endsWith('.json') && !/swiftshader|lvp/i.test(f)),
  );

if (!hasLoader() || !(hasGpuIcd() || SWIFTSHADER.some(existsSync))) {
  const root = process.getuid?.() === 0;
  if (root && existsSync('/usr/bin/apt-get')) {
    console.log(
      'flexc: installing the Vulkan loader and SwiftShader for WebGPU (apt-get install libvulkan1 chromium-common)…',
    );
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execSync('apt-get update -qq', { stdio: 'inherit', env });
    execSync('apt-get install -y -qq --no-install-recommends libvulkan1 chromium-common', { stdio: 'inherit', env });
  } else {
    console.warn(
      'flexc: no Vulkan driver found and cannot install one (needs root and apt-get); the WebGPU tests will fail.',
    );
    console.warn('       On Debian: sudo apt-get install libvulkan1 chromium-common');
  }
}
