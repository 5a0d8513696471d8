import { ModuleKind, Project, ScriptTarget, type SourceFile } from 'ts-morph';
import type { Plan } from '../../runtime/plan.ts';

/** What a build's driver is written as: TypeScript (ESM), or CommonJS JavaScript with a `.d.ts`. */
export type DriverEmit = 'ts' | 'js';

/** The module generated drivers import the runtime from (the package's `exports`). */
export const RUNTIME_MODULE = 'flexc/runtime';

const pascal = (s: string) =>
  s
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('');
const prop = (name: string) => (/^[A-Za-z_$][\w$]*$/.test(name) ? name : `'${name}'`);

/**
 * The driver's name for a plan of a source file: an identifier whatever the file is called (`2-layer-mlp.flex` →
 * `Flex2LayerMlp…`).
 */
export function driverName(source: string, plan: string): string {
  const name = pascal(source.replace(/^.*[\\/]/, '').replace(/\.flex$/, '')) + pascal(plan);
  return /^[A-Za-z]/.test(name) ? name : `Flex${name}`;
}

const typeOf = (plan: Plan, id: number) => (plan.buffers[id]!.dtype === 'i32' ? 'Int32Array' : 'Float32Array');
const doc = (plan: Plan, id: number) => {
  const b = plan.buffers[id]!;
  return `${b.dtype}[${b.shape.join(', ')}]`;
};

/**
 * The inputs the caller gives, and which are optional: an input that some output does not need
 * (a model's labels, which only the loss reads) may be left out, and the outputs that need it
 * are then not returned.
 */
function callerInputs(plan: Plan): { name: string; buffer: number; optional: boolean; neededBy: string[] }[] {
  return plan.inputs
    .filter((i) => i.feed.kind === 'synthetic')
    .map((i) => {
      const neededBy = plan.outputs.filter((o) => o.inputs.includes(i.name)).map((o) => o.name);
      return { name: i.name, buffer: i.buffer, optional: neededBy.length < plan.outputs.length, neededBy };
    });
}

const names = (ns: string[]) => ns.map((n) => `\`${n}\``).join(', ');

/** `<prefix>Inputs` and `<prefix>Outputs` of one plan. */
function addIo(sf: SourceFile, plan: Plan, prefix: string, what: string, partial: boolean): void {
  const given = callerInputs(plan);
  const optional = new Set(partial ? given.filter((i) => i.optional).map((i) => i.name) : []);
  sf.addInterface({
    name: `${prefix}Inputs`,
    isExported: true,
    docs: [
      `Inputs of ${what} that the caller provides (graph data, ` +
        `text batches and the step counter are fed by the runtime).`,
    ],
    properties: given.map((i) => ({
      name: prop(i.name),
      type: typeOf(plan, i.buffer),
      hasQuestionToken: optional.has(i.name),
      docs: [`${doc(plan, i.buffer)}${optional.has(i.name) ? `; needed only for ${names(i.neededBy)}` : ''}`],
    })),
  });
  sf.addInterface({
    name: `${prefix}Outputs`,
    isExported: true,
    docs: [`Outputs of ${what}; scalars are numbers.`],
    properties: plan.outputs.map((o) => {
      const needs = o.inputs.filter((n) => optional.has(n));
      return {
        name: prop(o.name),
        type: plan.buffers[o.buffer]!.shape.length ? typeOf(plan, o.buffer) : 'number',
        hasQuestionToken: needs.length > 0,
        docs: [`${doc(plan, o.buffer)}${needs.length ? `; present when ${names(needs)} given` : ''}`],
      };
    }),
  });
}

const DEVICE_DOC = `For a WGSL build, \`gpu\` is a WebGPU device from \`openGpu()\` (\`${RUNTIME_MODULE}\`): in Node it
opens Dawn (the \`webgpu\` package) on the machine's Vulkan driver, or SwiftShader (a CPU Vulkan driver) when
there is no GPU; in a browser it uses \`navigator.gpu\`; left out, \`openGpu()\` is called. Builds for \`c\`
and \`cuda\` run their compiled library (libplan.so beside this file) and need no device.`;

