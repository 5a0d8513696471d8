import { Project, type SourceFile } from 'ts-morph';
import type { Plan } from '../../runtime/plan.ts';

const pascal = (s: string) =>
  s
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('');
const prop = (name: string) => (/^[A-Za-z_$][\w$]*$/.test(name) ? name : `'${name}'`);

const typeOf = (plan: Plan, id: number) => (plan.buffers[id]!.dtype === 'i32' ? 'Int32Array' : 'Float32Array');
const doc = (plan: Plan, id: number) => {
  const b = plan.buffers[id]!;
  return `${b.dtype}[${b.shape.join(', ')}]`;
};

/** `<prefix>Inputs` and `<prefix>Outputs` of one plan. */
function addIo(sf: SourceFile, plan: Plan, prefix: string, what: string): void {
  sf.addInterface({
    name: `${prefix}Inputs`,
    isExported: true,
    docs: [`Inputs of ${what} that the caller provides (graph data, text batches and the step counter are fed by the runtime).`],
    properties: plan.inputs.filter((i) => i.feed.kind === 'synthetic').map((i) => ({ name: prop(i.name), type: typeOf(plan, i.buffer), docs: [doc(plan, i.buffer)] })),
  });
  sf.addInterface({
    name: `${prefix}Outputs`,
    isExported: true,
    docs: [`Outputs of ${what}; scalars are numbers.`],
    properties: plan.outputs.map((o) => ({ name: prop(o.name), type: plan.buffers[o.buffer]!.shape.length ? typeOf(plan, o.buffer) : 'number', docs: [doc(plan, o.buffer)] })),
  });
}

/**
 * Generates driver.ts for a build: typed inputs, outputs and parameters (shapes and dtypes in their
 * docs), and `create<Name>(gpu)` returning `trainStep` (train plans), `forward`, `loadParameters`
 * and `saveParameters`. A train build carries its evaluation plan (no backward pass, dropout off)
 * in `forward.json`; `forward` runs it on the current parameters, in its own arena made on first use.
 */
export function generateDriver(plan: Plan, opts: { api: string; source: string; forward?: Plan }): { name: string; text: string } {
  const name = pascal(opts.source.replace(/^.*\//, '').replace(/\.flex$/, '')) + pascal(plan.name);
  const train = opts.forward !== undefined;
  const fwd = opts.forward ?? plan;
  const project = new Project({ useInMemoryFileSystem: true });
  const sf = project.createSourceFile('driver.ts', '');
  sf.addImportDeclaration({ moduleSpecifier: 'node:url', namedImports: ['fileURLToPath'] });
  sf.addImportDeclaration({ moduleSpecifier: opts.api, namedImports: ['loadBuild', 'WebGpuSession'] });
  sf.addImportDeclaration({ moduleSpecifier: opts.api, namedImports: ['Gpu'], isTypeOnly: true });
  if (train) addIo(sf, plan, `${name}Train`, `a training step of plan \`${plan.name}\``);
  addIo(sf, fwd, `${name}Forward`, `a forward pass of plan \`${plan.name}\`${train ? ' (evaluation: dropout off)' : ''}`);
  sf.addInterface({
    name: `${name}Parameters`,
    isExported: true,
    docs: ['Parameters and optimizer state, by name.'],
    properties: plan.params.map((p) => ({ name: prop(p.name), type: typeOf(plan, p.buffer), docs: [`${doc(plan, p.buffer)}${p.trainable ? '' : plan.buffers.find((b) => b.id === p.buffer)?.role === 'state' ? ' (optimizer state)' : ' (frozen)'}`] })),
  });
  sf.addInterface({
    name,
    isExported: true,
    docs: [`Plan \`${plan.name}\` on a WebGPU device.`],
    methods: [
      ...(train ? [{ name: 'trainStep', parameters: [{ name: 'inputs', type: `${name}TrainInputs` }], returnType: `Promise<${name}TrainOutputs>`, docs: ['One training step: forward, backward and the optimizer update.'] }] : []),
      { name: 'forward', parameters: [{ name: 'inputs', type: `${name}ForwardInputs` }], returnType: `Promise<${name}ForwardOutputs>`, docs: [train ? 'One forward pass on the current parameters, dropout off.' : 'One forward pass.'] },
      { name: 'loadParameters', parameters: [{ name: 'values', type: `Partial<${name}Parameters>` }], returnType: 'void' },
      { name: 'saveParameters', returnType: `Promise<${name}Parameters>` },
      { name: 'destroy', returnType: 'void' },
    ],
    properties: [{ name: 'session', type: 'WebGpuSession', isReadonly: true, docs: [train ? 'The training plan’s session.' : 'The plan’s session.'] }],
  });
  // one body for both kinds: a train build adds trainStep and runs forward in forward.json's own session
  const body = `const dir = fileURLToPath(new URL('.', import.meta.url));
const build = loadBuild(dir);
const scalars = (b: ReturnType<typeof loadBuild>) => new Set(b.plan.outputs.filter((o) => !b.plan.buffers[o.buffer]!.shape.length).map((o) => o.name));
const unpack = (out: Map<string, Float32Array | Int32Array>, scalar: Set<string>) => Object.fromEntries([...out].map(([k, v]) => [k, scalar.has(k) ? v[0] : v]));
const session = await WebGpuSession.create(gpu, build.plan, build.sources, { graphs: build.graphs, text: build.text });
const buildScalars = scalars(build);
${train ? `const forwardBuild = loadBuild(dir, 'forward.json');
const forwardScalars = scalars(forwardBuild);
let forwardSession: WebGpuSession | undefined;
let stale = true;` : ''}
return {
  session,
${train ? `  async trainStep(inputs) {
    stale = true;
    return unpack(await session.run(undefined, new Map(Object.entries(inputs))), buildScalars) as unknown as ${name}TrainOutputs;
  },
  async forward(inputs) {
    forwardSession ??= await WebGpuSession.create(gpu, forwardBuild.plan, forwardBuild.sources, { graphs: forwardBuild.graphs, text: forwardBuild.text });
    if (stale) forwardSession.loadParameters(await session.parameters());
    stale = false;
    return unpack(await forwardSession.run(undefined, new Map(Object.entries(inputs))), forwardScalars) as unknown as ${name}ForwardOutputs;
  },` : `  async forward(inputs) {
    return unpack(await session.run(undefined, new Map(Object.entries(inputs))), buildScalars) as unknown as ${name}ForwardOutputs;
  },`}
  loadParameters(values) {
    const given: [string, Float32Array | Int32Array][] = [];
    for (const [k, v] of Object.entries(values)) if (v !== undefined) given.push([k, v as Float32Array | Int32Array]);
    session.loadParameters(new Map(given));${train ? '\n    stale = true;' : ''}
  },
  async saveParameters() {
    return Object.fromEntries(await session.parameters()) as unknown as ${name}Parameters;
  },
  destroy() {
    session.destroy();${train ? '\n    forwardSession?.destroy();' : ''}
  },
};`;
  sf.addFunction({
    name: `create${name}`,
    isExported: true,
    isAsync: true,
    docs: [`Loads this build (${train ? 'plan.json, forward.json' : 'plan.json'} and kernels/ beside this file), compiles its kernels and initialises its parameters.`],
    parameters: [{ name: 'gpu', type: 'Gpu' }],
    returnType: `Promise<${name}>`,
    statements: body,
  });
  sf.formatText({ indentSize: 2, convertTabsToSpaces: true });
  return { name, text: `// Generated by flexc from ${opts.source}, plan \`${plan.name}\`. Do not edit: rebuild.\n${sf.getFullText()}` };
}
