import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { BuildOptions } from './build.ts';
import { checkCommand } from './check.ts';
import { explainCommand } from './explain.ts';
import { fmtCommand, type FmtOptions } from './fmt.ts';
import { irCommand, PRINTABLE } from './ir.ts';
import { planCommand } from './plan.ts';
import { runCommand, type RunOptions } from './run.ts';
import { EXIT } from './exit.ts';

const int = (what: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${what} must be a positive whole number`);
  return n;
};

const seconds = (what: string) => (v: string) => {
  const n = Number(v);
  if (!(n > 0 && n <= 86_400)) throw new InvalidArgumentError(`${what} takes seconds, more than 0 and at most 86400`);
  return n;
};

const UNITS: Record<string, number> = {
  '': 1,
  B: 1,
  KiB: 2 ** 10,
  MiB: 2 ** 20,
  GiB: 2 ** 30,
  TiB: 2 ** 40,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
};
const bytes = (what: string) => (v: string) => {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*$/.exec(v);
  const n = m && m[2] !== undefined && !(m[2] in UNITS) ? NaN : m ? Number(m[1]) * UNITS[m[2] ?? '']! : NaN;
  if (!Number.isFinite(n) || n < 1)
    throw new InvalidArgumentError(`${what} takes a size such as 268435456, 256MiB or 4GiB`);
  return Math.floor(n);
};

const program = new Command('flexc')
  .description('Compile .flex plans for training and serving models on hardware with too little memory.')
  .version('0.1.0')
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

program
  .command('check')
  .description('parse and check files; print every problem found')
  .argument('<files...>', '.flex files')
  .option('--json', 'print {"diagnostics": [...]} on stdout')
  .addHelpText('after', '\nExamples:\n  flexc check examples/gpt.flex\n  flexc check --json examples/*.flex')
  .action((files: string[], o: { json?: boolean }) => checkCommand(files, o));

program
  .command('build')
  .description(
    'compile a plan to OUT/<plan>/: plan.json, kernels/*, driver.ts, report.txt, and for c and cuda the host ' +
      'library compiled into libplan.so',
  )
  .argument('<file>', '.flex file')
  .option('--plan <name>', 'the plan to build')
  .option('-o, --out <dir>', 'output folder', 'build')
  .addOption(
    new Option(
      '--target <target>',
      "kernel language (default: the plan's `target`, else wgsl): wgsl (WebGPU), c (native CPU, OpenMP), cuda",
    ).choices(['wgsl', 'c', 'cuda']),
  )
  .addOption(
    new Option(
      '--device-class <class>',
      "kernel variants: gpu (workgroup tiling) or cpu (CPU drivers such as SwiftShader, and C); the target's default",
    ).choices(['gpu', 'cpu']),
  )
  .option('--no-compile', 'c and cuda: write the host library and kernels without compiling them')
  .option('--arch <list>', 'cuda: GPU architectures to compile for, e.g. sm_80,sm_90 (default sm_90)')
  .option('--json', 'print {"dir", "files", "kernels", "arena_bytes", …} on stdout (or {"diagnostics": […]})')
  .addOption(
    new Option(
      '--emit <lang>',
      'the driver: ts (driver.ts, ESM) or js (driver.js, CommonJS that ESM apps import too, with driver.d.ts)',
    )
      .choices(['ts', 'js'])
      .default('ts'),
  )
  .option(
    '--max-buffer-size <size>',
    "the device's largest buffer (bytes, or with KiB/MiB/GiB); WebGPU default 256 MiB",
    bytes('--max-buffer-size'),
  )
  .option(
    '--max-binding-size <size>',
    'the most one binding may span (bytes, or with KiB/MiB/GiB); WebGPU default 128 MiB',
    bytes('--max-binding-size'),
  )
  .addHelpText(
    'after',
    '\nExamples:\n  flexc build examples/mlp.flex --plan small -o build\n  flexc build examples/gcn-cora.flex ' +
      '--device-class cpu\n  flexc build examples/mlp.flex --plan small --target c\n  flexc build ' +
      'examples/gpt.flex --plan tiny --target cuda --arch sm_80,sm_90\n  flexc build examples/gpt.flex --plan ' +
      'gpt2_small --max-buffer-size 64GiB --max-binding-size 4GiB',
  )
  // imported when used: driver generation loads ts-morph (the TypeScript compiler), half a second
  .action(async (file: string, o: BuildOptions) => void (await import('./build.ts')).buildCommand(file, o));

program
  .command('plan')
  .description('per plan: memory per tier, step time by op class, throughput, MFU and the bottleneck')
  .argument('<files...>', '.flex files')
  .option('--plan <name>', 'one plan of each file (default: every plan)')
  .option('--json', 'print {"files", "plans": [...]} on stdout (each plan names its file)')
  .option('--svg <file>', 'draw GPU memory over the step into FILE, one panel per plan')
  .option(
    '--compare',
    'one table of every plan: throughput, latency, memory per GPU, bottleneck, blast radius (--svg draws it)',
  )
  .addHelpText(
    'after',
    '\nExamples:\n  flexc plan examples/gpt.flex\n  flexc plan examples/gpt.flex ' +
      '--plan gpt2_small --json\n  flexc plan examples/llama2-*.flex --svg memory.svg\n' +
      '  flexc plan examples/lite-gpu.flex --compare',
  )
  .action((files: string[], o: { plan?: string; json?: boolean; svg?: string; compare?: boolean }) =>
    planCommand(files, o),
  );

program
  .command('ir')
  .description('print the IR of a plan after lowering and the pass pipeline')
  .argument('<file>', '.flex file')
  .option('--plan <name>', 'the plan to compile (needed when the file has several)')
  .option(
    '--print-after <pass>',
    `print the IR after a pass (or \`all\`): ${PRINTABLE.filter((p) => p !== 'all').join(', ')}`,
  )
  .option('--time-passes', 'print the time each pass took on stderr')
  .addHelpText(
    'after',
    '\nExamples:\n  flexc ir examples/mlp.flex --plan small\n  flexc ir ' +
      'examples/gpt.flex --plan tiny --print-after autodiff --time-passes',
  )
  .action((file: string, o: { plan?: string; printAfter?: string; timePasses?: boolean }) => irCommand(file, o));

program
  .command('run')
  .description('train or run a plan and print the loss per step')
  .argument('<file>', '.flex file')
  .option('--plan <name>', 'the plan to run')
  .option(
    '--backend <backend>',
    'cpu (the reference interpreter), webgpu (Dawn in Node; SwiftShader without a GPU), native (C kernels ' +
      'compiled for this CPU) or cuda (CUDA kernels compiled by nvcc, on an NVIDIA GPU)',
    'cpu',
  )
  .option('--steps <n>', 'training steps (default: the plan’s `steps`)', int('--steps'))
  .option('--json', 'print {"metrics": {...}, "losses": [...]} on stdout at the end')
  .option('--sample <n>', 'after training on text, generate n characters', int('--sample'))
  .option(
    '--poison',
    'debug the memory plan: run the built plan in its arena with freed ranges poisoned (NaN) and fail a step ' +
      "that reads one (cpu: the ops' references over the arena; webgpu: on the device; also FLEXC_POISON=1 for webgpu)",
  )
  .option(
    '--time-limit <seconds>',
    'webgpu: fail a step the device has not finished after this many seconds (FLX7008; default 60)',
    seconds('--time-limit'),
  )
  .addHelpText(
    'after',
    '\nExamples:\n  flexc run examples/mlp.flex --plan train --steps ' +
      '20\n  flexc run examples/gcn-cora.flex --backend webgpu --json\n' +
      '  flexc run examples/gpt.flex --plan tiny --poison',
  )
  .action(async (file: string, o: RunOptions) => runCommand(file, o));

program
  .command('fmt')
  .description('rewrite files in the canonical layout (comments kept); files that do not parse are left as they are')
  .argument('[files...]', '.flex files')
  .option('--check', 'change nothing; list the files that are not formatted and exit 1 if there are any')
  .option('--stdin', 'format standard input to standard output')
  .addHelpText(
    'after',
    '\nExamples:\n  flexc fmt examples/*.flex stdlib/*.flex\n  flexc ' +
      'fmt --check examples/*.flex\n  flexc fmt --stdin < model.flex',
  )
  .action((files: string[], o: FmtOptions) => fmtCommand(files, o));

program
  .command('explain')
  .description('explain a diagnostic code: what it means, why, and an example; without a code, list them all')
  .argument('[code]', 'a code such as FLX3001 (or 3001)')
  .addHelpText('after', '\nExamples:\n  flexc explain FLX3014\n  flexc explain')
  .action((code: string | undefined) => explainCommand(code));

const hw = program.command('hw').description('the hardware flexc runs on');
hw.command('probe')
  .description(
    'measure this machine (device fp32 throughput through flexc kernels, host memory and bandwidth, the spill ' +
      "directory's disk, the device-host link) and write a hardware description plans can use with `on: Probed`",
  )
  .addOption(
    new Option('--backend <backend>', 'the device to measure: native (C) or webgpu')
      .choices(['native', 'webgpu'])
      .default('native'),
  )
  .option('-o, --out <file>', 'write the description to FILE (.flex), atomically; else print it')
  .option('--dir <folder>', "the spill directory whose disk is measured (default: the system's temporary folder)")
  .option('--json', 'print the measured figures as JSON')
  .option('--quick', 'small sizes: a few seconds, less steady figures')
  .addHelpText('after', '\nExamples:\n  flexc hw probe -o probed.flex\n  flexc hw probe --backend webgpu --json')
  .action(async (o: import('./probe.ts').ProbeOptions) => (await import('./probe.ts')).probeCommand(o));

program
  .command('lsp')
  .description(
    'run the language server (diagnostics, hover, definitions, references, completion, outline, folding, formatting)',
  )
  .option('--stdio', 'speak JSON-RPC over standard input and output (the only transport)')
  .option(
    '--time-limit <seconds>',
    'stop an analysis that runs longer than this (FLX1010)',
    seconds('--time-limit'),
    60,
  )
  .addHelpText('after', '\nEditors start it; see docs/editors.md for VS Code, Neovim and Helix.')
  .action(async (o: { timeLimit: number }) => {
    const { startServer } = await import('../lsp/server.ts');
    const { DEFAULT_LIMITS } = await import('../lsp/analyzer-client.ts');
    startServer(undefined, { ...DEFAULT_LIMITS, giveUpAfter: o.timeLimit * 1000 });
  });

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) process.exit(e.exitCode === 0 ? 0 : EXIT.usage);
  const msg = e instanceof Error ? e.message : String(e);
  process.stderr.write(`internal error: ${msg}\n(this is a bug in flexc; please report it with the input file)\n`);
  if (process.env['FLEXC_DEBUG'] && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  process.exit(EXIT.internal);
}