/**
 * Generates a build's driver: typed inputs, outputs and parameters (shapes and dtypes in their
 * docs), and `create<Name>(gpu)` returning `trainStep` (train plans), `forward`, `loadParameters`
 * and `saveParameters`. A train build carries its evaluation plan (no backward pass, dropout off)
 * in `forward.json`; `forward` runs it on the current parameters, in its own arena made on first
 * use, and needs only the inputs of the outputs wanted (no labels for predictions). `emit: 'ts'`
 * writes driver.ts (ESM); `'js'` writes driver.js (CommonJS, which ESM apps import too) and driver.d.ts.
 */
export function generateDriver(
  plan: Plan,
  opts: { source: string; forward?: Plan; emit?: DriverEmit },
): { name: string; files: [string, string][] } {
  const emit = opts.emit ?? 'ts';
  const name = driverName(opts.source, plan.name);
  const train = opts.forward !== undefined;
  const fwd = opts.forward ?? plan;
  const project = new Project({
    useInMemoryFileSystem: true,
    compilerOptions: {
      module: ModuleKind.CommonJS,
      target: ScriptTarget.ES2022,
      declaration: true,
      strict: true,
    },
  });
  const sf = project.createSourceFile('driver.ts', '');
  if (emit === 'ts') sf.addImportDeclaration({ moduleSpecifier: 'node:url', namedImports: ['fileURLToPath'] });
  sf.addImportDeclaration({ moduleSpecifier: RUNTIME_MODULE, namedImports: ['loadBuild', 'openGpu', 'openSession'] });
  sf.addImportDeclaration({ moduleSpecifier: RUNTIME_MODULE, namedImports: ['Gpu', 'Session'], isTypeOnly: true });
  if (train) addIo(sf, plan, `${name}Train`, `a training step of plan \`${plan.name}\``, false);
  addIo(
    sf,
    fwd,
    `${name}Forward`,
    `a forward pass of plan \`${plan.name}\`${train ? ' (evaluation: dropout off)' : ''}`,
    true,
  );
  sf.addInterface({
    name: `${name}Parameters`,
    isExported: true,
    docs: ['Parameters and optimizer state, by name.'],
    properties: plan.params.map((p) => {
      const state = plan.buffers.find((b) => b.id === p.buffer)?.role === 'state';
      const what = p.trainable ? '' : state ? ' (optimizer state)' : ' (frozen)';
      return { name: prop(p.name), type: typeOf(plan, p.buffer), docs: [`${doc(plan, p.buffer)}${what}`] };
    }),
  });
  sf.addInterface({
    name,
    isExported: true,
    docs: [`Plan \`${plan.name}\` (target ${plan.target}).`],
    methods: [
      ...(train
        ? [
            {
              name: 'trainStep',
              parameters: [{ name: 'inputs', type: `${name}TrainInputs` }],
              returnType: `Promise<${name}TrainOutputs>`,
              docs: ['One training step: forward, backward and the optimizer update.'],
            },
          ]
        : []),
      {
        name: 'forward',
        parameters: [{ name: 'inputs', type: `${name}ForwardInputs` }],
        returnType: `Promise<${name}ForwardOutputs>`,
        docs: [
          `${train ? 'One forward pass on the current parameters, dropout off.' : 'One forward pass.'} ` +
            `Outputs whose inputs are left out are not returned.`,
        ],
      },
      {
        name: 'loadParameters',
        parameters: [{ name: 'values', type: `Partial<${name}Parameters>` }],
        returnType: 'void',
      },
      { name: 'saveParameters', returnType: `Promise<${name}Parameters>` },
      { name: 'destroy', returnType: 'void' },
    ],
    properties: [
      {
        name: 'session',
        type: 'Session',
        isReadonly: true,
        docs: [train ? 'The training plan’s session.' : 'The plan’s session.'],
      },
    ],
  });
  const dir = emit === 'ts' ? "fileURLToPath(new URL('.', import.meta.url))" : '__dirname';
  // one body for both kinds: a train build adds trainStep and runs forward in forward.json's own session
  const body = `const dir = ${dir};
const build = loadBuild(dir);
type Build = ReturnType<typeof loadBuild>;
type Tensor = Float32Array | Int32Array;
const scalars = (b: Build) =>
  new Set(b.plan.outputs.filter((o) => !b.plan.buffers[o.buffer]!.shape.length).map((o) => o.name));
// the outputs whose inputs were all given (an input left out gets the runtime's placeholder batch)
const fedByCaller = (b: Build, n: string) => b.plan.inputs.some((i) => i.name === n && i.feed.kind === 'synthetic');
const wanted = (b: Build, inputs: object) =>
  b.plan.outputs
    .filter((o) => o.inputs.every((n) => (inputs as Record<string, unknown>)[n] !== undefined || !fedByCaller(b, n)))
    .map((o) => o.name);
const unpack = (out: Map<string, Tensor>, scalar: Set<string>) =>
  Object.fromEntries([...out].map(([k, v]) => [k, scalar.has(k) ? v[0] : v]));
const given = (inputs: object) =>
  new Map(Object.entries(inputs).filter(([, v]) => v !== undefined) as [string, Tensor][]);
// one device for every session of the build
const device = build.plan.target === 'wgsl' ? { gpu: gpu ?? (await openGpu()) } : {};
const open = (b: Build) => openSession(b, device);
const session = await open(build);
const buildScalars = scalars(build);
${
  train
    ? `const forwardBuild = loadBuild(dir, 'forward.json');
const forwardScalars = scalars(forwardBuild);
let forwardSession: Session | undefined;
let stale = true;`
    : ''
}
return {
  session,
${
  train
    ? `  async trainStep(inputs) {
    stale = true;
    const out = await session.run(undefined, given(inputs));
    return unpack(out, buildScalars) as unknown as ${name}TrainOutputs;
  },
  async forward(inputs) {
    forwardSession ??= await open(forwardBuild);
    if (stale) forwardSession.loadParameters(await session.parameters());
    stale = false;
    const out = await forwardSession.run(wanted(forwardBuild, inputs), given(inputs));
    return unpack(out, forwardScalars) as unknown as ${name}ForwardOutputs;
  },`
    : `  async forward(inputs) {
    const out = await session.run(wanted(build, inputs), given(inputs));
    return unpack(out, buildScalars) as unknown as ${name}ForwardOutputs;
  },`
}
  loadParameters(values) {
    session.loadParameters(given(values));${train ? '\n    stale = true;' : ''}
  },
  async saveParameters() {
    return Object.fromEntries(await session.parameters()) as unknown as ${name}Parameters;
  },
  destroy() {
    session.destroy();${train ? '\n    forwardSession?.destroy();' : ''}
  },
};`;
  const files = [train ? 'plan.json, forward.json' : 'plan.json', 'kernels/'].join(' and ');
  sf.addFunction({
    name: `create${name}`,
    isExported: true,
    isAsync: true,
    docs: [
      `Loads this build (${files} beside this file), opens a session on its target and initialises its ` +
        `parameters.\n\n${DEVICE_DOC}\n\n@example\n` +
        (plan.target === 'wgsl'
          ? `import { openGpu } from '${RUNTIME_MODULE}';\nconst model = await create${name}(await openGpu());`
          : `const model = await create${name}();`),
    ],
    parameters: [{ name: 'gpu', type: 'Gpu', hasQuestionToken: true }],
    returnType: `Promise<${name}>`,
    statements: body,
  });
  sf.formatText({ indentSize: 2, convertTabsToSpaces: true });
  const header = `// Generated by flexc from ${opts.source}, plan \`${plan.name}\`. Do not edit: rebuild.\n`;
  if (emit === 'ts') return { name, files: [['driver.ts', header + sf.getFullText()]] };
  const out = project.emitToMemory({ targetSourceFile: sf }).getFiles();
  const text = (ext: string) => header + out.find((f) => f.filePath.endsWith(ext))!.text;
  // driver.js is CommonJS wherever the app's package.json says otherwise: the folder's package.json says so
  return {
    name,
    files: [
      ['driver.js', text('/driver.js')],
      ['driver.d.ts', text('/driver.d.ts')],
      ['package.json', '{ "type": "commonjs" }\n'],
    ],
  };
}
